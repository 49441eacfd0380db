import path from 'node:path';
import { systemClock, type Clock } from '../clock';
import { Emitter } from '../events';
import { CURRENT_OWNER, type OwnerProbe, type PidVerdict } from '../processIdentity';
import { assertConfined } from './confinement';
import { HealthGate, type StoreHealth } from './health';
import { JournalFiles } from './journalFiles';
import { HEARTBEAT_EVERY_MS, OwnerLiveness, systemMonotonic, type MonotonicClock } from './liveness';
import { FileLock } from './lock';
import { Maintenance } from './maintenance';
import { StoreMemory, UTC_DAYS, type AppliedRecords, type DayKeys } from './memory';
import { emptyReport, loadState, type OpenReport } from './opening';
import type { StoreQueries } from './queries';
import type { StoreRecord } from './records';
import { SnapshotFiles, type DamagedLimits } from './snapshotFiles';
import { loadSqlite, type SqlJsStatic } from './sqlite';
import { nodeStoreFs, type StoreFs } from './storeFs';
import { WriteQueue } from './writeQueue';

export { UTC_DAYS, type AppliedRecords, type DayKeys, type OpenReport, type StoreHealth };

/** How often a polling store runs its sweep: the `onSweep` hook and the cleanup of dead owners' heartbeats. */
const SWEEP_EVERY_MS = 30_000;

export interface StoreOptions {
  /** The state folder, normally `<workspace>/.agent-budget`. */
  dir: string;
  fs?: StoreFs;
  /** Wall-clock time, for what records say happened when; never for ordering or liveness. */
  clock?: Clock;
  /** This process (see processIdentity.ts CURRENT_OWNER). */
  owner?: string;
  /** Replaces heartbeat liveness (tests). */
  probe?: OwnerProbe;
  /** The monotonic clock heartbeats are judged by (tests move it). */
  monotonic?: MonotonicClock;
  days?: DayKeys;
  /** See Maintenance.threshold (default 4 MiB). */
  compactAfterBytes?: number;
  /** How often to look for other processes' records (default 500 ms; 0 = never on its own, tests call refresh()). */
  pollMs?: number;
  /** Move raw ledger rows older than this many days to `archive/` at compaction (default: keep all). */
  retentionDays?: number;
  /**
   * Runs once the store is open and then every 30 s while it polls. The front ends pass the runner's recovery of
   * work abandoned by dead processes (runner/abandoned.ts): how that is billed is not the store's to decide.
   */
  onSweep?: (store: WorkspaceStore) => Promise<unknown>;
  /** How much damaged/ keeps (default: see snapshotFiles.ts). */
  damagedLimits?: DamagedLimits;
  /** The sql.js engine (tests inject one that fails). */
  engine?: Pick<SqlJsStatic, 'Database'>;
  log?: (line: string) => void;
}

/** How alive the owner of a lock, run or reservation is (see liveness.ts). */
export interface OwnerJudge {
  judge(owner: string): PidVerdict;
  isAlive(owner: string): boolean;
  /** How long ago `owner` last beat, when this process can tell. */
  silentForMs(owner: string): number | undefined;
}

const GITIGNORE = `# Agent Budget machine state (database, journal, locks). budget.json and workflows/ are meant to be committed.
*
!.gitignore
!budget.json
!workflows/
!workflows/*.json
`;

/**
 * The workspace store: spend ledger, runs, tasks, checkpoints, reservations and alerts, shared by every VS Code
 * window and CLI process on the folder. A façade over its rooms:
 *
 * - memory.ts — the in-memory sql.js database every read goes to, and the revision counter;
 * - writeQueue.ts — the write path: batches, group commit, the cross-process lock, failing closed;
 * - journalFiles.ts — the journal: appends (fsync'd before acknowledged), tailing other processes, generations;
 * - snapshotFiles.ts, opening.ts — snapshots: load, verify, quarantine, write; opening and reloading;
 * - maintenance.ts — compaction, pruning, the retention archive;
 * - liveness.ts, lock.ts — heartbeats and the locks they judge; health.ts — fail closed, heal by probe;
 * - storeFs.ts, durability.ts, confinement.ts — the file system: no links followed, the platform's sync.
 *
 * Durability: a write is a journal append, synced before it is acknowledged; the database file is a snapshot
 * written by compaction. Opening loads the newest intact snapshot and replays the journal after it. The cost of a
 * write never depends on the size of the database.
 */
export class WorkspaceStore {
  private readonly memory: StoreMemory;
  private readonly reloaded = new Emitter<void>();
  /** The in-memory state was rebuilt from disk (after a failed write, or when another process's compaction overtook us). */
  readonly onDidReload = this.reloaded.event;
  readonly owners: OwnerJudge;
  report: OpenReport = emptyReport();

