import { promptTokens, totalTokens } from '../usage';
import { OWN_CLIENT, type LedgerEntry, type StoreRecord } from './records';
import type { Database, SqlValue, Statement } from './sqlite';

/**
 * Applies journal records to the database. Every statement is idempotent (see records.ts), and `apply` reports
 * whether a record changed anything, so listeners (the budget engine's counters) see each effect exactly once.
 */
export class RecordApplier {
  private readonly stmts = new Map<string, Statement>();
  /**
   * Sums added to rollup and total rows, not yet written: one entry per row (table and key), so a burst of calls to
   * the same workflow, model, run or task costs one upsert instead of one each. Derived state, like the tables it
   * goes to: whoever reads them flushes first (StoreQueries, export, re-keying days).
   */
  private readonly pending = new Map<string, { sql: string; keys: SqlValue[]; sums: number[] }>();

  constructor(
    private readonly db: Database,
    private readonly dayKey: (ms: number) => string,
  ) {}

  private run(sql: string, params: SqlValue[]): number {
    let stmt = this.stmts.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.stmts.set(sql, stmt);
    }
    stmt.run(params);
    return this.db.getRowsModified();
  }

  /** Frees prepared statements (before the database closes). Sums not flushed are dropped with the database. */
  dispose(): void {
    this.pending.clear();
    for (const stmt of this.stmts.values()) stmt.free();
    this.stmts.clear();
  }

  /** Writes the pending sums to their rows: call before reading rollups or totals, or exporting the database. */
  flush(): void {
    for (const [key, row] of this.pending) {
      this.run(row.sql, row.keys.concat(row.sums));
      this.pending.delete(key);
    }
  }

  /**
   * Adds `sums` to the row keyed by `keys`, with the next flush. `key` names the row among all pending ones (a
   * table letter, then every key but the last prefixed by its length: no two rows share one).
   */
  private accumulate(sql: string, key: string, keys: SqlValue[], sums: number[]): void {
    const row = this.pending.get(key);
    if (row) {
      for (let i = 0; i < sums.length; i++) row.sums[i]! += sums[i]!;
      return;
    }
    if (this.pending.size >= MAX_PENDING_ROWS) this.flush();
    this.pending.set(key, { sql, keys, sums: sums.slice() });
  }

  /** Returns true when the record took effect (was not already applied or superseded). */
  apply(record: StoreRecord): boolean {
    switch (record.k) {
      case 'ledger':
        return this.insertLedger(record.entry);
      case 'run': {
        const r = record.run;
        return (
          this.run(
            `INSERT INTO runs (id, workflow, status, title, created_at, updated_at, rev, owner, parent_run_id, variant, data)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(id) DO UPDATE SET workflow = excluded.workflow, status = excluded.status,
               title = excluded.title, updated_at = excluded.updated_at, rev = excluded.rev, owner = excluded.owner,
               parent_run_id = excluded.parent_run_id, variant = excluded.variant, data = excluded.data
             WHERE excluded.rev > runs.rev`,
            [
              r.id,
              r.workflow,
              r.status,
              r.title,
              r.createdAt,
              r.updatedAt,
              r.rev,
              r.owner,
              r.parentRunId,
              r.variant,
              JSON.stringify(r.data ?? null),
            ],
          ) > 0
        );
      }
      case 'task': {
        const t = record.task;
        return (
          this.run(
            `INSERT INTO tasks (id, run_id, name, parent_task_id, status, created_at, updated_at, rev, data)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at,
               rev = excluded.rev, data = excluded.data
             WHERE excluded.rev > tasks.rev`,
            [
              t.id,
              t.runId,
              t.name,
              t.parentTaskId,
              t.status,
              t.createdAt,
              t.updatedAt,
              t.rev,
              JSON.stringify(t.data ?? null),
            ],
          ) > 0
        );
      }
      case 'checkpoint': {
        const c = record.checkpoint;
        return (
          this.run(
            `INSERT INTO checkpoints (run_id, seq, ts, state) VALUES (?, ?, ?, ?)
             ON CONFLICT(run_id) DO UPDATE SET seq = excluded.seq, ts = excluded.ts, state = excluded.state
             WHERE excluded.seq > checkpoints.seq`,
            [c.runId, c.seq, c.ts, JSON.stringify(c.state ?? null)],
          ) > 0
        );
      }
      case 'reserve': {
        const r = record.reservation;
        return (
          this.run(
            `INSERT OR IGNORE INTO reservations (id, ts, owner, run_id, task_id, task, workflow, provider, model, micros,
               tokens, input_tokens, output_tokens, scopes, variant, client, status, closed_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', NULL)`,
            [
              r.id,
              r.ts,
              r.owner,
              r.runId,
              r.taskId,
              r.task,
              r.workflow,
              r.provider,
              r.model,
              r.micros,
              r.tokens,
              r.inputTokens,
              r.outputTokens,
              JSON.stringify(r.scopes),
              r.variant ?? null,
              r.client ?? null,
            ],
          ) > 0
        );
      }
      case 'settle': {
        const status = record.entry ? 'settled' : 'released';
        let changed =
          this.run(`UPDATE reservations SET status = ?, closed_at = ? WHERE id = ? AND status = 'open'`, [
            status,
            record.ts,
            record.reservationId,
          ]) > 0;
        if (!changed) {
          // Seen before its reserve record (or a duplicate): leave a closed row so a late reserve stays closed.
          this.run(
            `INSERT OR IGNORE INTO reservations (id, ts, owner, run_id, task_id, workflow, provider, model, micros, tokens,
               input_tokens, output_tokens, scopes, status, closed_at)
             VALUES (?, ?, '', NULL, NULL, '', '', '', 0, 0, 0, 0, '[]', ?, ?)`,
            [record.reservationId, record.ts, status, record.ts],
          );
        }
        if (record.entry) changed = this.insertLedger(record.entry) || changed;
        return changed;
      }
      case 'alert':
        return (
          this.run(`INSERT OR IGNORE INTO alerts_fired (scope, period_key, pct, ts) VALUES (?, ?, ?, ?)`, [
            record.scope,
            record.periodKey,
            record.pct,
            record.ts,
          ]) > 0
        );
      case 'outcome':
        return (
          this.run(
            `INSERT INTO run_outcomes (run_id, result, ts) VALUES (?, ?, ?)
             ON CONFLICT(run_id) DO UPDATE SET result = excluded.result, ts = excluded.ts
             WHERE excluded.ts > run_outcomes.ts OR (excluded.ts = run_outcomes.ts AND excluded.result > run_outcomes.result)`,
            [record.runId, record.result, record.ts],
          ) > 0
        );
      case 'archive':
        return this.run(`DELETE FROM ledger WHERE ts < ?`, [record.beforeTs]) > 0;
      default:
        return false; // a record kind from a newer version: ignored, kept in the journal
    }
  }

  private insertLedger(e: LedgerEntry): boolean {
    const u = e.usage;
    const day = this.dayKey(e.heldAt ?? e.ts);
    const inserted =
      this.run(
        `INSERT OR IGNORE INTO ledger (id, ts, day, provider, model, workflow, run_id, task_id, task, tool, variant,
           input, output, cache_read, cache_write_5m, cache_write_1h, reasoning, cost_micros, estimated, request_id,
           latency_ms, reservation_id, reserved_micros, est_input, price_source, client, held_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          e.id,
          e.ts,
          day,
          e.provider,
          e.model,
          e.workflow,
          e.runId,
          e.taskId,
          e.task,
          e.tool,
          e.variant,
          u.input,
          u.output,
          u.cacheRead,
          u.cacheWrite5m,
          u.cacheWrite1h,
          u.reasoning,
          e.costMicros,
          e.estimated ? 1 : 0,
          e.requestId,
          e.latencyMs,
          e.reservationId,
          e.reservedMicros,
          e.estimatedInputTokens,
          e.priceSource ?? null,
          e.client ?? null,
          e.heldAt ?? null,
        ],
      ) > 0;
    if (!inserted) return false;
    this.addToRollups(e, day, 1);
    const tokens = totalTokens(u);
    if (e.runId) {
      this.accumulate(
        RUN_TOTALS_UPSERT,
        `r${e.runId}`,
        [e.runId],
        [1, tokens, e.costMicros, e.estimated ? e.costMicros : 0],
      );
    }
    if (e.taskId) this.accumulate(TASK_TOTALS_UPSERT, `t${e.taskId}`, [e.taskId], [1, tokens, e.costMicros]);
    return true;
  }

  /** Adds (sign 1) or removes (sign -1) one ledger entry's contribution to both daily rollups. */
  addToRollups(e: LedgerEntry, day: string, sign: 1 | -1): void {
    const u = e.usage;
    const hasEstimate = e.estimatedInputTokens !== null && !e.estimated;
    const hasReserve = e.reservedMicros !== null && !e.estimated;
    const sums = [
      1,
      u.input,
      u.output,
      u.cacheRead,
      u.cacheWrite5m,
      u.cacheWrite1h,
      u.reasoning,
      e.costMicros,
      e.estimated ? e.costMicros : 0,
      hasEstimate ? 1 : 0,
      hasEstimate ? e.estimatedInputTokens! : 0,
      hasEstimate ? promptTokens(u) : 0,
      hasReserve ? 1 : 0,
      hasReserve ? e.reservedMicros! : 0,
      hasReserve ? e.costMicros : 0,
    ];
    if (sign < 0) for (let i = 0; i < sums.length; i++) sums[i] = -sums[i]!;
    const task = e.task ?? '';
    const tool = e.tool ?? '';
    const client = e.client ?? OWN_CLIENT;
    this.accumulate(
      MODEL_UPSERT,
      `m${day.length}:${day}${e.workflow.length}:${e.workflow}${e.model.length}:${e.model}${e.provider}`,
      [day, e.workflow, e.model, e.provider],
      sums,
    );
    this.accumulate(
      TASK_UPSERT,
      `k${day.length}:${day}${e.workflow.length}:${e.workflow}${task.length}:${task}${tool}`,
      [day, e.workflow, task, tool],
      sums,
    );
    this.accumulate(CLIENT_UPSERT, `c${day.length}:${day}${client}`, [day, client], sums);
  }
}

/** Rows with sums waiting before the oldest are written (bounds memory; a day has a few hundred at most). */
const MAX_PENDING_ROWS = 1024;

const RUN_TOTALS_UPSERT = `INSERT INTO run_totals (run_id, calls, tokens, cost_micros, estimated_micros) VALUES (?, ?, ?, ?, ?)
  ON CONFLICT(run_id) DO UPDATE SET calls = calls + excluded.calls, tokens = tokens + excluded.tokens,
    cost_micros = cost_micros + excluded.cost_micros, estimated_micros = estimated_micros + excluded.estimated_micros`;

const TASK_TOTALS_UPSERT = `INSERT INTO task_totals (task_id, calls, tokens, cost_micros) VALUES (?, ?, ?, ?)
  ON CONFLICT(task_id) DO UPDATE SET calls = calls + excluded.calls, tokens = tokens + excluded.tokens,
    cost_micros = cost_micros + excluded.cost_micros`;

const ROLLUP_SUMS = [
  'calls',
  'input',
  'output',
  'cache_read',
  'cache_write_5m',
  'cache_write_1h',
  'reasoning',
  'cost_micros',
  'estimated_micros',
  'est_calls',
  'est_input',
  'est_actual_input',
  'reserved_calls',
  'reserved_micros',
  'reserved_actual_micros',
];

function rollupUpsert(table: string, keys: readonly string[]): string {
  const columns = ['day', ...keys, ...ROLLUP_SUMS];
  return (
    `INSERT INTO ${table} (${columns.join(', ')}) ` +
    `VALUES (${columns.map(() => '?').join(', ')}) ` +
    `ON CONFLICT DO UPDATE SET ${ROLLUP_SUMS.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`
  );
}

const MODEL_UPSERT = rollupUpsert('rollup_model', ['workflow', 'model', 'provider']);
const TASK_UPSERT = rollupUpsert('rollup_task', ['workflow', 'task', 'tool']);
const CLIENT_UPSERT = rollupUpsert('rollup_client', ['client']);
