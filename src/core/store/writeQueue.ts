import { encodeLine } from './journal';
import { StoreOvertaken, type JournalFiles } from './journalFiles';
import type { HealthGate } from './health';
import type { FileLock } from './lock';
import type { Maintenance } from './maintenance';
import type { DayKeys, StoreMemory } from './memory';
import type { StoreQueries } from './queries';
import type { StoreRecord } from './records';
import type { AppendHandle } from './storeFs';

/** After a failed reload, how long writes are refused before the next attempt. */
const RELOAD_RETRY_MS = 5_000;

type Settle = { resolve: () => void; reject: (err: unknown) => void };
/** A write: its records, or `build` to decide them under the lock (transact). */
type WriteOp = Settle &
  ({ kind: 'write'; records: StoreRecord[] } | { kind: 'write'; build: (queries: StoreQueries) => StoreRecord[] });
export type Op = WriteOp | (Settle & { kind: 'refresh' | 'compact' }) | (Settle & { kind: 'days'; days: DayKeys });

/** What the queue works with; the store wires it. */
export interface QueueParts {
  lock: FileLock;
  journals: JournalFiles;
  memory: StoreMemory;
  health: HealthGate;
  maintenance: Maintenance;
  owner: string;
  /** Rebuilds memory from disk (listeners hear `onDidReload`). */
  reload(): Promise<void>;
  /** The time zone of day keys changed (listeners hear `onDidReload`). */
  daysChanged(days: DayKeys): void;
  log(line: string): void;
}

/**
 * The write path: operations run one batch at a time, in order. Concurrent writes of this process share one lock
 * hold, one append and one sync (group commit). A lone writer keeps the lock between back-to-back batches while
 * nobody waits (no lock file created and deleted per write, no catch-up stats: nobody else can have appended), and
 * lets go as soon as another process asks (`want`, see lock.ts) or the event loop turns with nothing queued.
 *
 * Failures fail closed (health.ts): the batch is rejected, memory is rebuilt from disk once, and later writes are
 * refused at once until a probe write succeeds.
 */
export class WriteQueue {
  private queue: Op[] = [];
  private draining = false;
  private closed = false;
  /** Held continuously since the last catch-up: nobody else can have appended. */
  private caughtUp = false;
  /** Memory may hold records that never reached the disk (a reload failed): rebuild before the next write. */
  private stale = false;
  /** When this process last looked for a waiter (performance.now()). */
  private askedAt = 0;
  private reloadFailedAt = -Infinity;

  constructor(private readonly p: QueueParts) {}

  get idle(): boolean {
    return !this.draining && this.queue.length === 0;
  }

  enqueue(op: Op): void {
    if (this.closed) {
      op.reject(new Error('The Agent Budget store is closed.'));
      return;
    }
    this.queue.push(op);
    void this.drain();
  }

  /** Refuses what comes after; lets go of the lock. */
  close(): void {
    this.closed = true;
    this.letGo();
  }

