import { Emitter } from '../events';
import { RecordApplier } from './apply';
import { StoreQueries } from './queries';
import type { StoreRecord } from './records';
import type { Database, Statement } from './sqlite';

/** Day keys of the ledger and rollups, in the budget's time zone; `zone` names it, to notice a change of zone. */
export interface DayKeys {
  key(ms: number): string;
  zone: string;
}

export const UTC_DAYS: DayKeys = { key: (ms) => new Date(ms).toISOString().slice(0, 10), zone: 'UTC' };

export interface AppliedRecords {
  records: StoreRecord[];
  /** `local`: written by this process; `remote`: read from another window or the CLI. */
  origin: 'local' | 'remote';
}

/** A database loaded from disk (snapshot and journal replay), ready to become the store's state. */
export interface LoadedDatabase {
  db: Database;
  applier: RecordApplier;
}

/**
 * The store's in-memory state: the sql.js database every read goes to, the applier that files records into it, and
 * the revision counter. Records from this process, other processes and replay all enter through `apply`.
 *
 * Revisions: run and task rows keep the highest `rev`. They never come from the wall clock: `stamp` gives each run
 * and task record written the highest revision this store has seen plus one, under the write lock after catching
 * up with every other process — so the later write wins whatever any clock says, and a Cancel or a resume claim is
 * never lost behind a clock that ran ahead.
 */
export class StoreMemory {
  db!: Database;
  private applier!: RecordApplier;
  readonly queries: StoreQueries;
  private readonly applied = new Emitter<AppliedRecords>();
  /** Records that took effect, in apply order (local ones before they are durable, within the same batch). */
  readonly onDidApply = this.applied.event;
  private highestRev = 0;
  private handedOut = 0;

  constructor(public days: DayKeys) {
    this.queries = new StoreQueries(
      () => this.db,
      () => this.applier?.flush(),
    );
  }

  /** A fresh database and applier filed in this store's day keys. */
  prepare(db: Database): LoadedDatabase {
    // Durability is the journal's job; the in-memory file needs no rollback journal (a failed batch reloads from
    // disk instead of rolling back). sql.js keeps the file in memory but copies each page into SQLite's cache
    // through its JS file system (~10 µs a miss): a cache of up to 64 MB keeps inserts at ~25 µs at a million rows
    // instead of ~100 µs. Exclusive locking: this connection is the file's only user (it lives in this process's
    // memory), so each transaction skips taking and dropping the file lock and re-reading the header through that
    // JS file system — about half of a lone append's SQL time (bench: store). The installed database also stays in
    // one transaction (install, export): a commit writes each page it dirtied through that JS file system, a
    // quarter of a lone append's SQL time; only a snapshot needs the file current.
    db.exec(
      'PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536; ' +
        'PRAGMA locking_mode = EXCLUSIVE;',
    );
    return { db, applier: new RecordApplier(db, (ms) => this.days.key(ms)) };
  }

  /**
   * Ledger rows and rollups carry day keys in the budget's time zone. When the zone changed since the database was
   * written, moves every row still in it to its new day (archived rows keep theirs; totals never change).
   */
  rekeyDays(loaded: LoadedDatabase, log: (line: string) => void, inTransaction = false): void {
    const { db, applier } = loaded;
    const row = db.exec(`SELECT value FROM meta WHERE key = 'day_zone'`)[0]?.values[0];
    const previous = row ? String(row[0]) : undefined;
    if (previous === this.days.zone) return;
    if (previous !== undefined) {
      const moves: Array<{ id: string; from: string; to: string }> = [];
      // A row is filed on the day its reservation was held (held_at), else the day it was written.
      const scan = db.prepare('SELECT id, COALESCE(held_at, ts), day FROM ledger');
      try {
        while (scan.step()) {
          const [id, ts, from] = scan.get();
          const to = this.days.key(Number(ts));
          if (to !== from) moves.push({ id: String(id), from: String(from), to });
        }
      } finally {
        scan.free();
      }
      const queries = new StoreQueries(() => db);
      if (!inTransaction) db.exec('BEGIN');
      for (const move of moves) {
        const entry = queries.ledgerEntry(move.id)!;
        applier.addToRollups(entry, move.from, -1);
        applier.addToRollups(entry, move.to, 1);
        db.run('UPDATE ledger SET day = ? WHERE id = ?', [move.to, move.id]);
      }
      applier.flush();
      db.run('DELETE FROM rollup_model WHERE calls = 0');
      db.run('DELETE FROM rollup_task WHERE calls = 0');
      db.run('DELETE FROM rollup_client WHERE calls = 0');
      if (!inTransaction) db.exec('COMMIT');
      queries.dispose();
      log(
        `Agent Budget: day keys moved from time zone ${previous} to ${this.days.zone} (${moves.length} ledger rows).`,
      );
    }
    db.run(`INSERT OR REPLACE INTO meta (key, value) VALUES ('day_zone', ?)`, [this.days.zone]);
  }

