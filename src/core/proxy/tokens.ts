import { AgentBudgetError } from '../errors';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ClientCaps } from '../budget/engine';
import { OWN_CLIENT } from '../store/records';

/**
 * The proxy's client tokens, in `proxy-tokens.json` of the workspace's machine-state folder (the store's folder:
 * never the repository's files). Only a SHA-256 of each token is kept — a token is 256 random bits, so a plain hash
 * is as strong as a slow one — and a presented token is compared against every stored hash in constant time.
 * Written atomically (a temporary file, fsync, rename) with owner-only permissions; a file that is a symlink or is
 * readable by others was not written here (a cloned or planted file) and is refused, never trusted.
 */

export const TOKENS_FILE = 'proxy-tokens.json';
/** Every token starts with this, so a key variable holding one is recognisable (and never sent upstream). */
export const TOKEN_PREFIX = 'abp_';
const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export interface ProxyClient {
  name: string;
  /** ISO-8601. */
  createdAt: string;
  dailyUsd: number | null;
  monthlyUsd: number | null;
}

interface StoredToken extends ProxyClient {
  sha256: string;
}

interface TokenFile {
  version: 1;
  tokens: StoredToken[];
}

/** The tokens file cannot be used; the message says which file and what to do. */
export class TokenFileError extends AgentBudgetError {
  override readonly name = 'TokenFileError';
  constructor(message: string, options?: ErrorOptions) {
    super('config', message, options);
  }
}

/** A name or cap that cannot be a client's. */
export class ClientNameError extends AgentBudgetError {
  override readonly name = 'ClientNameError';
  constructor(message: string, options?: ErrorOptions) {
    super('input', message, options);
  }
}

export function clientCaps(client: ProxyClient): ClientCaps {
  return {
    ...(client.dailyUsd === null ? {} : { dailyUsd: client.dailyUsd }),
    ...(client.monthlyUsd === null ? {} : { monthlyUsd: client.monthlyUsd }),
  };
}

export class ProxyTokens {
  private cache: { stamp: string; tokens: StoredToken[] } | undefined;

  constructor(readonly file: string) {}

  /** The tokens of the machine-state folder `stateDir` (a workspace's `store.dir`). */
  static in(stateDir: string): ProxyTokens {
    return new ProxyTokens(path.join(stateDir, TOKENS_FILE));
  }

  list(): ProxyClient[] {
    return this.read().map(({ sha256: _hash, ...client }) => client);
  }

  /**
   * A new client and its token (shown once: only its hash is kept). `replace` takes the name over from an existing
   * token (revoking it); without it an existing name is an error.
   */
  create(
    name: string,
    caps: { dailyUsd?: number; monthlyUsd?: number } = {},
    options: { replace?: boolean; now?: number } = {},
  ): { client: ProxyClient; token: string } {
    checkName(name);
    for (const key of ['dailyUsd', 'monthlyUsd'] as const) {
      const v = caps[key];
      if (v !== undefined && (!Number.isFinite(v) || v <= 0))
        throw new ClientNameError(
          `--${key === 'dailyUsd' ? 'daily' : 'monthly'}-usd must be a positive amount in USD.`,
        );
    }
    const tokens = this.read();
    if (!options.replace && tokens.some((t) => t.name === name))
      throw new ClientNameError(
        `a client named "${name}" already has a token. Revoke it first (agent-budget proxy token revoke ${name}) or pick another name.`,
      );
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const client: ProxyClient = {
      name,
      createdAt: new Date(options.now ?? Date.now()).toISOString(),
      dailyUsd: caps.dailyUsd ?? null,
      monthlyUsd: caps.monthlyUsd ?? null,
    };
    this.write([...tokens.filter((t) => t.name !== name), { ...client, sha256: hash(token) }]);
    return { client, token };
  }

