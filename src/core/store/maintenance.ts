import path from 'node:path';
import { encodeLine } from './journal';
import type { JournalFiles } from './journalFiles';
import type { FileLock } from './lock';
import type { MonotonicClock } from './liveness';
import type { StoreMemory } from './memory';
import type { StoreRecord } from './records';
import type { SnapshotFiles } from './snapshotFiles';
import type { StoreFs } from './storeFs';

/** After a failed compaction (a full disk cannot take a snapshot), wait this long before trying again. */
const RETRY_AFTER_MS = 60_000;

export interface MaintenanceOptions {
  compactAfterBytes?: number;
  retentionDays?: number;
}

/** What compaction needs from the write path: the lock held, every other process's records applied. */
export type UnderLock = <T>(work: () => Promise<T>) => Promise<T>;

/**
 * Compaction (a snapshot of memory, a new journal generation), pruning, and the retention archive. Runs in the
 * write queue's turn, so no write of this process interleaves; `compact.lock` keeps two processes from compacting
 * at once.
 */
export class Maintenance {
  private snapshotBytes = 0;
  private retryAt = 0;

  constructor(
    private readonly dir: string,
    private readonly fs: StoreFs,
    private readonly compactLock: FileLock,
    private readonly journals: JournalFiles,
    private readonly memory: StoreMemory,
    private readonly snapshots: SnapshotFiles,
    private readonly owner: string,
    private readonly wallNow: () => number,
    private readonly mono: MonotonicClock,
    private readonly options: MaintenanceOptions,
  ) {}

  /** The size of the snapshot loaded (compaction waits for a journal proportional to it). */
  loaded(snapshotBytes: number): void {
    this.snapshotBytes = snapshotBytes;
  }

  /**
   * Compact once the live journal is `compactAfterBytes` (default 4 MiB) or 1/32 of the last snapshot, whichever
   * is larger: a snapshot costs time in proportion to the database, so compacting after a proportional amount of
   * journal keeps its share of each write constant as the store grows.
   */
  threshold(): number {
    return Math.max(this.options.compactAfterBytes ?? 4 * 1024 * 1024, Math.floor(this.snapshotBytes / 32));
  }

  due(): boolean {
    return this.journals.bytes() >= this.threshold() && this.mono.now() >= this.retryAt;
  }

  /** After a failure the store recovered from: compaction may be tried at once. */
  retryNow(): void {
    this.retryAt = 0;
  }

  /** Writes a snapshot and starts a new journal generation (when `force`, or when due). */
  async compact(force: boolean, underLock: UnderLock): Promise<void> {
    if (!this.compactLock.tryAcquire()) return; // another process is compacting
    try {
      const gen = await underLock(async () => {
        if (!force && this.journals.bytes() < this.threshold()) return undefined;
        await this.archiveOldRows();
        return this.journals.rotate((records) => this.memory.apply(records, 'remote'));
      });
      if (gen === undefined) return;
      // Everything before `gen` is in memory now, and nobody appends to it any more.
      const bytes = this.memory.export();
      this.snapshotBytes = bytes.length;
      await this.snapshots.write(gen, bytes);
      this.snapshots.prune();
    } catch (err) {
      this.retryAt = this.mono.now() + RETRY_AFTER_MS;
      throw err;
    } finally {
      this.compactLock.release();
    }
  }

  /** Retention: copy raw rows older than the cutoff to archive/ledger-YYYY-MM.jsonl, then drop them everywhere. */
  private async archiveOldRows(): Promise<void> {
    const days = this.options.retentionDays;
    if (!days || days <= 0) return;
    const beforeTs = this.wallNow() - days * 86_400_000;
    const byMonth = new Map<string, string[]>();
    for (const page of this.memory.queries.ledgerRows(0, beforeTs)) {
      for (const entry of page) {
        const month = new Date(entry.ts).toISOString().slice(0, 7);
        let lines = byMonth.get(month);
        if (!lines) byMonth.set(month, (lines = []));
        lines.push(JSON.stringify(entry));
      }
    }
    if (byMonth.size === 0) return;
    const archive = path.join(this.dir, 'archive');
    this.fs.mkdir(archive); // refuses a link: archive/ pointing elsewhere would write outside the state folder
    for (const [month, lines] of byMonth) {
      const file = this.fs.openAppend(path.join(archive, `ledger-${month}.jsonl`));
      try {
        file.append(Buffer.from(`${lines.join('\n')}\n`));
        await file.datasync();
      } finally {
        file.close();
      }
    }
    // Under the store lock already: append the archive record directly.
    const record: StoreRecord = { k: 'archive', beforeTs, ts: this.wallNow() };
    this.memory.apply([record], 'local');
    await this.journals.append([encodeLine(this.owner, record)]).datasync();
    await this.journals.syncCreated();
  }
}