  private readonly fs: StoreFs;
  private readonly clock: Clock;
  private readonly owner: string;
  private readonly log: (line: string) => void;
  private readonly liveness: OwnerLiveness;
  private readonly gate: HealthGate;
  private readonly journals: JournalFiles;
  private readonly snapshots: SnapshotFiles;
  private readonly maintenance: Maintenance;
  private readonly queue: WriteQueue;
  private engine!: Pick<SqlJsStatic, 'Database'>;
  private closed = false;
  private timers: Array<ReturnType<typeof setInterval>> = [];
  private watcher: { close(): void } | undefined;
  private refreshScheduled = false;
  private beatFailing = false;

  private constructor(private readonly options: StoreOptions) {
    const { dir } = options;
    this.fs = options.fs ?? nodeStoreFs;
    this.clock = options.clock ?? systemClock;
    this.owner = options.owner ?? CURRENT_OWNER;
    this.log = options.log ?? (() => undefined);
    const mono = options.monotonic ?? systemMonotonic;
    const wallNow = () => this.clock.now();
    this.memory = new StoreMemory(options.days ?? UTC_DAYS);
    this.liveness = new OwnerLiveness(dir, this.fs, this.owner, mono);
    const probe = options.probe;
    this.owners = probe
      ? {
          judge: (o) => (probe.isAlive(o) ? 'alive' : 'dead'),
          isAlive: (o) => probe.isAlive(o),
          silentForMs: () => undefined,
        }
      : {
          judge: (o) => this.liveness.judge(o),
          isAlive: (o) => this.liveness.isAlive(o),
          silentForMs: (o) => this.liveness.silentForMs(o),
        };
    const lockOwners = { judge: (o: string) => this.owners.judge(o), ensure: () => this.liveness.ensure() };
    const lock = (name: string) => new FileLock(this.fs, this.file(name), this.owner, lockOwners, mono, wallNow);
    this.gate = new HealthGate(dir, this.fs, this.log);
    this.journals = new JournalFiles(dir, this.fs, this.owner, this.log);
    this.snapshots = new SnapshotFiles(dir, this.fs, wallNow, this.log, options.damagedLimits);
    this.maintenance = new Maintenance(
      dir,
      this.fs,
      lock('compact.lock'),
      this.journals,
      this.memory,
      this.snapshots,
      this.owner,
      wallNow,
      mono,
      options,
    );
    this.queue = new WriteQueue({
      lock: lock('store.lock'),
      journals: this.journals,
      memory: this.memory,
      health: this.gate,
      maintenance: this.maintenance,
      owner: this.owner,
      reload: () => this.reload(),
      daysChanged: (days) => {
        this.memory.setDays(days, this.log);
        this.reloaded.fire();
      },
      log: this.log,
    });
  }

  /**
   * Opens (creating if needed) the store in `options.dir`. Damaged files never make this throw (see `report`); a
   * folder that is a link or holds links, a newer store, or a state that cannot be loaded does, leaving every file
   * as it was. A disk that takes no writes opens read-only: the store fails closed (`health`).
   */
  static async open(options: StoreOptions): Promise<WorkspaceStore> {
    const store = new WorkspaceStore(options);
    await store.init();
    return store;
  }

  private async init(): Promise<void> {
    const { dir } = this.options;
    assertConfined(this.fs, dir);
    const fresh = this.fs.kind(dir) === undefined;
    this.fs.mkdir(dir);
    // A new state folder survives a power cut only once its parent's entry for it is on disk.
    if (fresh) await this.fs.syncDir(path.dirname(dir));
    this.engine = this.options.engine ?? (await loadSqlite());
    // Loaded before this process writes files of its own (.gitignore, heartbeat): a store that cannot load is left
    // exactly as it was.
    const { loaded, report, snapshotBytes } = await loadState(this.loadParts());
    this.memory.install(loaded);
    this.maintenance.loaded(snapshotBytes);
    this.report = report;
    try {
      if (this.fs.kind(this.file('.gitignore')) === undefined) this.fs.writeFile(this.file('.gitignore'), GITIGNORE);
      this.liveness.beat();
    } catch (err) {
      // A full disk: reads work, writes are refused until it takes them again.
      if (this.gate.fail(err) === err) throw err;
    }
    await this.sweep();
    this.startTimers();
  }

  get dir(): string {
    return this.options.dir;
  }

  get queries(): StoreQueries {
    return this.memory.queries;
  }

  /** Records that took effect, in apply order (local ones before they are durable, within the same batch). */
  get onDidApply(): StoreMemory['onDidApply'] {
    return this.memory.onDidApply;
  }

