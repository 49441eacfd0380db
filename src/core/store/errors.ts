import { AgentBudgetError } from '../errors';

/**
 * The store could not open, and nothing is damaged: every file stays where it was, nothing opened, no admission is
 * possible. (A damaged file is never this: it is moved aside and recovered around; see snapshotFiles.ts.)
 */
export class StoreOpenError extends AgentBudgetError {
  override readonly name = 'StoreOpenError';
  constructor(
    readonly dir: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('store', message, options);
  }
}

/**
 * The store is refusing writes: a write or sync failed (disk full, I/O error…), so it fails closed — no spend is
 * admitted, nothing is reloaded in a loop — until a probe write succeeds, which it tries on the next write and
 * on its poll.
 */
export class StoreUnavailableError extends AgentBudgetError {
  override readonly name = 'StoreUnavailableError';
  constructor(
    readonly dir: string,
    /** The errno code (`ENOSPC`, `EIO`…), or `UNKNOWN`. */
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(
      'store',
      `Agent Budget cannot write its store in ${dir}: ${describeErrno(code)} (${code}). No call is admitted until ` +
        'it can write again; it retries on its own. Everything acknowledged before is safe.',
      options,
    );
  }
}

const ERRNO_WORDS: Record<string, string> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EIO: 'the disk reported an I/O error',
  EROFS: 'the file system is read-only',
  EACCES: 'permission was denied',
  EPERM: 'the operation was not permitted',
  EBUSY: 'a file is busy',
  EMFILE: 'too many files are open',
  ENFILE: 'too many files are open',
  ELOOP: 'a symbolic link was refused',
  ENOENT: 'a file or folder disappeared',
  ERELOAD: 'its state could not be rebuilt from disk after a failed write',
};

export function describeErrno(code: string): string {
  return ERRNO_WORDS[code] ?? 'a file operation failed';
}

/** The errno code of a file-system error, or undefined for anything else (a bug, a refused decision). */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}
