import type { PidVerdict } from '../processIdentity';
import type { MonotonicClock } from './liveness';
import type { StoreFs } from './storeFs';

/** A lock whose owner nobody can judge (an old owner string from another host) yields after this long a hold. */
const UNJUDGED_HOLD_MS = 30_000;
/** A lock file without a readable body: its creator died between create and write (the two are one call). */
const BODILESS_MS = 2_000;

/** How long a writer that let go for a waiter leaves the lock to it before taking its turn again. */
const HANDOFF_MS = 25;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface LockBody {
  owner: string;
  token: string;
  /** Wall-clock time of taking it, for the message of a waiter that gives up; never used to judge staleness. */
  ts: number;
}

/** Who may hold a lock: whose owner is judged (see liveness.ts), and whose heartbeat exists before it names us. */
export interface LockOwners {
  judge(owner: string): PidVerdict;
  ensure(): void;
}

/**
 * A cross-process lock file created with O_EXCL. A lock whose owner is dead is broken by renaming it aside — a
 * rename only one contender can win — and checking that what was moved is the lock that was judged, not a fresh
 * one taken in between. A lock whose owner is alive is never broken, however long it is held.
 *
 * Waiters leave `<lock>.want` behind so a holder that keeps the lock between back-to-back writes (see
 * writeQueue.ts) knows to let go: the common case, one writer, then creates and deletes no file per write.
 */
export class FileLock {
  private token: string | undefined;
  private acquiredAt = 0;
  private readonly want: string;
  /** When this process last let go because a waiter asked. */
  private yieldedAt: number | undefined;
  /** What this process saw of another's lock, and since when (monotonic): judges bodiless and unjudged locks. */
  private watched: { seen: string; since: number } | undefined;

  constructor(
    private readonly fs: StoreFs,
    readonly path: string,
    private readonly owner: string,
    private readonly owners: LockOwners,
    private readonly mono: MonotonicClock,
    private readonly wallNow: () => number = Date.now,
  ) {
    this.want = `${path}.want`;
  }

  get held(): boolean {
    return this.token !== undefined;
  }

  /**
   * Waits for the lock (polling with backoff, leaving a `want` mark); throws after `timeoutMs`. After letting go
   * for a waiter, first gives it a moment to take the lock (it removes the mark when it has): otherwise a busy
   * writer re-takes the lock between the waiter's polls, again and again.
   */
  async acquire(timeoutMs = 15_000): Promise<void> {
    // Waiting is timed on this process's own clock; `mono` (injectable) is for judging other processes' locks.
    const deadline = performance.now() + timeoutMs;
    if (this.yieldedAt !== undefined) {
      while (this.contended() && performance.now() - this.yieldedAt < HANDOFF_MS) await sleep(0.5);
      this.yieldedAt = undefined;
    }
    let pause = 0.2;
    for (;;) {
      if (this.tryAcquire()) return;
      this.signalWaiting();
      if (performance.now() > deadline) {
        const body = this.readBody();
        throw new Error(
          `Timed out waiting for ${this.path}${body ? ` (held by ${body.owner} since ${new Date(body.ts).toISOString()})` : ''}.`,
        );
      }
      await sleep(pause);
      // Holds last a fraction of a millisecond: polling stays frequent.
      pause = Math.min(pause * 2, 2);
    }
  }

  tryAcquire(): boolean {
    if (this.token) throw new Error(`${this.path} is already held by this process`);
    this.owners.ensure();
    const token = Math.random().toString(36).slice(2) + this.mono.now().toString(36);
    const body: LockBody = { owner: this.owner, token, ts: this.wallNow() };
    try {
      this.fs.createExclusive(this.path, JSON.stringify(body));
      this.token = token;
      this.acquiredAt = performance.now();
      this.watched = undefined;
      if (this.fs.kind(this.want) !== undefined) this.fs.unlink(this.want); // waiters still waiting leave it again
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    this.breakIfStale();
    return false;
  }

  /** Another process is waiting for this lock. */
  contended(): boolean {
    return this.fs.kind(this.want) !== undefined;
  }

  /** Lets go; `forWaiter`: because another process asked (`contended`), which the next acquire waits for. */
  release(forWaiter = false): void {
    const token = this.token;
    if (!token) return;
    this.token = undefined;
    if (forWaiter) this.yieldedAt = performance.now();
    // Only remove our own lock. A live owner's lock is never broken, but a process of another clock domain may
    // wrongly take us for dead after a long silence: check what we remove after a long hold.
    if (performance.now() - this.acquiredAt < 5_000 || this.readBody()?.token === token) this.fs.unlink(this.path);
  }

  private signalWaiting(): void {
    try {
      this.fs.createExclusive(this.want, this.owner);
    } catch {
      // there already, or the disk refuses: the holder lets go at its next pause anyway
    }
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

  /** Whether the same thing (a token, or a bodiless file) has stood for longer than `ms` of this process's time. */
  private stoodFor(seen: string, ms: number): boolean {
    const now = this.mono.now();
    if (this.watched?.seen !== seen) {
      this.watched = { seen, since: now };
      return false;
    }
    return now - this.watched.since > ms;
  }

  private breakIfStale(): void {
    const body = this.readBody();
    const mtime = this.fs.mtimeMs(this.path);
    if (mtime === undefined) return; // released meanwhile
    let stale: boolean;
    if (!body) stale = this.stoodFor(`bodiless@${mtime}`, BODILESS_MS);
    else {
      const verdict = this.owners.judge(body.owner);
      stale = verdict === 'dead' || (verdict === 'unknown' && this.stoodFor(body.token, UNJUDGED_HOLD_MS));
    }
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
