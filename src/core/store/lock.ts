import type { OwnerProbe } from '../processIdentity';
import type { StoreFs } from './storeFs';

/** Locks are held for a journal append or a compaction seal (well under a second); older than this is stale. */
const STALE_AFTER_MS = 30_000;

interface LockBody {
  owner: string;
  token: string;
  ts: number;
}

/**
 * A cross-process lock file created with O_EXCL. A lock whose owner process is gone (or that is older than any
 * holder could take) is broken by renaming it aside — a rename only one contender can win — and checking that what
 * was moved is the stale lock that was judged, not a fresh one taken in between.
 */
export class FileLock {
  private token: string | undefined;
  private acquiredAt = 0;

  constructor(
    private readonly fs: StoreFs,
    readonly path: string,
    private readonly owner: string,
    private readonly probe: OwnerProbe,
    private readonly now: () => number = Date.now,
  ) {}

  get held(): boolean {
    return this.token !== undefined;
  }

  /** Waits for the lock (polling with backoff); throws after `timeoutMs`. */
  async acquire(timeoutMs = 15_000): Promise<void> {
    const deadline = this.now() + timeoutMs;
    let pause = 0.2;
    for (;;) {
      if (this.tryAcquire()) return;
      if (this.now() > deadline) {
        const body = this.readBody();
        throw new Error(
          `Timed out waiting for ${this.path}${body ? ` (held by ${body.owner} since ${new Date(body.ts).toISOString()})` : ''}.`,
        );
      }
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 8);
    }
  }

  tryAcquire(): boolean {
    if (this.token) throw new Error(`${this.path} is already held by this process`);
    const token = Math.random().toString(36).slice(2) + this.now().toString(36);
    const body: LockBody = { owner: this.owner, token, ts: this.now() };
    try {
      this.fs.createExclusive(this.path, JSON.stringify(body));
      this.token = token;
      this.acquiredAt = this.now();
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    this.breakIfStale();
    return false;
  }

  release(): void {
    const token = this.token;
    if (!token) return;
    this.token = undefined;
    // Only remove our own lock. Nobody breaks a lock younger than STALE_AFTER_MS held by a live process, so the
    // check (a read) is needed only after a long hold.
    if (this.now() - this.acquiredAt < STALE_AFTER_MS / 2 || this.readBody()?.token === token)
      this.fs.unlink(this.path);
  }

  private readBody(): LockBody | undefined {
    try {
      const text = this.fs.readRange(this.path, 0, 4096).toString('utf8');
      const body = JSON.parse(text) as LockBody;
      return typeof body.owner === 'string' && typeof body.token === 'string' ? body : undefined;
    } catch {
      return undefined;
    }
  }

  private breakIfStale(): void {
    const body = this.readBody();
    const mtime = this.fs.mtimeMs(this.path);
    if (mtime === undefined) return; // released meanwhile
    const age = this.now() - (body?.ts ?? mtime);
    // A lock file with no readable body: its creator died between create and write, or is writing now.
    const stale = body ? !this.probe.isAlive(body.owner) || age > STALE_AFTER_MS : this.now() - mtime > 2_000;
    if (!stale) return;
    const aside = `${this.path}.stale-${Math.random().toString(36).slice(2)}`;
    try {
      this.fs.rename(this.path, aside);
    } catch {
      return; // someone else broke it first
    }
    let moved: LockBody | undefined;
    try {
      moved = JSON.parse(this.fs.readRange(aside, 0, 4096).toString('utf8')) as LockBody;
    } catch {
      moved = undefined;
    }
    if (body && moved && moved.token !== body.token) {
      // We moved a fresh lock taken after our judgement: put it back unless yet another one exists.
      try {
        this.fs.link(aside, this.path);
      } catch {
        // a third process took the lock meanwhile; the moved one's holder will find its lock gone on release
      }
    }
    this.fs.unlink(aside);
  }
}
