import path from 'node:path';
import { Emitter } from '../events';
import { errnoOf, StoreUnavailableError } from './errors';
import type { StoreFs } from './storeFs';

/** Whether the store can write; while it cannot, every write is refused with `error` (fail closed). */
export type StoreHealth = { ok: true } | { ok: false; error: StoreUnavailableError };

/** A few KiB, written and synced: enough to tell that the disk takes writes again, small enough to fit first. */
const PROBE_BYTES = Buffer.alloc(4096, 0x2e);

/**
 * The store's fail-closed switch. A write, sync or lock that fails with a file-system error trips it: callers get
 * one clear StoreUnavailableError naming the folder and the errno, the budget engine admits nothing (its
 * reservations are writes), and nothing reloads in a loop. It closes again by itself when a probe — a small file
 * written, synced and removed — succeeds: on the next write, and on each poll.
 */
export class HealthGate {
  private failure: StoreUnavailableError | undefined;
  private readonly changed = new Emitter<StoreHealth>();
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly dir: string,
    private readonly fs: StoreFs,
    private readonly log: (line: string) => void,
  ) {}

  get health(): StoreHealth {
    return this.failure ? { ok: false, error: this.failure } : { ok: true };
  }

  /**
   * Trips the switch for a file-system error (or any error, given `otherwise` as its code) and returns what to
   * reject the caller with; any other error (a lock timeout, a bug) is returned as it is and leaves the store
   * healthy.
   */
  fail(err: unknown, otherwise?: string): unknown {
    const code = errnoOf(err) ?? otherwise;
    if (!code) return err;
    const first = !this.failure;
    this.failure = new StoreUnavailableError(this.dir, code, { cause: err });
    if (first) {
      this.log(`${this.failure.message} (${(err as Error).message})`);
      this.changed.fire(this.health);
    }
    return this.failure;
  }

  /** Resolves true when the store may write: healthy, or a probe write succeeded just now. */
  async ready(): Promise<boolean> {
    if (!this.failure) return true;
    const probe = path.join(this.dir, 'probe.tmp');
    try {
      await this.fs.writeFileDurable(probe, PROBE_BYTES);
      this.fs.unlink(probe);
    } catch (err) {
      try {
        this.fs.unlink(probe);
      } catch {
        // the same fault; the next probe removes it
      }
      if (errnoOf(err)) return false;
      throw err;
    }
    this.log(`Agent Budget can write its store in ${this.dir} again.`);
    this.failure = undefined;
    this.changed.fire(this.health);
    return true;
  }

  dispose(): void {
    this.changed.dispose();
  }
}
