import path from 'node:path';
import { systemClock, type Clock } from '../clock';
import { estimatedEntry } from '../budget/ledgerRows';
import { Emitter } from '../events';
import { CURRENT_OWNER, processOwnerProbe, type OwnerProbe } from '../processIdentity';
import { RecordApplier } from './apply';
import {
  crc32,
  encodeLine,
  journalName,
  parseChunk,
  parseJournalName,
  parseSnapshotName,
  snapshotName,
} from './journal';
import { FileLock } from './lock';
import { StoreQueries } from './queries';
import type { Reservation, RunState, StoreRecord, TaskState } from './records';
import { migrate, NewerStoreError } from './schema';
import { loadSqlite, type Database } from './sqlite';
import { nodeStoreFs, type AppendHandle, type StoreFs } from './storeFs';

/** Day keys of the ledger and rollups, in the budget's time zone; `zone` names it, to notice a change of zone. */
export interface DayKeys {
  key(ms: number): string;
  zone: string;
}

export const UTC_DAYS: DayKeys = { key: (ms) => new Date(ms).toISOString().slice(0, 10), zone: 'UTC' };

export interface StoreOptions {
  /** The state folder, normally `<workspace>/.agent-budget`. */
  dir: string;
  fs?: StoreFs;
  clock?: Clock;
  /** This process, as `host:pid:nonce` (see processIdentity.ts). */
  owner?: string;
  probe?: OwnerProbe;
  days?: DayKeys;
  /**
   * Compact the journal into a snapshot once the live journal is this large (default 4 MiB) or 1/32 of the last
   * snapshot, whichever is larger: a snapshot costs time in proportion to the database, so compacting after a
   * proportional amount of journal keeps its share of each write constant as the store grows.
   */
  compactAfterBytes?: number;
  /** How often to look for other processes' records (default 500 ms; 0 = never on its own, tests call refresh()). */
  pollMs?: number;
  /** Move raw ledger rows older than this many days to `archive/` at compaction (default: keep all). */
  retentionDays?: number;
  /** Charge reservations and interrupt runs left by dead processes (default true). */
  recoverAbandoned?: boolean;
  log?: (line: string) => void;
}

/** What opening found, for one clear message when something was damaged. */
export interface OpenReport {
  /** A message for the user when something was damaged and recovered around; undefined when all was well. */
  problem?: string;
  /** Files moved to `damaged/` (never deleted). */
  movedAside: string[];
  snapshotGen: number | null;
  replayedRecords: number;
  damagedLines: number;
  /** An incomplete last record (a write cut off by a crash or power cut; it was never acknowledged). */
  tornTail: boolean;
  recoveredReservations: number;
  interruptedRuns: number;
}

export interface AppliedRecords {
  records: StoreRecord[];
  /** `local`: written by this process; `remote`: read from another window or the CLI. */
  origin: 'local' | 'remote';
}

type WriteOp = {
  kind: 'write';
  build: (queries: StoreQueries) => StoreRecord[];
  resolve: () => void;
  reject: (err: unknown) => void;
};
type Op =
  | WriteOp
  | { kind: 'refresh' | 'compact'; resolve: () => void; reject: (err: unknown) => void }
  | { kind: 'days'; days: DayKeys; resolve: () => void; reject: (err: unknown) => void };

