import { AgentBudgetError } from './errors';
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

/**
 * Where a workspace's machine state (ledger, runs, checkpoints, locks) lives: in a per-user folder, never in the
 * repository, so a cloned repository cannot plant a journal, a checkpoint or a symbolic link in it. The extension
 * and the CLI compute the same folder from the same inputs, so their spend meets in one store.
 *
 * - root: `AGENT_BUDGET_STATE_HOME` if set; else Windows `%LOCALAPPDATA%\agent-budget\state`, macOS
 *   `~/Library/Application Support/agent-budget/state`, elsewhere `$XDG_STATE_HOME/agent-budget` (default
 *   `~/.local/state/agent-budget`);
 * - the workspace's folder: `<root>/workspaces/<name>-<16 hex>`, the hex from sha256 of the workspace's normalised
 *   real path, `<name>` its basename made safe (only for people browsing the folder: `workspace.json` in it says
 *   which workspace it is).
 *
 * Everything the platform decides is injected (StateSystem) so the Windows and macOS rules are tested on Linux.
 */

export type Env = Record<string, string | undefined>;

/** The repository's folder: `budget.json` and `workflows/` only (older versions kept machine state there too). */
export const POLICY_DIR = '.agent-budget';

export interface StateSystem {
  platform: NodeJS.Platform;
  env: Env;
  homedir(): string;
  /** The real path of an existing folder (`fs.realpathSync.native`: symbolic links, junctions and 8.3 names resolved). */
  realpath(p: string): string;
}

/** The running process's platform, with `env` (the CLI passes its context's environment). */
export function nodeStateSystem(env: Env = process.env): StateSystem {
  return { platform: process.platform, env, homedir, realpath: (p) => realpathSync.native(p) };
}

/** A state location the user's environment names but that cannot be used (a relative path). */
export class StateLocationError extends AgentBudgetError {
  override readonly name = 'StateLocationError';
  constructor(message: string) {
    super('config', message);
  }
}

function pathFor(platform: NodeJS.Platform): path.PlatformPath {
  return platform === 'win32' ? path.win32 : path.posix;
}

function setting(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/** The per-user folder that holds every workspace's machine state and this install's id. */
export function stateRoot(sys: StateSystem): string {
  const p = pathFor(sys.platform);
  const explicit = setting(sys.env, 'AGENT_BUDGET_STATE_HOME');
  if (explicit) {
    if (!p.isAbsolute(explicit))
      throw new StateLocationError(
        `AGENT_BUDGET_STATE_HOME must be an absolute path (got "${explicit}"); set it to a folder such as ${p.join(sys.homedir(), '.agent-budget-state')}.`,
      );
    return p.normalize(explicit);
  }
  if (sys.platform === 'win32') {
    const local = setting(sys.env, 'LOCALAPPDATA');
    return p.join(
      local && p.isAbsolute(local) ? local : p.join(sys.homedir(), 'AppData', 'Local'),
      'agent-budget',
      'state',
    );
  }
  if (sys.platform === 'darwin')
    return p.join(sys.homedir(), 'Library', 'Application Support', 'agent-budget', 'state');
  // The XDG spec says a relative XDG_STATE_HOME is invalid and must be ignored.
  const xdg = setting(sys.env, 'XDG_STATE_HOME');
  return p.join(xdg && p.isAbsolute(xdg) ? xdg : p.join(sys.homedir(), '.local', 'state'), 'agent-budget');
}

export interface WorkspaceStateKey {
  /** The workspace's real path, as the file system spells it. */
  realPath: string;
  /** What the hash is taken of: the real path, case-folded where the file system ignores case. */
  normalised: string;
  /** `<name>-<16 hex>`, the folder's name under `<root>/workspaces/`. */
  id: string;
}

/**
 * The key of a workspace folder. Two spellings of one folder (a symbolic link, `C:` vs `c:`, `/` vs `\`, another
 * case on a case-insensitive file system, a `\\?\` prefix) get the same key; two folders never share one.
 * Windows and macOS file systems ignore case by default, so the path is case-folded there (on a case-sensitive
 * volume two folders differing only in case then share one store: their budgets add up, which only tightens).
 */
export function workspaceStateKey(folder: string, sys: StateSystem): WorkspaceStateKey {
  const p = pathFor(sys.platform);
  const absolute = p.resolve(folder);
  let realPath: string;
  try {
    realPath = sys.realpath(absolute);
  } catch {
    realPath = absolute; // a folder that does not exist (yet): nothing to resolve
  }
  let normalised: string;
  if (sys.platform === 'win32') {
    normalised = normaliseWindowsPath(realPath).toLowerCase();
  } else {
    normalised = p.normalize(realPath);
    if (normalised.length > 1) normalised = normalised.replace(/\/+$/, '');
    // APFS and HFS+ ignore case and Unicode normalisation (HFS+ stores NFD): fold both.
    if (sys.platform === 'darwin') normalised = normalised.normalize('NFC').toLowerCase();
  }
  const hash = createHash('sha256').update(normalised, 'utf8').digest('hex').slice(0, 16);
  return { realPath, normalised, id: `${safeName(p.basename(realPath))}-${hash}` };
}

/** `<root>/workspaces/<name>-<hash>`: this workspace's machine state folder. */
export function workspaceStateDir(folder: string, sys: StateSystem): string {
  return pathFor(sys.platform).join(stateRoot(sys), 'workspaces', workspaceStateKey(folder, sys).id);
}

/**
 * `C:/Work/x/` → `C:\Work\x`; `\\?\C:\x` → `C:\x`; `\\?\UNC\server\share\x` → `\\server\share\x`; `c:` → `C:`.
 * Trailing dots and spaces are dropped from each name, as Windows itself does when it opens a path.
 */
export function normaliseWindowsPath(input: string): string {
  let p = input.replace(/\//g, '\\');
  if (/^\\\\[?.]\\UNC\\/i.test(p)) p = `\\\\${p.slice(8)}`;
  else if (/^\\\\[?.]\\[a-z]:/i.test(p)) p = p.slice(4);
  p = path.win32.normalize(p);
  const root = path.win32.parse(p).root;
  const rest = p
    .slice(root.length)
    .split('\\')
    .map((name) => (name === '.' || name === '..' ? name : name.replace(/[. ]+$/, '')))
    .filter((name) => name !== '')
    .join('\\');
  const drive = /^[a-z]:/i.test(root) ? root[0]!.toUpperCase() + root.slice(1) : root;
  return rest ? `${drive}${drive.endsWith('\\') ? '' : '\\'}${rest}` : drive;
}

/** Letters, digits, `_` and `-` only (no dots: `con.x` would be a device name on Windows), at most 40 characters. */
function safeName(base: string): string {
  const name = base
    .replace(/[^A-Za-z0-9_-]+/g, '_')
    .replace(/^[_-]+|[_-]+$/g, '')
    .slice(0, 40);
  return name || 'workspace';
}