  /** Revokes `name`'s token; false when there was none. */
  revoke(name: string): boolean {
    const tokens = this.read();
    const kept = tokens.filter((t) => t.name !== name);
    if (kept.length === tokens.length) return false;
    this.write(kept);
    return true;
  }

  /**
   * The client a presented token belongs to, or undefined (unknown, revoked, or not a token). Every stored hash is
   * compared, without stopping at a match, so the time taken says nothing about which hashes are close. The file is
   * re-read when it changed on disk (a token created or revoked from another terminal applies to the next request).
   */
  verify(token: string): ProxyClient | undefined {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return undefined;
    const presented = Buffer.from(hash(token), 'hex');
    let found: StoredToken | undefined;
    for (const t of this.read()) {
      const stored = Buffer.from(t.sha256, 'hex');
      if (stored.length === presented.length && timingSafeEqual(stored, presented)) found = t;
    }
    if (!found) return undefined;
    const { sha256: _hash, ...client } = found;
    return client;
  }

  private read(): StoredToken[] {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new TokenFileError(`Cannot read ${this.file}: ${(err as Error).message}`);
    }
    const stamp = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    if (this.cache?.stamp === stamp) return this.cache.tokens;
    if (stat.isSymbolicLink() || !stat.isFile())
      throw new TokenFileError(
        `${this.file} is not a regular file (a symlink?): refusing to trust it. Remove it and create tokens again.`,
      );
    if (process.platform !== 'win32') {
      const foreign = typeof process.getuid === 'function' && stat.uid !== process.getuid();
      if (foreign || (stat.mode & 0o077) !== 0)
        throw new TokenFileError(
          `${this.file} was not written by agent-budget (it is ${foreign ? "another user's" : 'readable by others'}): ` +
            'refusing to trust its tokens. Remove it and create tokens again.',
        );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(this.file, 'utf8'));
    } catch (err) {
      throw new TokenFileError(
        `${this.file} is damaged (${(err as Error).message}). Move it aside and create the proxy's tokens again.`,
      );
    }
    const tokens = validFile(parsed, this.file);
    this.cache = { stamp, tokens };
    return tokens;
  }

  private write(tokens: StoredToken[]): void {
    const body: TokenFile = { version: 1, tokens };
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const temp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const fd = fs.openSync(temp, 'wx', 0o600);
    try {
      fs.writeFileSync(fd, `${JSON.stringify(body, null, 2)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.renameSync(temp, this.file);
    } catch (err) {
      fs.rmSync(temp, { force: true });
      throw err;
    }
    this.cache = undefined;
  }
}

function checkName(name: string): void {
  if (name === OWN_CLIENT)
    throw new ClientNameError(`"${OWN_CLIENT}" names our own workflows' calls: pick another client name.`);
  if (!NAME.test(name))
    throw new ClientNameError(
      `"${name}" is not a client name: use lowercase letters, digits, "-" or "_", starting with a letter or digit (at most 63).`,
    );
}

function validFile(parsed: unknown, file: string): StoredToken[] {
  const bad = () =>
    new TokenFileError(`${file} is not a tokens file this version understands. Move it aside and create tokens again.`);
  if (typeof parsed !== 'object' || parsed === null || (parsed as TokenFile).version !== 1) throw bad();
  const tokens = (parsed as TokenFile).tokens;
  if (!Array.isArray(tokens)) throw bad();
  for (const t of tokens) {
    const ok =
      typeof t === 'object' &&
      t !== null &&
      typeof t.name === 'string' &&
      NAME.test(t.name) &&
      typeof t.sha256 === 'string' &&
      /^[0-9a-f]{64}$/.test(t.sha256) &&
      typeof t.createdAt === 'string' &&
      (t.dailyUsd === null || (typeof t.dailyUsd === 'number' && t.dailyUsd > 0)) &&
      (t.monthlyUsd === null || (typeof t.monthlyUsd === 'number' && t.monthlyUsd > 0));
    if (!ok) throw bad();
  }
  return tokens;
}

function hash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
