import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32, snapshotName } from '../../../src/core/store/journal';
import { MIGRATIONS, migrate, SCHEMA_VERSION, schemaVersion } from '../../../src/core/store/schema';
import { loadSqlite } from '../../../src/core/store/sqlite';
import { WorkspaceStore } from '../../../src/core/store/store';

/** Ledger rows as a version-1 database held them (its columns only). */
const V1_ROWS = [
  // id, ts, day, provider, model, workflow, run_id, task_id, task, input, output, cache_read, cw5m, cw1h, reasoning, cost, estimated
  [
    'a',
    Date.UTC(2026, 9, 3, 10),
    '2026-10-03',
    'anthropic',
    'claude-haiku-4-5',
    'code-review',
    'r1',
    't1',
    'review',
    1000,
    200,
    300,
    0,
    0,
    0,
    2_030,
    0,
  ],
  [
    'b',
    Date.UTC(2026, 9, 3, 11),
    '2026-10-03',
    'openai',
    'gpt-5-mini',
    'explain',
    'r2',
    't2',
    'answer',
    500,
    100,
    0,
    0,
    0,
    50,
    325,
    0,
  ],
  [
    'c',
    Date.UTC(2026, 9, 4, 9),
    '2026-10-04',
    'anthropic',
    'claude-haiku-4-5',
    'code-review',
    'r1',
    't3',
    'review',
    4000,
    900,
    0,
    100,
    0,
    0,
    8_625,
    1,
  ],
] as const;

/** A database at `version` holding V1_ROWS: written at version 1, then upgraded as a user's store would have been. */
async function databaseAt(version: number) {
  const SQL = await loadSqlite();
  const db = new SQL.Database();
  if (version === 0) return db;
  migrate(db, 1);
  for (const row of V1_ROWS) {
    db.run(
      `INSERT INTO ledger (id, ts, day, provider, model, workflow, run_id, task_id, task, input, output, cache_read,
         cache_write_5m, cache_write_1h, reasoning, cost_micros, estimated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
      [...row],
    );
  }
  db.run(
    `INSERT INTO runs (id, workflow, status, title, created_at, updated_at, rev, owner, parent_run_id, data)
     VALUES ('r1', 'code-review', 'completed', 'Review', 1, 2, 1, 'h:1:x', NULL, '{}')`,
  );
  migrate(db, version);
  return db;
}

describe('store schema and migrations', () => {
  it('numbers the migrations 1..N', () => {
    assert.deepEqual(
      MIGRATIONS.map((m) => m.to),
      Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
    );
  });

  for (let from = 0; from < SCHEMA_VERSION; from++) {
    it(`migrates a version-${from} database to version ${SCHEMA_VERSION} with its data and rollups intact`, async () => {
      const db = await databaseAt(from);
      assert.equal(schemaVersion(db), from);
      assert.equal(migrate(db), from);
      assert.equal(schemaVersion(db), SCHEMA_VERSION);
      const rows = from >= 1 ? V1_ROWS : [];
      const sum = (sql: string) => Number(db.exec(sql)[0]?.values[0]?.[0] ?? 0);
      assert.equal(sum('SELECT COUNT(*) FROM ledger'), rows.length);
      for (const rollup of ['rollup_model', 'rollup_task']) {
        assert.equal(
          sum(`SELECT COALESCE(SUM(cost_micros), 0) FROM ${rollup}`),
          rows.reduce((n, r) => n + r[15], 0),
          rollup,
        );
        assert.equal(sum(`SELECT COALESCE(SUM(estimated_micros), 0) FROM ${rollup}`), from >= 1 ? 8_625 : 0, rollup);
        assert.equal(sum(`SELECT COALESCE(SUM(calls), 0) FROM ${rollup}`), rows.length, rollup);
      }
      assert.equal(
        sum(`SELECT COALESCE(SUM(cost_micros), 0) FROM run_totals WHERE run_id = 'r1'`),
        from >= 1 ? 2_030 + 8_625 : 0,
      );
      assert.equal(sum(`SELECT COALESCE(SUM(estimated_micros), 0) FROM run_totals`), from >= 1 ? 8_625 : 0);
      // The newest columns exist and default sensibly.
      db.exec(`SELECT tool, variant, reserved_micros, est_input FROM ledger LIMIT 1`);
      db.exec(`SELECT scope, period_key, pct FROM alerts_fired LIMIT 1`);
      // Schema 5: marked results, empty after an upgrade (no run had one before).
      assert.equal(sum('SELECT COUNT(*) FROM run_outcomes'), 0);
      db.close();
    });

    it(`opens a version-${from} snapshot through the store and reads it with the query API`, async () => {
      const db = await databaseAt(from);
      const bytes = db.export();
      db.close();
      const root = mkdtempSync(path.join(tmpdir(), 'ab-schema-'));
      try {
        const dir = path.join(root, '.agent-budget');
        mkdirSync(dir);
        writeFileSync(path.join(dir, snapshotName(1, crc32(bytes))), bytes);
        const store = await WorkspaceStore.open({ dir, pollMs: 0 });
        const october = { fromDay: '2026-10-01', toDay: '2026-10-31' };
        const byWorkflow = store.queries.breakdown('workflow', october).map((r) => [r.key, r.costMicros, r.calls]);
        assert.deepEqual(
          byWorkflow,
          from >= 1
            ? [
                ['code-review', 10_655, 2],
                ['explain', 325, 1],
              ]
            : [],
        );
        const byTask = store.queries.breakdown('task', october).map((r) => [r.key, r.costMicros]);
        assert.deepEqual(
          byTask,
          from >= 1
            ? [
                ['review', 10_655],
                ['answer', 325],
              ]
            : [],
        );
        assert.equal(store.queries.totals(october).estimatedMicros, from >= 1 ? 8_625 : 0);
        if (from >= 1) assert.equal(store.queries.getRun('r1')?.costMicros, 10_655);
        // Runs written before schema 5 read as unmarked, and can be marked after the upgrade.
        const runs = store.queries.runStats(0, Number.MAX_SAFE_INTEGER);
        assert.deepEqual(
          runs.map((r) => [r.workflow, r.status, r.result, r.runs, r.costMicros]),
          from >= 1 ? [['code-review', 'completed', null, 1, 10_655]] : [],
        );
        if (from >= 1) {
          await store.commit([{ k: 'outcome', runId: 'r1', result: 'accepted', ts: 5 }]);
          assert.equal(store.queries.runResult('r1')?.result, 'accepted');
        }
        await store.close();
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
  }
});
