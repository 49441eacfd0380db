import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const FILE = 'install-id';
const VALID = /^[0-9a-f]{32}$/;

/**
 * This install's id: 128 random bits kept in `<state root>/install-id`, made on first use. The extension and the
 * CLI of one user share the root, hence the id. Runs record it; a run whose record names another id (or none) was
 * written by another machine, another user or another install, so resuming it asks first (resumeGuard.ts).
 */
export function readInstallId(root: string): string {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const file = path.join(root, FILE);
  const existing = readValid(file);
  if (existing) return existing;
  // Written whole under a temporary name, then linked into place: link fails if the name exists, so two processes
  // starting at once agree on the first one's id, and nobody ever reads a half-written file.
  const id = randomBytes(16).toString('hex');
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temp, `${id}\n`, { mode: 0o600 });
  try {
    try {
      linkSync(temp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw err;
      // A file system without hard links (FAT, some network shares): an exclusive create, nearly as good.
      writeFileSync(file, `${id}\n`, { flag: 'wx', mode: 0o600 });
    }
    return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const raced = readValid(file);
    if (raced) return raced;
    // A damaged file: a new id only makes this install's own earlier runs ask once before they resume.
    renameSync(temp, file);
    return id;
  } finally {
    try {
      unlinkSync(temp);
    } catch {}
  }
}

function readValid(file: string): string | undefined {
  try {
    const text = readFileSync(file, 'utf8').trim();
    return VALID.test(text) ? text : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