  /** Files days in another zone from now on, moving the live database's rows. */
  setDays(days: DayKeys, log: (line: string) => void): void {
    this.days = days;
    this.rekeyDays({ db: this.db, applier: this.applier }, log, true);
  }

  /** Makes `loaded` the state, freeing the previous database. */
  install(loaded: LoadedDatabase): void {
    if (this.db) {
      this.queries.dispose();
      this.applier.dispose();
      this.db.close();
    }
    this.db = loaded.db;
    this.applier = loaded.applier;
    transaction(this.db).begin.run();
    const row = this.db.exec(
      'SELECT MAX(m) FROM (SELECT MAX(rev) AS m FROM runs UNION ALL SELECT MAX(rev) FROM tasks)',
    );
    this.highestRev = Math.max(this.highestRev, Number(row[0]?.values[0]?.[0] ?? 0));
  }

  /** Applies records and tells listeners which took effect. */
  apply(records: StoreRecord[], origin: AppliedRecords['origin'] | undefined): void {
    if (records.length === 0) return;
    const effective: StoreRecord[] = [];
    applyTo(this.db, this.applier, records, true, this.noteRev, effective);
    if (origin && effective.length > 0) this.applied.fire({ records: effective, origin });
  }

  /** The run and task records of a write, restamped with the next revisions (copies: the caller's objects stay). */
  stamp(records: StoreRecord[]): StoreRecord[] {
    let out = records;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      if (r.k !== 'run' && r.k !== 'task') continue;
      if (out === records) out = records.slice();
      out[i] =
        r.k === 'run'
          ? { k: 'run', run: { ...r.run, rev: this.nextStamp() } }
          : { k: 'task', task: { ...r.task, rev: this.nextStamp() } };
    }
    return out;
  }

  /**
   * A revision for a run or task record being built. The write path restamps it under the lock (see `stamp`), so
   * this only has to increase within the process; it reads no clock.
   */
  nextRev(): number {
    this.handedOut = Math.max(this.handedOut, this.highestRev) + 1;
    return this.handedOut;
  }

  private nextStamp(): number {
    this.highestRev += 1;
    return this.highestRev;
  }

  private readonly noteRev = (record: StoreRecord): void => {
    const rev = record.k === 'run' ? record.run.rev : record.k === 'task' ? record.task.rev : 0;
    if (rev > this.highestRev) this.highestRev = rev;
  };

  /** The database as an SQLite file (a snapshot): the open transaction is committed around it. */
  export(): Uint8Array {
    this.applier.flush();
    const t = transaction(this.db);
    t.commit.run();
    try {
      return this.db.export();
    } finally {
      t.begin.run();
    }
  }

  close(): void {
    this.queries.dispose();
    this.applier?.dispose();
    this.db?.close();
    this.applied.dispose();
  }
}

/**
 * BEGIN, COMMIT and ROLLBACK prepared once per database: `exec` parses them anew each time, an eighth of a lone
 * append's CPU. (Freed with the database: sql.js frees its statements on close.)
 */
const transactions = new WeakMap<Database, Record<'begin' | 'commit' | 'rollback', Statement>>();

function transaction(db: Database): Record<'begin' | 'commit' | 'rollback', Statement> {
  let t = transactions.get(db);
  if (!t) {
    t = { begin: db.prepare('BEGIN'), commit: db.prepare('COMMIT'), rollback: db.prepare('ROLLBACK') };
    transactions.set(db, t);
  }
  return t;
}

/** Applies `records` to a database (replay, or the live one); `effective` collects those that changed something. */
export function applyTo(
  db: Database,
  applier: RecordApplier,
  records: StoreRecord[],
  inTransaction: boolean,
  each?: (record: StoreRecord) => void,
  effective?: StoreRecord[],
): void {
  const t = inTransaction ? undefined : transaction(db);
  t?.begin.run();
  try {
    for (const record of records) {
      each?.(record);
      if (applier.apply(record)) effective?.push(record);
    }
    t?.commit.run();
  } catch (err) {
    t?.rollback.run();
    throw err;
  }
}
