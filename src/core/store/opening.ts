import path from 'node:path';
import { StoreOpenError } from './errors';
import type { JournalFiles } from './journalFiles';
import { applyTo, type LoadedDatabase, type StoreMemory } from './memory';
import { migrate, NewerStoreError } from './schema';
import type { SnapshotFiles } from './snapshotFiles';
import type { SqlJsStatic } from './sqlite';
import type { StoreFs } from './storeFs';

/** What opening found, for one clear message when something was damaged. */
export interface OpenReport {
  /** A message for the user when something was damaged and recovered around; undefined when all was well. */
  problem?: string;
  /** Files moved to `damaged/` (never deleted by the move; damaged/ itself is bounded). */
  movedAside: string[];
  snapshotGen: number | null;
  replayedRecords: number;
  damagedLines: number;
  /** An incomplete last record (a write cut off by a crash or power cut; it was never acknowledged). */
  tornTail: boolean;
}

export function emptyReport(): OpenReport {
  return { movedAside: [], snapshotGen: null, replayedRecords: 0, damagedLines: 0, tornTail: false };
}

export interface LoadParts {
  dir: string;
  fs: StoreFs;
  engine: Pick<SqlJsStatic, 'Database'>;
  memory: StoreMemory;
  journals: JournalFiles;
  snapshots: SnapshotFiles;
  log: (line: string) => void;
}

/**
 * Loads the state from disk into a new database: the newest intact snapshot, then every journal from its
 * generation on. The caller installs it (at open, or in place of the current state on a reload). Damage is
 * recovered around and reported; anything else that stops a load (memory, a migration) throws with every file
 * left where it was.
 */
export async function loadState(
  p: LoadParts,
): Promise<{ loaded: LoadedDatabase; report: OpenReport; snapshotBytes: number }> {
  const report = emptyReport();
  const names = p.fs.readdir(p.dir);
  const snap = await p.snapshots.loadNewest(names, p.engine);
  const problems = [...snap.problems];
  report.movedAside.push(...snap.movedAside);
  let loaded: LoadedDatabase | undefined;
  try {
    let db = snap.db;
    if (!db) {
      db = new p.engine.Database();
      migrate(db);
    } else report.snapshotGen = snap.gen;
    loaded = p.memory.prepare(db);
    p.memory.rekeyDays(loaded, p.log);
    const target = loaded;
    const replay = await p.journals.replay(snap.db ? snap.gen : 0, names, (records) =>
      applyTo(target.db, target.applier, records, false),
    );
    report.replayedRecords = replay.replayedRecords;
    report.damagedLines = replay.damagedLines;
    report.tornTail = replay.tornTail;
    problems.push(...replay.problems);
    for (const journal of replay.damaged) {
      const copy = p.snapshots.copyAside(journal.name, journal.bytes, problems);
      if (copy) report.movedAside.push(copy);
    }
  } catch (err) {
    loaded?.applier.dispose();
    (loaded?.db ?? snap.db)?.close();
    if (err instanceof StoreOpenError || err instanceof NewerStoreError) throw err;
    throw new StoreOpenError(
      p.dir,
      `Agent Budget could not load its store in ${p.dir} (${(err as Error).message}). Nothing was moved or ` +
        'changed, and no call is admitted until it loads (budgets are never restarted from zero). Free memory or ' +
        'update Agent Budget, then reload.',
      { cause: err },
    );
  }
  if (problems.length > 0) {
    report.problem =
      `Agent Budget recovered its store in ${p.dir}: ${problems.join('; ')}. ` +
      `Recovered ${report.replayedRecords} journal record(s)` +
      (report.snapshotGen !== null ? ` on top of snapshot ${report.snapshotGen}` : '') +
      (report.movedAside.length ? `; the damaged files were moved to ${path.join(p.dir, 'damaged')}.` : '.');
    p.log(report.problem);
  }
  return { loaded, report, snapshotBytes: snap.bytes };
}
