import { AgentBudgetError } from '../errors';
import type { Database } from './sqlite';

/**
 * Forward-only migrations. Index i upgrades a database at version i to i + 1; `user_version` records where a file
 * is. Never edit a shipped step: add one. test/unit/store/schema.test.ts builds a database at every earlier version,
 * fills it, and migrates it to the latest.
 */
export const MIGRATIONS: ReadonlyArray<{ to: number; what: string; up: (db: Database) => void }> = [
  {
    to: 1,
    what: 'runs, tasks, checkpoints, ledger, reservations',
    up: (db) =>
      db.exec(`
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE runs (
          id TEXT PRIMARY KEY, workflow TEXT NOT NULL, status TEXT NOT NULL, title TEXT NOT NULL,
          created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, rev INTEGER NOT NULL, owner TEXT NOT NULL,
          parent_run_id TEXT, data TEXT NOT NULL);
        CREATE INDEX runs_status ON runs(status);
        CREATE INDEX runs_created ON runs(created_at);
        CREATE TABLE tasks (
          id TEXT PRIMARY KEY, run_id TEXT NOT NULL, name TEXT NOT NULL, parent_task_id TEXT, status TEXT NOT NULL,
          created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, rev INTEGER NOT NULL, data TEXT NOT NULL);
        CREATE INDEX tasks_run ON tasks(run_id);
        CREATE TABLE checkpoints (run_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, ts INTEGER NOT NULL, state TEXT NOT NULL);
        CREATE TABLE ledger (
          id TEXT PRIMARY KEY, ts INTEGER NOT NULL, day TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
          workflow TEXT NOT NULL, run_id TEXT, task_id TEXT, task TEXT,
          input INTEGER NOT NULL, output INTEGER NOT NULL, cache_read INTEGER NOT NULL,
          cache_write_5m INTEGER NOT NULL, cache_write_1h INTEGER NOT NULL, reasoning INTEGER NOT NULL,
          cost_micros INTEGER NOT NULL, estimated INTEGER NOT NULL, request_id TEXT, latency_ms INTEGER,
          reservation_id TEXT);
        CREATE INDEX ledger_ts ON ledger(ts);
        CREATE TABLE reservations (
          id TEXT PRIMARY KEY, ts INTEGER NOT NULL, owner TEXT NOT NULL, run_id TEXT, task_id TEXT, task TEXT,
          workflow TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, micros INTEGER NOT NULL,
          tokens INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
          scopes TEXT NOT NULL, status TEXT NOT NULL, closed_at INTEGER);
        CREATE INDEX reservations_open ON reservations(status) WHERE status = 'open';
      `),
  },
  {
    to: 2,
    what: 'rollups by day and per run/task, kept on write so reads do not scan the ledger',
    up: (db) => {
      db.exec(`
        CREATE TABLE rollup_daily (
          day TEXT NOT NULL, workflow TEXT NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL,
          task TEXT NOT NULL, estimated INTEGER NOT NULL,
          calls INTEGER NOT NULL, input INTEGER NOT NULL, output INTEGER NOT NULL, cache_read INTEGER NOT NULL,
          cache_write_5m INTEGER NOT NULL, cache_write_1h INTEGER NOT NULL, reasoning INTEGER NOT NULL,
          cost_micros INTEGER NOT NULL,
          PRIMARY KEY (day, workflow, model, provider, task, estimated)) WITHOUT ROWID;
        CREATE TABLE run_totals (
          run_id TEXT PRIMARY KEY, calls INTEGER NOT NULL, tokens INTEGER NOT NULL, cost_micros INTEGER NOT NULL,
          estimated_micros INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE task_totals (
          task_id TEXT PRIMARY KEY, calls INTEGER NOT NULL, tokens INTEGER NOT NULL, cost_micros INTEGER NOT NULL)
          WITHOUT ROWID;
        INSERT INTO rollup_daily
          SELECT day, workflow, model, provider, COALESCE(task, ''), estimated, COUNT(*), SUM(input), SUM(output),
                 SUM(cache_read), SUM(cache_write_5m), SUM(cache_write_1h), SUM(reasoning), SUM(cost_micros)
          FROM ledger GROUP BY 1, 2, 3, 4, 5, 6;
        INSERT INTO run_totals
          SELECT run_id, COUNT(*), SUM(input + output + cache_read + cache_write_5m + cache_write_1h + reasoning),
                 SUM(cost_micros), SUM(CASE WHEN estimated THEN cost_micros ELSE 0 END)
          FROM ledger WHERE run_id IS NOT NULL GROUP BY run_id;
        INSERT INTO task_totals
          SELECT task_id, COUNT(*), SUM(input + output + cache_read + cache_write_5m + cache_write_1h + reasoning),
                 SUM(cost_micros)
          FROM ledger WHERE task_id IS NOT NULL GROUP BY task_id;
      `);
    },
  },
  {
    to: 3,
    what: 'alerts fired; tool, variant and estimate-vs-actual columns in the ledger and rollups',
    up: (db) => {
      db.exec(`
        CREATE TABLE alerts_fired (
          scope TEXT NOT NULL, period_key TEXT NOT NULL, pct INTEGER NOT NULL, ts INTEGER NOT NULL,
          PRIMARY KEY (scope, period_key, pct)) WITHOUT ROWID;
        ALTER TABLE ledger ADD COLUMN tool TEXT;
        ALTER TABLE ledger ADD COLUMN variant TEXT;
        ALTER TABLE ledger ADD COLUMN reserved_micros INTEGER;
        ALTER TABLE ledger ADD COLUMN est_input INTEGER;
        ALTER TABLE runs ADD COLUMN variant TEXT;
        CREATE TABLE rollup_daily_v3 (
          day TEXT NOT NULL, workflow TEXT NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL,
          task TEXT NOT NULL, tool TEXT NOT NULL, estimated INTEGER NOT NULL,
          calls INTEGER NOT NULL, input INTEGER NOT NULL, output INTEGER NOT NULL, cache_read INTEGER NOT NULL,
          cache_write_5m INTEGER NOT NULL, cache_write_1h INTEGER NOT NULL, reasoning INTEGER NOT NULL,
          cost_micros INTEGER NOT NULL,
          est_calls INTEGER NOT NULL DEFAULT 0, est_input INTEGER NOT NULL DEFAULT 0,
          est_actual_input INTEGER NOT NULL DEFAULT 0,
          reserved_calls INTEGER NOT NULL DEFAULT 0, reserved_micros INTEGER NOT NULL DEFAULT 0,
          reserved_actual_micros INTEGER NOT NULL DEFAULT 0,
          PRIMARY KEY (day, workflow, model, provider, task, tool, estimated)) WITHOUT ROWID;
        INSERT INTO rollup_daily_v3 (day, workflow, model, provider, task, tool, estimated, calls, input, output,
                                     cache_read, cache_write_5m, cache_write_1h, reasoning, cost_micros)
          SELECT day, workflow, model, provider, task, '', estimated, calls, input, output, cache_read,
                 cache_write_5m, cache_write_1h, reasoning, cost_micros FROM rollup_daily;
        DROP TABLE rollup_daily;
        ALTER TABLE rollup_daily_v3 RENAME TO rollup_daily;
      `);
    },
  },
  {
    to: 4,
    what: 'two narrow rollups (day × workflow × model × provider, day × workflow × task × tool) instead of one wide one',
    // One rollup keyed by every dimension grew to hundreds of rows a day and made a month's breakdown scan tens of
    // thousands; the dimensions are never crossed between the two groups, so two narrow tables answer the same.
    up: (db) =>
      db.exec(`
        CREATE TABLE rollup_model (
          day TEXT NOT NULL, workflow TEXT NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL,
          calls INTEGER NOT NULL, input INTEGER NOT NULL, output INTEGER NOT NULL, cache_read INTEGER NOT NULL,
          cache_write_5m INTEGER NOT NULL, cache_write_1h INTEGER NOT NULL, reasoning INTEGER NOT NULL,
          cost_micros INTEGER NOT NULL, estimated_micros INTEGER NOT NULL, est_calls INTEGER NOT NULL,
          est_input INTEGER NOT NULL, est_actual_input INTEGER NOT NULL, reserved_calls INTEGER NOT NULL,
          reserved_micros INTEGER NOT NULL, reserved_actual_micros INTEGER NOT NULL,
          PRIMARY KEY (day, workflow, model, provider)) WITHOUT ROWID;
        CREATE TABLE rollup_task (
          day TEXT NOT NULL, workflow TEXT NOT NULL, task TEXT NOT NULL, tool TEXT NOT NULL,
          calls INTEGER NOT NULL, input INTEGER NOT NULL, output INTEGER NOT NULL, cache_read INTEGER NOT NULL,
          cache_write_5m INTEGER NOT NULL, cache_write_1h INTEGER NOT NULL, reasoning INTEGER NOT NULL,
          cost_micros INTEGER NOT NULL, estimated_micros INTEGER NOT NULL, est_calls INTEGER NOT NULL,
          est_input INTEGER NOT NULL, est_actual_input INTEGER NOT NULL, reserved_calls INTEGER NOT NULL,
          reserved_micros INTEGER NOT NULL, reserved_actual_micros INTEGER NOT NULL,
          PRIMARY KEY (day, workflow, task, tool)) WITHOUT ROWID;
        INSERT INTO rollup_model
          SELECT day, workflow, model, provider, SUM(calls), SUM(input), SUM(output), SUM(cache_read), SUM(cache_write_5m), SUM(cache_write_1h),
                 SUM(reasoning), SUM(cost_micros), SUM(CASE WHEN estimated = 1 THEN cost_micros ELSE 0 END),
                 SUM(est_calls), SUM(est_input), SUM(est_actual_input), SUM(reserved_calls), SUM(reserved_micros),
                 SUM(reserved_actual_micros)
          FROM rollup_daily GROUP BY day, workflow, model, provider;
        INSERT INTO rollup_task
          SELECT day, workflow, task, tool, SUM(calls), SUM(input), SUM(output), SUM(cache_read), SUM(cache_write_5m), SUM(cache_write_1h),
                 SUM(reasoning), SUM(cost_micros), SUM(CASE WHEN estimated = 1 THEN cost_micros ELSE 0 END),
                 SUM(est_calls), SUM(est_input), SUM(est_actual_input), SUM(reserved_calls), SUM(reserved_micros),
                 SUM(reserved_actual_micros)
          FROM rollup_daily GROUP BY day, workflow, task, tool;
        DROP TABLE rollup_daily;
      `),
  },
  {
    to: 5,
    what: "runs' results marked accepted or rejected (acceptance rate of variants); runs by workflow and time",
    up: (db) =>
      db.exec(`
        CREATE TABLE run_outcomes (run_id TEXT PRIMARY KEY, result TEXT NOT NULL, ts INTEGER NOT NULL) WITHOUT ROWID;
        CREATE INDEX runs_workflow_created ON runs(workflow, created_at);
      `),
  },
  {
    to: 6,
    what: 'the variant (model@prompt version) of a reserved call, for its estimated charge if it never settles',
    up: (db) => db.exec('ALTER TABLE reservations ADD COLUMN variant TEXT;'),
  },
  {
    to: 7,
    what: "where a call's rates came from when not the built-in table (policy, genai-prices, local)",
    up: (db) => db.exec('ALTER TABLE ledger ADD COLUMN price_source TEXT;'),
  },
  {
    to: 8,
    what: 'who made each call (client: a proxy token, or agent-budget for our workflows) and spend by day × client',
    // Every row before this version is our own workflows' (the proxy did not exist): the new rollup starts from
    // rollup_model, which also still counts archived rows.
    up: (db) =>
      db.exec(`
        ALTER TABLE ledger ADD COLUMN client TEXT;
        ALTER TABLE reservations ADD COLUMN client TEXT;
        CREATE TABLE rollup_client (
          day TEXT NOT NULL, client TEXT NOT NULL,
          calls INTEGER NOT NULL, input INTEGER NOT NULL, output INTEGER NOT NULL, cache_read INTEGER NOT NULL,
          cache_write_5m INTEGER NOT NULL, cache_write_1h INTEGER NOT NULL, reasoning INTEGER NOT NULL,
          cost_micros INTEGER NOT NULL, estimated_micros INTEGER NOT NULL, est_calls INTEGER NOT NULL,
          est_input INTEGER NOT NULL, est_actual_input INTEGER NOT NULL, reserved_calls INTEGER NOT NULL,
          reserved_micros INTEGER NOT NULL, reserved_actual_micros INTEGER NOT NULL,
          PRIMARY KEY (day, client)) WITHOUT ROWID;
        INSERT INTO rollup_client
          SELECT day, 'agent-budget', SUM(calls), SUM(input), SUM(output), SUM(cache_read), SUM(cache_write_5m),
                 SUM(cache_write_1h), SUM(reasoning), SUM(cost_micros), SUM(estimated_micros), SUM(est_calls),
                 SUM(est_input), SUM(est_actual_input), SUM(reserved_calls), SUM(reserved_micros),
                 SUM(reserved_actual_micros)
          FROM rollup_model GROUP BY day;
      `),
  },
  {
    to: 9,
    what: 'when the reservation a ledger row settles was held: the period the row counts in (a call across midnight)',
    up: (db) => db.exec('ALTER TABLE ledger ADD COLUMN held_at INTEGER;'),
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function schemaVersion(db: Database): number {
  return Number(db.exec('PRAGMA user_version')[0]?.values[0]?.[0] ?? 0);
}

/** A store written by a newer Agent Budget: not damage, so nothing is moved aside; the user updates instead. */
export class NewerStoreError extends AgentBudgetError {
  override readonly name = 'NewerStoreError';
  constructor(readonly found: number) {
    super(
      'store',
      `The Agent Budget store was written by a newer version (schema ${found}; this version knows ${SCHEMA_VERSION}). ` +
        'Update the extension and the CLI; nothing was changed.',
    );
  }
}

/** Brings `db` to `target` (default: latest) in one transaction; refuses a file from a newer version. */
export function migrate(db: Database, target = SCHEMA_VERSION): number {
  const from = schemaVersion(db);
  if (from > SCHEMA_VERSION) throw new NewerStoreError(from);
  if (from >= target) return from;
  db.exec('BEGIN');
  try {
    for (const step of MIGRATIONS.slice(from, target)) step.up(db);
    db.exec(`PRAGMA user_version = ${target}`);
    db.exec('COMMIT');
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
  return from;
}