  /** Whether the store can write; while it cannot, every write (and so every admission) is refused. */
  get health(): StoreHealth {
    return this.gate.health;
  }

  get onDidChangeHealth(): HealthGate['onDidChange'] {
    return this.gate.onDidChange;
  }

  /** Appends records durably: when this resolves they survive a SIGKILL or power cut. */
  commit(records: StoreRecord[]): Promise<void> {
    return new Promise<void>((resolve, reject) => this.queue.enqueue({ kind: 'write', records, resolve, reject }));
  }

  /**
   * Runs `decide` under the cross-process lock, after catching up with every other process's records, and appends
   * what it returns in the same lock hold: check-then-write with no window for another window or the CLI in
   * between (the budget engine reserves this way). `decide` must be synchronous; throwing aborts only this call.
   */
  transact<T>(decide: (queries: StoreQueries) => { records: StoreRecord[]; result: T }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let result: T;
      this.queue.enqueue({
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

  /** Reads what other processes appended since the last look (and probes a store that failed closed). */
  refresh(): Promise<void> {
    return new Promise((resolve, reject) => this.queue.enqueue({ kind: 'refresh', resolve, reject }));
  }

  /**
   * Files ledger days in another time zone from now on (budget.json's `timeZone` changed): every row still in the
   * database and the rollups move to their day in the new zone, in order with the writes queued before, and
   * listeners recompute (`onDidReload`). Day keys are derived state: each process keys them by its own policy.
   */
  setDays(days: DayKeys): Promise<void> {
    if (days.zone === this.memory.days.zone) return Promise.resolve();
    return new Promise((resolve, reject) => this.queue.enqueue({ kind: 'days', days, resolve, reject }));
  }

  /** Writes a snapshot now and starts a new journal generation. */
  compact(): Promise<void> {
    return new Promise((resolve, reject) => this.queue.enqueue({ kind: 'compact', resolve, reject }));
  }

  /** A revision for run/task records; the write path restamps it under the lock (see memory.ts), no clock involved. */
  nextRev(): number {
    return this.memory.nextRev();
  }

  get ownerId(): string {
    return this.owner;
  }

  /** Size of the live journal in bytes (what compaction waits for). */
  journalBytes(): number {
    return this.journals.bytes();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.refresh().catch(() => undefined);
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.watcher?.close();
    this.watcher = undefined;
    this.queue.close();
    this.journals.closeHandle();
    try {
      this.liveness.remove();
    } catch {
      // a stale heartbeat is judged dead in time and swept
    }
    this.memory.close();
    this.reloaded.dispose();
    this.gate.dispose();
  }

  private file(name: string): string {
    return path.join(this.options.dir, name);
  }

  private loadParts() {
    return {
      dir: this.options.dir,
      fs: this.fs,
      engine: this.engine,
      memory: this.memory,
      journals: this.journals,
      snapshots: this.snapshots,
      log: this.log,
    };
  }

  /** Rebuilds in-memory state from disk; listeners recompute on `onDidReload`. The old state stays if this fails. */
  private async reload(): Promise<void> {
    const { loaded, report, snapshotBytes } = await loadState(this.loadParts());
    this.memory.install(loaded);
    this.maintenance.loaded(snapshotBytes);
    if (report.problem) this.report = report;
    this.reloaded.fire();
  }

  private async sweep(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.options.probe) this.liveness.sweep();
      await this.options.onSweep?.(this);
    } catch (err) {
      this.log(`Agent Budget: sweeping abandoned work failed: ${(err as Error).message}`);
    }
  }

  private startTimers(): void {
    const beat = setInterval(() => this.beat(), HEARTBEAT_EVERY_MS);
    beat.unref?.();
    this.timers.push(beat);
    const pollMs = this.options.pollMs ?? 500;
    if (pollMs <= 0) return;
    this.watcher = this.fs.watch(this.options.dir, () => this.scheduleRefresh());
    const poll = setInterval(() => this.scheduleRefresh(), pollMs);
    poll.unref?.();
    this.timers.push(poll);
    const sweep = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    sweep.unref?.();
    this.timers.push(sweep);
  }

  private beat(): void {
    try {
      this.liveness.beat();
      this.beatFailing = false;
    } catch (err) {
      if (!this.beatFailing)
        this.log(`Agent Budget: could not renew this process's heartbeat: ${(err as Error).message}`);
      this.beatFailing = true;
    }
  }

  private scheduleRefresh(): void {
    if (this.refreshScheduled || this.closed) return;
    this.refreshScheduled = true;
    setTimeout(() => {
      this.refreshScheduled = false;
      if (!this.closed && this.queue.idle) void this.refresh().catch(() => undefined);
    }, 25).unref?.();
  }
}