const GITIGNORE = `# Agent Budget machine state (database, journal, locks). budget.json and workflows/ are meant to be committed.
*
!.gitignore
!budget.json
!workflows/
!workflows/*.json
`;

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/** Page size × page count from the header must match the file: catches truncation without a full integrity scan. */
function looksLikeCompleteSqlite(bytes: Uint8Array): boolean {
  if (bytes.length < 100 || !Buffer.from(bytes.buffer, bytes.byteOffset, 16).equals(SQLITE_MAGIC)) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rawPageSize = view.getUint16(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  const pages = view.getUint32(28);
  return pages > 0 && pageSize * pages === bytes.length;
}

/**
 * The workspace store: spend ledger, runs, tasks, checkpoints, reservations and alerts, shared by every VS Code
 * window and CLI process on the folder.
 *
 * Durability: sql.js keeps the database in memory, so a write is a journal append (fsync'd, concurrent writers
 * batched into one sync) under a cross-process lock; the database file is a snapshot written by compaction
 * (temp file, fsync, rename, previous snapshot kept as a backup). Opening loads the newest valid snapshot and
 * replays the journal after it. The cost of a write never depends on the size of the database.
 *
 * Several processes: each appends to the same journal under `store.lock` and tails it for the others' records
 * (fs.watch plus a poll). Journal generations rotate at compaction: a snapshot named for generation N holds
 * everything before N, and journals are deleted only once a newer snapshot and a backup cover them.
 */
export class WorkspaceStore {
  readonly queries: StoreQueries;
  private readonly applied = new Emitter<AppliedRecords>();
  /** Records that took effect, in apply order (local ones before they are durable, within the same batch). */
  readonly onDidApply = this.applied.event;
  private readonly reloaded = new Emitter<void>();
  /** The in-memory state was rebuilt from disk (after a failed write, or when another process's compaction overtook us). */
  readonly onDidReload = this.reloaded.event;

  private db!: Database;
  private applier!: RecordApplier;
  private readonly fs: StoreFs;
  private readonly clock: Clock;
  private readonly owner: string;
  private readonly probe: OwnerProbe;
  private days: DayKeys;
  private readonly lock: FileLock;
  private readonly compactLock: FileLock;
  private readonly log: (line: string) => void;

  /** Read position per journal generation; a generation is complete once a newer one exists and we read it to its end. */
  private readonly positions = new Map<number, { offset: number; trailing: number; complete: boolean }>();
  private baseGen = 0;
  private snapshotBytes = 0;
  private currentGen = 0;
  private handle: { gen: number; file: AppendHandle } | undefined;
  private queue: Op[] = [];
  private draining = false;
  private closed = false;
  private lastRev = 0;
  private timers: Array<ReturnType<typeof setInterval>> = [];
  private watcher: { close(): void } | undefined;
  private refreshScheduled = false;
  /** A journal file was created and the folder holding it not yet synced (see appendHandle). */
  private unsyncedDir = false;
  report: OpenReport = emptyReport();

  private constructor(private readonly options: StoreOptions) {
    this.fs = options.fs ?? nodeStoreFs;
    this.clock = options.clock ?? systemClock;
    this.owner = options.owner ?? CURRENT_OWNER;
    this.probe = options.probe ?? processOwnerProbe;
    this.days = options.days ?? UTC_DAYS;
    this.log = options.log ?? (() => undefined);
    this.lock = new FileLock(this.fs, this.file('store.lock'), this.owner, this.probe, () => this.clock.now());
    this.compactLock = new FileLock(this.fs, this.file('compact.lock'), this.owner, this.probe, () => this.clock.now());
    this.queries = new StoreQueries(() => this.db);
  }

  /** Opens (creating if needed) the store in `options.dir`. Damaged files never make this throw; see `report`. */
  static async open(options: StoreOptions): Promise<WorkspaceStore> {
    const store = new WorkspaceStore(options);
    const fresh = store.fs.size(options.dir) === undefined;
    store.fs.mkdir(options.dir);
    // A new state folder survives a power cut only once its parent's entry for it is on disk.
    if (fresh) await store.fs.syncDir(path.dirname(options.dir));
    if (store.fs.size(store.file('.gitignore')) === undefined) store.fs.writeFile(store.file('.gitignore'), GITIGNORE);
    store.report = await store.load();
    if (options.recoverAbandoned !== false) await store.recoverAbandoned();
    store.startWatching();
    return store;
  }

  get dir(): string {
    return this.options.dir;
  }

  /** Appends records durably: when this resolves they survive a SIGKILL or power cut. */
  commit(records: StoreRecord[]): Promise<void> {
    return this.transact(() => ({ records, result: undefined }));
  }

  /**
   * Runs `decide` under the cross-process lock, after catching up with every other process's records, and appends
   * what it returns in the same lock hold: check-then-write with no window for another window or the CLI in
   * between (the budget engine reserves this way). `decide` must be synchronous; throwing aborts only this call.
   */
  transact<T>(decide: (queries: StoreQueries) => { records: StoreRecord[]; result: T }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let result: T;
      this.enqueue({
        kind: 'write',
        build: (q) => {
          const out = decide(q);
          result = out.result;
          return out.records;
        },
        resolve: () => resolve(result),
        reject,
      });
    });
  }

  /** Reads what other processes appended since the last look. */
  refresh(): Promise<void> {
    return new Promise((resolve, reject) => this.enqueue({ kind: 'refresh', resolve, reject }));
  }

  /**
   * Files ledger days in another time zone from now on (budget.json's `timeZone` changed): every row still in the
   * database and the rollups move to their day in the new zone, in order with the writes queued before, and
   * listeners recompute (`onDidReload`). Day keys are derived state: each process keys them by its own policy.
   */
  setDays(days: DayKeys): Promise<void> {
    if (days.zone === this.days.zone) return Promise.resolve();
    return new Promise((resolve, reject) => this.enqueue({ kind: 'days', days, resolve, reject }));
  }

  /** Writes a snapshot now and starts a new journal generation. */
  compact(): Promise<void> {
    return new Promise((resolve, reject) => this.enqueue({ kind: 'compact', resolve, reject }));
  }

  /** A revision for run/task upserts: increasing in this process and roughly ordered by time across processes. */
  nextRev(): number {
    this.lastRev = Math.max(this.clock.now() * 1000, this.lastRev + 1);
    return this.lastRev;
  }

  get ownerId(): string {
    return this.owner;
  }

  /** Size of the live journal in bytes (what compaction waits for). */
  journalBytes(): number {
    return this.fs.size(this.file(journalName(this.currentGen))) ?? 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.refresh().catch(() => undefined);
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.watcher?.close();
    this.watcher = undefined;
    this.closeHandle();
    this.queries.dispose();
    this.applier.dispose();
    this.db.close();
    this.applied.dispose();
    this.reloaded.dispose();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Opening and reloading

  private file(name: string): string {
    return path.join(this.options.dir, name);
  }

  private async load(): Promise<OpenReport> {
    const report = emptyReport();
    const SQL = await loadSqlite();
    const names = this.fs.readdir(this.options.dir);
    const snapshots = names
      .map((name) => ({ name, parsed: parseSnapshotName(name) }))
      .filter((s): s is { name: string; parsed: { gen: number; crc: number } } => s.parsed !== undefined)
      .sort((a, b) => b.parsed.gen - a.parsed.gen);

    let db: Database | undefined;
    const problems: string[] = [];
    for (const snap of snapshots) {
      let bytes: Buffer;
      try {
        bytes = await this.fs.readFile(this.file(snap.name));
      } catch (err) {
        problems.push(`could not read ${snap.name}: ${(err as Error).message}`);
        continue;
      }
      const why =
        crc32(bytes) !== snap.parsed.crc
          ? 'its checksum does not match (truncated or overwritten)'
          : !looksLikeCompleteSqlite(bytes)
            ? 'it is not a complete SQLite file'
            : undefined;
      if (!why) {
        try {
          db = new SQL.Database(bytes);
          migrate(db);
          report.snapshotGen = snap.parsed.gen;
          this.baseGen = snap.parsed.gen;
          this.snapshotBytes = bytes.length;
          break;
        } catch (err) {
          db?.close();
          db = undefined;
          if (err instanceof NewerStoreError) throw err;
          problems.push(`${snap.name} could not be opened (${(err as Error).message})`);
        }
      } else {
        problems.push(`${snap.name}: ${why}`);
      }
      report.movedAside.push(this.moveAside(snap.name));
    }
    if (!db) {
      db = new SQL.Database();
      migrate(db);
      this.baseGen = 0;
      if (snapshots.length > 0) problems.push('no intact snapshot remained; rebuilt from the journal files that exist');
    }
    // Durability is the journal's job; the in-memory file needs no rollback journal (a failed batch reloads from
    // disk instead of rolling back). sql.js keeps the file in memory but copies each page into SQLite's cache
    // through its JS file system (~10 µs a miss): a cache of up to 64 MB keeps inserts at ~25 µs at a million rows
    // instead of ~100 µs.
    db.exec(
      'PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536;',
    );
    this.db = db;
    this.applier = new RecordApplier(db, (ms) => this.days.key(ms));
    this.rekeyDaysIfZoneChanged();

    // Replay every journal from the snapshot's generation on.
    this.positions.clear();
    const gens = names
      .map(parseJournalName)
      .filter((g): g is number => g !== undefined)
      .sort((a, b) => a - b);
    const live = gens.filter((g) => g >= this.baseGen);
    for (const gen of live) {
      const name = journalName(gen);
      let buf: Buffer;
      try {
        buf = await this.fs.readFile(this.file(name));
      } catch (err) {
        problems.push(`could not read ${name}: ${(err as Error).message}`);
        continue;
      }
      const chunk = parseChunk(buf);
      this.applyAll(
        chunk.records.map((r) => r.record),
        undefined,
      );
      report.replayedRecords += chunk.records.length;
      const last = gen === live[live.length - 1];
      this.positions.set(gen, { offset: chunk.consumed, trailing: chunk.trailing, complete: !last });
      if (chunk.trailing > 0) report.tornTail = true;
      if (chunk.damaged > 0) {
        report.damagedLines += chunk.damaged;
        problems.push(`${chunk.damaged} damaged record(s) in ${name} were skipped`);
        report.movedAside.push(this.copyAside(name, buf));
      }
    }
    this.currentGen = live.length ? live[live.length - 1]! : this.baseGen;
    if (problems.length > 0) {
      report.problem =
        `Agent Budget recovered its store in ${this.options.dir}: ${problems.join('; ')}. ` +
        `Recovered ${report.replayedRecords} journal record(s)` +
        (report.snapshotGen !== null ? ` on top of snapshot ${report.snapshotGen}` : '') +
        (report.movedAside.length
          ? `; the damaged files were moved to ${path.join(this.options.dir, 'damaged')}.`
          : '.');
      this.log(report.problem);
    }
    return report;
  }

  /** Rebuilds in-memory state from disk; listeners recompute on `onDidReload`. */
  private async reload(): Promise<void> {
    this.closeHandle();
    this.queries.dispose();
    this.applier.dispose();
    this.db.close();
    const report = await this.load();
    if (report.problem) this.report = report;
    this.reloaded.fire();
  }

  private moveAside(name: string): string {
    this.fs.mkdir(this.file('damaged'));
    const target = path.join('damaged', `${new Date(this.clock.now()).toISOString().replace(/[:.]/g, '-')}-${name}`);
    this.fs.rename(this.file(name), this.file(target));
    return this.file(target);
  }

  /** A journal with a damaged line stays live (other processes append to it); a copy goes aside for inspection. */
  private copyAside(name: string, bytes: Buffer): string {
    this.fs.mkdir(this.file('damaged'));
    const target = path.join('damaged', `${new Date(this.clock.now()).toISOString().replace(/[:.]/g, '-')}-${name}`);
    this.fs.writeFile(this.file(target), bytes);
    return this.file(target);
  }

  /**
   * Ledger rows and rollups carry day keys in the budget's time zone. When the zone changed since the snapshot,
   * move every row still in the database to its new day (archived rows keep theirs; totals never change).
   */
  private rekeyDaysIfZoneChanged(): void {
    const row = this.db.exec(`SELECT value FROM meta WHERE key = 'day_zone'`)[0]?.values[0];
    const previous = row ? String(row[0]) : undefined;
    if (previous === this.days.zone) return;
    if (previous !== undefined) {
      const moves: Array<{ id: string; from: string; to: string }> = [];
      const scan = this.db.prepare('SELECT id, ts, day FROM ledger');
      try {
        while (scan.step()) {
          const [id, ts, from] = scan.get();
          const to = this.days.key(Number(ts));
          if (to !== from) moves.push({ id: String(id), from: String(from), to });
        }
      } finally {
        scan.free();
      }
      this.db.exec('BEGIN');
      for (const move of moves) {
        const entry = this.queries.ledgerEntry(move.id)!;
        this.applier.addToRollups(entry, move.from, -1);
        this.applier.addToRollups(entry, move.to, 1);
        this.db.run('UPDATE ledger SET day = ? WHERE id = ?', [move.to, move.id]);
      }
      this.db.run('DELETE FROM rollup_model WHERE calls = 0');
      this.db.run('DELETE FROM rollup_task WHERE calls = 0');
      this.db.run('DELETE FROM rollup_client WHERE calls = 0');
      this.db.exec('COMMIT');
      this.log(
        `Agent Budget: day keys moved from time zone ${previous} to ${this.days.zone} (${moves.length} ledger rows).`,
      );
    }
    this.db.run(`INSERT OR REPLACE INTO meta (key, value) VALUES ('day_zone', ?)`, [this.days.zone]);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // The write path

  private enqueue(op: Op): void {
    if (this.closed) {
      op.reject(new Error('The Agent Budget store is closed.'));
      return;
    }
    this.queue.push(op);
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0);
        const writes = batch.filter((op): op is WriteOp => op.kind === 'write');
        const others = batch.filter((op) => op.kind !== 'write');
        if (writes.length > 0) await this.writeBatch(writes);
        for (const op of others) {
          try {
            if (op.kind === 'refresh' && writes.length === 0) await this.catchUpOrReload();
            if (op.kind === 'compact') await this.compactNow(true);
            if (op.kind === 'days') {
              this.days = op.days;
              this.rekeyDaysIfZoneChanged();
              this.reloaded.fire();
            }
            op.resolve();
          } catch (err) {
            op.reject(err);
          }
        }
        if (writes.length > 0 && this.journalBytes() >= this.compactThreshold()) {
          await this.compactNow(false).catch((err) =>
            this.log(`Agent Budget: compaction failed: ${(err as Error).message}`),
          );
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private async writeBatch(ops: WriteOp[]): Promise<void> {
    const done: WriteOp[] = [];
    let file: AppendHandle | undefined;
    // The last write's records go into memory while the journal syncs, not before the append: no later build in
    // this batch needs them, the next batch starts only after this one, and so a lone writer's SQL work overlaps
    // its fsync instead of adding to it.
    let deferred: StoreRecord[] = [];
    try {
      await this.lock.acquire();
    } catch (err) {
      for (const op of ops) op.reject(err);
      return;
    }
    try {
      try {
        this.catchUp();
      } catch (err) {
        if (!(err instanceof StoreOvertaken)) throw err;
        this.lock.release();
        await this.reload();
        return this.writeBatch(ops);
      }
      const lines: Buffer[] = [];
      const many = ops.length > 1;
      if (many) this.db.exec('BEGIN');
      for (const [i, op] of ops.entries()) {
        let records: StoreRecord[];
        try {
          records = op.build(this.queries);
        } catch (err) {
          op.reject(err);
          continue;
        }
        if (i === ops.length - 1) deferred = records;
        else this.applyAll(records, 'local', true);
        for (const record of records) lines.push(encodeLine(this.owner, record));
        done.push(op);
      }
      if (many) this.db.exec('COMMIT');
      if (lines.length > 0) {
        file = this.appendHandle();
        const position = this.positions.get(this.currentGen)!;
        // A torn last line (a crash mid-write) must not swallow our first record: start on a fresh line.
        if (position.trailing > 0) lines.unshift(Buffer.from('\n'));
        const buf = Buffer.concat(lines);
        file.append(buf);
        position.offset += position.trailing + buf.length;
        position.trailing = 0;
      }
    } catch (err) {
      this.lock.release();
      await this.failBatch(done, err);
      return;
    }
    // The bytes are in the file (other processes can read them); only the sync is left, and it needs no lock.
    this.lock.release();
    const synced = file?.datasync();
    try {
      this.applyAll(deferred, 'local');
      await synced;
      if (this.unsyncedDir) {
        this.unsyncedDir = false;
        await this.fs.syncDir(this.options.dir);
      }
    } catch (err) {
      await synced?.catch(() => undefined);
      await this.failBatch(done, err);
      return;
    }
    for (const op of done) op.resolve();
  }

  /** Memory may now hold records that never reached the disk: reject them and rebuild from what did. */
  private async failBatch(ops: WriteOp[], err: unknown): Promise<void> {
    for (const op of ops) op.reject(err);
    try {
      this.db.exec('ROLLBACK');
    } catch {
      // the failure came after COMMIT
    }
    await this.reload().catch((e) => this.log(`Agent Budget: store reload failed: ${(e as Error).message}`));
  }

  private closeHandle(): void {
    try {
      this.handle?.file.close();
    } catch {
      // already closed
    }
    this.handle = undefined;
  }

  /** Catches up; when another process's compaction deleted journal we had not finished, reloads from its snapshot. */
  private async catchUpOrReload(): Promise<void> {
    try {
      this.catchUp();
    } catch (err) {
      if (!(err instanceof StoreOvertaken)) throw err;
      await this.reload();
    }
  }

  /** The handle for the newest generation, reopened after a rotation. Call under the lock, after catchUp. */
  private appendHandle(): AppendHandle {
    if (this.handle?.gen === this.currentGen) return this.handle.file;
    this.closeHandle();
    const name = this.file(journalName(this.currentGen));
    // A journal this call creates is a new directory entry: the folder is synced too before the write is acknowledged.
    if (this.fs.size(name) === undefined) this.unsyncedDir = true;
    const file = this.fs.openAppend(name);
    this.handle = { gen: this.currentGen, file };
    if (!this.positions.has(this.currentGen))
      this.positions.set(this.currentGen, { offset: 0, trailing: 0, complete: false });
    return file;
  }

  /**
   * Applies records and tells listeners which took effect. `inTransaction`: the caller already holds a BEGIN
   * (the write batch); otherwise the records are applied in a transaction of their own.
   */
  private applyAll(records: StoreRecord[], origin: AppliedRecords['origin'] | undefined, inTransaction = false): void {
    if (records.length === 0) return;
    const effective: StoreRecord[] = [];
    if (!inTransaction) this.db.exec('BEGIN');
    try {
      for (const record of records) if (this.applier.apply(record)) effective.push(record);
      if (!inTransaction) this.db.exec('COMMIT');
    } catch (err) {
      if (!inTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
    if (origin && effective.length > 0) this.applied.fire({ records: effective, origin });
  }

  /**
   * Applies what other processes appended. Looks for a newer generation with one stat (cheap enough for every
   * batch) and lists the folder only when one appeared.
   */
  private catchUp(): void {
    const newer = this.fs.size(this.file(journalName(this.currentGen + 1)));
    if (newer !== undefined || !this.positions.has(this.currentGen)) {
      const gens = this.fs
        .readdir(this.options.dir)
        .map(parseJournalName)
        .filter((g): g is number => g !== undefined && g >= this.baseGen)
        .sort((a, b) => a - b);
      // The first generation we have not read to its end. If a newer snapshot exists and a journal between the
      // two is gone, another process compacted past records we never read: its snapshot has them.
      const unread = [...this.positions].filter(([, p]) => !p.complete).map(([g]) => g);
      const frontier = unread.length ? Math.min(...unread) : this.currentGen;
      if (gens.length && gens[0]! > frontier) {
        const snapshots = this.fs.readdir(this.options.dir).map((n) => parseSnapshotName(n)?.gen ?? -1);
        if (Math.max(...snapshots) > frontier) throw new StoreOvertaken();
      }
      for (const gen of gens)
        if (!this.positions.has(gen)) this.positions.set(gen, { offset: 0, trailing: 0, complete: false });
      if (gens.length) this.currentGen = Math.max(this.currentGen, gens[gens.length - 1]!);
    }
    for (const [gen, pos] of [...this.positions].sort((a, b) => a[0] - b[0])) {
      if (pos.complete) continue;
      const name = this.file(journalName(gen));
      const size = this.fs.size(name);
      if (size === undefined) {
        this.positions.delete(gen);
        continue;
      }
      if (size > pos.offset + pos.trailing) {
        const chunk = parseChunk(this.fs.readRange(name, pos.offset, size - pos.offset), this.owner);
        this.applyAll(
          chunk.records.map((r) => r.record),
          'remote',
        );
        if (chunk.damaged > 0)
          this.log(`Agent Budget: skipped ${chunk.damaged} damaged record(s) in ${journalName(gen)}.`);
        pos.offset += chunk.consumed;
        pos.trailing = chunk.trailing;
      }
      if (gen < this.currentGen) pos.complete = true;
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Compaction

  private async compactNow(force: boolean): Promise<void> {
    if (!this.compactLock.tryAcquire()) return; // another process is compacting
    try {
      let gen: number;
      await this.lock.acquire();
      try {
        this.catchUp();
        const size = this.fs.size(this.file(journalName(this.currentGen))) ?? 0;
        if (!force && size < this.compactThreshold()) return;
        await this.archiveOldRows();
        gen = this.currentGen + 1;
        this.fs.openAppend(this.file(journalName(gen))).close();
        await this.fs.syncDir(this.options.dir);
        this.catchUp(); // marks the sealed generation complete and moves to the new one
      } finally {
        this.lock.release();
      }
      // Everything before `gen` is in memory now, and nobody appends to it any more.
      const bytes = this.db.export();
      const name = snapshotName(gen, crc32(bytes));
      this.snapshotBytes = bytes.length;
      await this.fs.writeFileDurable(this.file(`${name}.tmp`), bytes);
      this.fs.rename(this.file(`${name}.tmp`), this.file(name));
      await this.fs.syncDir(this.options.dir);
      this.pruneOldFiles();
    } finally {
      this.compactLock.release();
    }
  }

  private compactThreshold(): number {
    return Math.max(this.options.compactAfterBytes ?? 4 * 1024 * 1024, Math.floor(this.snapshotBytes / 32));
  }

  /** Keeps the newest snapshot and one backup, and every journal the backup needs to be complete. */
  private pruneOldFiles(): void {
    const names = this.fs.readdir(this.options.dir);
    const snaps = names
      .map((name) => ({ name, gen: parseSnapshotName(name)?.gen }))
      .filter((s): s is { name: string; gen: number } => s.gen !== undefined)
      .sort((a, b) => b.gen - a.gen);
    for (const old of snaps.slice(2)) this.fs.unlink(this.file(old.name));
    if (snaps.length < 2) return;
    const keepFrom = snaps[1]!.gen;
    for (const name of names) {
      const gen = parseJournalName(name);
      if (gen !== undefined && gen < keepFrom) this.fs.unlink(this.file(name));
    }
    const now = this.clock.now();
    for (const name of names.filter((n) => n.endsWith('.sqlite.tmp'))) {
      const mtime = this.fs.mtimeMs(this.file(name));
      if (mtime !== undefined && now - mtime > 10 * 60_000) this.fs.unlink(this.file(name));
    }
  }

  /** Retention: copy raw rows older than the cutoff to archive/ledger-YYYY-MM.jsonl, then drop them everywhere. */
  private async archiveOldRows(): Promise<void> {
    const days = this.options.retentionDays;
    if (!days || days <= 0) return;
    const beforeTs = this.clock.now() - days * 86_400_000;
    const byMonth = new Map<string, string[]>();
    for (const page of this.queries.ledgerRows(0, beforeTs)) {
      for (const entry of page) {
        const month = new Date(entry.ts).toISOString().slice(0, 7);
        let lines = byMonth.get(month);
        if (!lines) byMonth.set(month, (lines = []));
        lines.push(JSON.stringify(entry));
      }
    }
    if (byMonth.size === 0) return;
    this.fs.mkdir(this.file('archive'));
    for (const [month, lines] of byMonth) {
      const file = this.fs.openAppend(this.file(path.join('archive', `ledger-${month}.jsonl`)));
      try {
        file.append(Buffer.from(`${lines.join('\n')}\n`));
        await file.datasync();
      } finally {
        file.close();
      }
    }
    // Under the store lock already: append the archive record directly.
    const record: StoreRecord = { k: 'archive', beforeTs, ts: this.clock.now() };
    this.applyAll([record], 'local');
    const handle = this.appendHandle();
    const line = encodeLine(this.owner, record);
    handle.append(line);
    await handle.datasync();
    this.positions.get(this.currentGen)!.offset += line.length;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Other processes

  private startWatching(): void {
    const pollMs = this.options.pollMs ?? 500;
    if (pollMs <= 0) return;
    this.watcher = this.fs.watch(this.options.dir, () => this.scheduleRefresh());
    const poll = setInterval(() => this.scheduleRefresh(), pollMs);
    poll.unref?.();
    this.timers.push(poll);
    if (this.options.recoverAbandoned !== false) {
      const sweep = setInterval(() => void this.recoverAbandoned().catch(() => undefined), 30_000);
      sweep.unref?.();
      this.timers.push(sweep);
    }
  }

  private scheduleRefresh(): void {
    if (this.refreshScheduled || this.closed) return;
    this.refreshScheduled = true;
    setTimeout(() => {
      this.refreshScheduled = false;
      if (!this.closed && !this.draining) void this.refresh().catch(() => undefined);
    }, 25).unref?.();
  }

  /**
   * Reservations held by processes that died are charged as estimated (the call may have been billed; the ledger
   * never under-counts), and their running runs and tasks become `interrupted`, resumable from their checkpoint.
   */
  async recoverAbandoned(): Promise<{ reservations: number; runs: number }> {
    const deadReservation = (r: Reservation) => !this.probe.isAlive(r.owner);
    const deadRun = (r: RunState) => !this.probe.isAlive(r.owner);
    if (
      !this.queries.openReservations().some(deadReservation) &&
      !this.queries.listRuns({ status: ['running', 'pending'] }).some(deadRun)
    ) {
      return { reservations: 0, runs: 0 };
    }
    const outcome = await this.transact((q) => {
      const records: StoreRecord[] = [];
      const now = this.clock.now();
      const reservations = q.openReservations().filter(deadReservation);
      for (const r of reservations)
        records.push({ k: 'settle', reservationId: r.id, ts: now, entry: estimatedEntry(r, now) });
      const runs = q.listRuns({ status: ['running', 'pending'] }).filter(deadRun);
      for (const run of runs) {
        const { costMicros: _c, estimatedMicros: _e, tokens: _t, calls: _n, ...state } = run;
        records.push({ k: 'run', run: { ...state, status: 'interrupted', updatedAt: now, rev: this.nextRev() } });
        for (const task of q.tasksOfRun(run.id).filter((t) => t.status === 'running' || t.status === 'pending')) {
          const { costMicros: _tc, tokens: _tt, calls: _tn, ...taskState } = task;
          const next: TaskState = { ...taskState, status: 'interrupted', updatedAt: now, rev: this.nextRev() };
          records.push({ k: 'task', task: next });
        }
      }
      return { records, result: { reservations: reservations.length, runs: runs.length } };
    });
    this.report.recoveredReservations += outcome.reservations;
    this.report.interruptedRuns += outcome.runs;
    return outcome;
  }
}

// Built with the budget's other rows (src/core/budget/ledgerRows.ts); re-exported for the store's recovery.
export { estimatedEntry };

/** Thrown by catchUp when the journal it was reading was compacted away by another process. */
class StoreOvertaken extends Error {
  constructor() {
    super('Another process compacted the store past records this one had not read; reloading.');
  }
}

function emptyReport(): OpenReport {
  return {
    movedAside: [],
    snapshotGen: null,
    replayedRecords: 0,
    damagedLines: 0,
    tornTail: false,
    recoveredReservations: 0,
    interruptedRuns: 0,
  };
}