  /** Runs `work` holding the lock, caught up with every other process (compaction). Lets go afterwards. */
  readonly underLock = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      await this.hold();
      return await work();
    } finally {
      this.letGo();
    }
  };

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0);
        const writes = batch.filter((op): op is WriteOp => op.kind === 'write');
        if (writes.length > 0) await this.writeBatch(writes);
        for (const op of batch) if (op.kind !== 'write') await this.runOther(op, writes.length > 0);
        if (writes.length > 0 && this.p.health.health.ok && this.p.maintenance.due()) {
          await this.p.maintenance
            .compact(false, this.underLock)
            .catch((err) => this.p.log(`Agent Budget: compaction failed: ${(err as Error).message}`));
        }
      }
    } finally {
      this.draining = false;
    }
    // Back-to-back writes of this process arrive before the event loop turns; then the lock goes back.
    if (this.p.lock.held) setImmediate(() => this.idle && this.letGo());
  }

  private async runOther(op: Exclude<Op, WriteOp>, afterWrites: boolean): Promise<void> {
    try {
      if (op.kind === 'refresh') {
        // A poll also probes a store that failed closed, so it heals without waiting for a write.
        if (!this.p.health.health.ok) await this.writable();
        if (!afterWrites) await this.catchUpOrReload();
      }
      if (op.kind === 'compact') await this.p.maintenance.compact(true, this.underLock);
      if (op.kind === 'days') this.p.daysChanged(op.days);
      op.resolve();
    } catch (err) {
      op.reject(err);
    }
  }

  /**
   * Healthy, or a probe succeeded just now (and memory is rebuilt if a failure left it unsure — at most every
   * RELOAD_RETRY_MS: a load that failed, for memory say, is not retried on every write).
   */
  private async writable(): Promise<boolean> {
    if (this.p.health.health.ok && !this.stale) return true;
    if (this.stale && performance.now() - this.reloadFailedAt < RELOAD_RETRY_MS) return false;
    if (!(await this.p.health.ready())) return false;
    this.p.maintenance.retryNow();
    if (this.stale) {
      try {
        await this.p.reload();
        this.stale = false;
      } catch (err) {
        this.reloadFailed(err);
        return false;
      }
    }
    return true;
  }

  private reloadFailed(err: unknown): void {
    this.stale = true;
    this.reloadFailedAt = performance.now();
    this.p.health.fail(err, 'ERELOAD');
    this.p.log(`Agent Budget: store reload failed: ${(err as Error).message}`);
  }

  /** Takes the lock unless held, and catches up unless nobody could have appended since the last time. */
  private async hold(): Promise<void> {
    if (!this.p.lock.held) {
      await this.p.lock.acquire();
      this.caughtUp = false;
    }
    if (!this.caughtUp) {
      this.p.journals.catchUp((records) => this.p.memory.apply(records, 'remote'));
      this.caughtUp = true;
    }
  }

  private letGo(forWaiter = false): void {
    this.caughtUp = false;
    try {
      this.p.lock.release(forWaiter);
    } catch (err) {
      this.p.log(`Agent Budget: could not release ${this.p.lock.path}: ${(err as Error).message}`);
    }
  }

  private async writeBatch(ops: WriteOp[]): Promise<void> {
    let writable: boolean;
    try {
      writable = await this.writable();
    } catch (err) {
      writable = false;
      this.p.health.fail(err, 'EPROBE');
    }
    const health = this.p.health.health;
    if (!writable || !health.ok) {
      for (const op of ops) op.reject(health.ok ? new Error('The Agent Budget store is not writable.') : health.error);
      return;
    }
    try {
      await this.hold();
    } catch (err) {
      this.letGo();
      if (err instanceof StoreOvertaken) {
        await this.p.reload();
        return this.writeBatch(ops);
      }
      const reason = this.p.health.fail(err);
      for (const op of ops) op.reject(reason);
      return;
    }
    const done: WriteOp[] = [];
    let file: AppendHandle | undefined;
    // The last write's records go into memory while the journal syncs, not before the append: no later build in
    // this batch needs them, the next batch starts only after this one, and so a lone writer's SQL work overlaps
    // its fsync instead of adding to it.
    let deferred: StoreRecord[] = [];
    const { memory } = this.p;
    try {
      const lines: Buffer[] = [];
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        let records: StoreRecord[];
        try {
          records = memory.stamp('records' in op ? op.records : op.build(memory.queries));
        } catch (err) {
          op.reject(err);
          continue;
        }
        if (i === ops.length - 1) deferred = records;
        else memory.apply(records, 'local');
        for (const record of records) lines.push(encodeLine(this.p.owner, record));
        done.push(op);
      }
      if (lines.length > 0) file = this.p.journals.append(lines);
    } catch (err) {
      this.letGo();
      await this.failBatch(done, err);
      return;
    }
    // The bytes are in the file (other processes can read them); only the sync is left, and it needs no lock:
    // someone waiting gets it now. (Asked at most once a millisecond: a stat is a tenth of a lone append's cost.)
    const now = performance.now();
    if (now - this.askedAt >= 1) {
      this.askedAt = now;
      if (this.p.lock.contended()) this.letGo(true);
    }
    const synced = file?.datasync();
    try {
      memory.apply(deferred, 'local');
      await synced;
      await this.p.journals.syncCreated();
    } catch (err) {
      await synced?.catch(() => undefined);
      this.letGo();
      await this.failBatch(done, err);
      return;
    }
    for (const op of done) op.resolve();
  }

  /** Memory may now hold records that never reached the disk: reject them and rebuild from what did, once. */
  private async failBatch(ops: WriteOp[], err: unknown): Promise<void> {
    const reason = this.p.health.fail(err);
    for (const op of ops) op.reject(reason);
    try {
      await this.p.reload();
      this.stale = false;
    } catch (e) {
      this.reloadFailed(e);
    }
  }

  /** Catches up; when another process's compaction deleted journal we had not finished, reloads from its snapshot. */
  private async catchUpOrReload(): Promise<void> {
    try {
      this.p.journals.catchUp((records) => this.p.memory.apply(records, 'remote'));
    } catch (err) {
      if (!(err instanceof StoreOvertaken)) throw err;
      await this.p.reload();
    }
  }
}
