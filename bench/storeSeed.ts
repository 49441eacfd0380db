import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RecordApplier } from '../src/core/store/apply';
import { crc32, snapshotName } from '../src/core/store/journal';
import { migrate } from '../src/core/store/schema';
import { loadSqlite } from '../src/core/store/sqlite';
import { UTC_DAYS } from '../src/core/store/store';
import { randomEntry, seededRandom } from '../test/support/ledgerFixtures';

export const BENCH_TMP = path.join(__dirname, 'tmp');
/** Generated ledgers span a year ending here (the month benchmarked is November 2026). */
export const YEAR_END = Date.UTC(2026, 11, 31);

/**
 * A store folder holding `rows` ledger rows spread over a year, as one compacted snapshot (how a long-used store
 * looks) plus `journalRows` more in the live journal. Built directly through the applier (going through the
 * journal would just mean compacting hundreds of times) and cached in bench/tmp between runs.
 */
export async function seededStore(rows: number, journalRows = 0): Promise<string> {
  const dir = path.join(BENCH_TMP, `store-${rows}`, '.agent-budget');
  const marker = path.join(dir, 'seeded.json');
  if (existsSync(marker)) {
    // Back to the seeded snapshot alone: earlier runs appended and compacted.
    const seeded = (JSON.parse(readFileSync(marker, 'utf8')) as { snapshot: string }).snapshot;
    for (const f of readdirSync(dir)) {
      if (f.startsWith('journal-') || f.endsWith('.lock') || (f.startsWith('snapshot-') && f !== seeded))
        rmSync(path.join(dir, f));
    }
  } else {
    rmSync(path.dirname(dir), { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const SQL = await loadSqlite();
    const db = new SQL.Database();
    migrate(db);
    db.exec('PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF;');
    db.run(`INSERT INTO meta (key, value) VALUES ('day_zone', 'UTC')`);
    const applier = new RecordApplier(db, UTC_DAYS.key);
    const rand = seededRandom(rows);
    const span = 365 * 86_400_000;
    db.exec('BEGIN');
    for (let i = 0; i < rows; i++) {
      applier.apply({ k: 'ledger', entry: randomEntry(rand, YEAR_END - span + Math.floor((i / rows) * span)) });
      if (i % 50_000 === 49_999) {
        db.exec('COMMIT');
        db.exec('BEGIN');
      }
    }
    applier.flush();
    db.exec('COMMIT');
    applier.dispose();
    const bytes = db.export();
    db.close();
    const snapshot = snapshotName(1, crc32(bytes));
    writeFileSync(path.join(dir, snapshot), bytes);
    writeFileSync(marker, JSON.stringify({ rows, snapshot }));
  }
  if (journalRows > 0) {
    const { WorkspaceStore } = await import('../src/core/store/store');
    const store = await WorkspaceStore.open({
      dir,
      pollMs: 0,
      compactAfterBytes: Number.MAX_SAFE_INTEGER,
    });
    const rand = seededRandom(42);
    const batch = 1000;
    for (let i = 0; i < journalRows; i += batch) {
      await store.commit(
        Array.from({ length: Math.min(batch, journalRows - i) }, (_, j) => ({
          k: 'ledger' as const,
          entry: randomEntry(rand, YEAR_END - 86_400_000 + i + j),
        })),
      );
    }
    await store.close();
  }
  return dir;
}
