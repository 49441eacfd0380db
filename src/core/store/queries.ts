import type { TokenUsage } from '../usage';
import type { Checkpoint, LedgerEntry, Reservation, RunResult, RunState, RunStatus, TaskState } from './records';
import type { Database, SqlValue, Statement } from './sqlite';

/** The dimensions spend can be broken down by; each is a column of the daily rollup. */
export type SpendDimension = 'workflow' | 'model' | 'provider' | 'task' | 'tool' | 'client' | 'day';
export const SPEND_DIMENSIONS: readonly SpendDimension[] = [
  'workflow',
  'model',
  'provider',
  'task',
  'tool',
  'client',
  'day',
];

/** A date range of day keys (`YYYY-MM-DD` in the store's time zone), both ends inclusive. */
export interface DayRange {
  fromDay: string;
  toDay: string;
}

export interface SpendFilter {
  workflow?: string;
  model?: string;
  provider?: string;
  /** Who made the calls: a proxy token's name, or `agent-budget` (cannot be combined with the other filters). */
  client?: string;
}

export interface SpendTotals {
  costMicros: number;
  /** Part of `costMicros` charged from reservations because usage never arrived. */
  estimatedMicros: number;
  calls: number;
  /** All token kinds summed (see usage.ts `totalTokens`). */
  tokens: number;
  usage: TokenUsage;
  /** Calls with a pre-call prompt estimate: the estimate and the actual prompt tokens of those calls. */
  estimate: { calls: number; estimatedInput: number; actualInput: number };
  /** Calls with a reservation: what was held and what they actually cost. */
  reserved: { calls: number; reservedMicros: number; actualMicros: number };
}

export interface SpendRow extends SpendTotals {
  key: string;
}

/** Runs of one workflow, variant, status and marked result, with their whole-run totals (see `runStats`). */
export interface RunStatsRow {
  workflow: string;
  /** `<model>@<prompt version>` as the runner recorded it; null for runs without one. */
  variant: string | null;
  status: RunStatus;
  /** The result as marked by the user, or null when unmarked. */
  result: RunResult | null;
  runs: number;
  costMicros: number;
  estimatedMicros: number;
  tokens: number;
  calls: number;
}

export interface RunSummary extends RunState {
  costMicros: number;
  estimatedMicros: number;
  tokens: number;
  calls: number;
}

const TOTAL_COLUMNS = `SUM(cost_micros), SUM(estimated_micros), SUM(calls),
  SUM(input), SUM(output), SUM(cache_read), SUM(cache_write_5m), SUM(cache_write_1h), SUM(reasoning),
  SUM(est_calls), SUM(est_input), SUM(est_actual_input), SUM(reserved_calls), SUM(reserved_micros),
  SUM(reserved_actual_micros)`;

function totalsFrom(row: SqlValue[], offset: number): SpendTotals {
  const n = (i: number) => Number(row[offset + i] ?? 0);
  const usage: TokenUsage = {
    input: n(3),
    output: n(4),
    cacheRead: n(5),
    cacheWrite5m: n(6),
    cacheWrite1h: n(7),
    reasoning: n(8),
  };
  return {
    costMicros: n(0),
    estimatedMicros: n(1),
    calls: n(2),
    tokens: usage.input + usage.output + usage.cacheRead + usage.cacheWrite5m + usage.cacheWrite1h + usage.reasoning,
    usage,
    estimate: { calls: n(9), estimatedInput: n(10), actualInput: n(11) },
    reserved: { calls: n(12), reservedMicros: n(13), actualMicros: n(14) },
  };
}

/**
 * The one read API over the store: the budget engine, the status bar, the panel, the runs tree, the CLI and
 * reports all ask here, and no SQL lives outside src/core/store. Spend reads go to the daily rollup, so their cost
 * depends on days × distinct keys, never on the number of ledger rows.
 */
export class StoreQueries {
  private readonly stmts = new Map<string, Statement>();

  /** `beforeRead`: brings derived tables up to date (the applier's pending sums, see apply.ts). */
  constructor(
    private readonly db: () => Database,
    private readonly beforeRead?: () => void,
  ) {}

  dispose(): void {
    for (const stmt of this.stmts.values()) stmt.free();
    this.stmts.clear();
  }

  private all(sql: string, params: SqlValue[] = []): SqlValue[][] {
    this.beforeRead?.();
    let stmt = this.stmts.get(sql);
    if (!stmt) {
      stmt = this.db().prepare(sql);
      this.stmts.set(sql, stmt);
    }
    try {
      stmt.bind(params);
      const rows: SqlValue[][] = [];
      while (stmt.step()) rows.push(stmt.get());
      return rows;
    } finally {
      stmt.reset();
    }
  }

  /**
   * Which rollup answers: `rollup_model` (day × workflow × model × provider), `rollup_task` (day × workflow ×
   * task × tool) or `rollup_client` (day × client). Task and tool spend cannot be narrowed to a model or provider,
   * and client spend to anything but days.
   */
  private table(dimensions: SpendDimension[], filter: SpendFilter = {}): string {
    if (dimensions.includes('client') || filter.client !== undefined) {
      const other = dimensions.some((d) => d !== 'client' && d !== 'day');
      if (other || filter.workflow !== undefined || filter.model !== undefined || filter.provider !== undefined)
        throw new Error('Spend by client can only be combined with days.');
      return 'rollup_client';
    }
    if (!dimensions.some((d) => d === 'task' || d === 'tool')) return 'rollup_model';
    if (
      dimensions.some((d) => d === 'model' || d === 'provider') ||
      filter.model !== undefined ||
      filter.provider !== undefined
    ) {
      throw new Error('Spend by task or tool cannot be combined with model or provider.');
    }
    return 'rollup_task';
  }

  private where(range: DayRange, filter: SpendFilter = {}): { sql: string; params: SqlValue[] } {
    const parts = ['day >= ?', 'day <= ?'];
    const params: SqlValue[] = [range.fromDay, range.toDay];
    for (const key of ['workflow', 'model', 'provider', 'client'] as const) {
      if (filter[key] !== undefined) {
        parts.push(`${key} = ?`);
        params.push(filter[key]!);
      }
    }
    return { sql: parts.join(' AND '), params };
  }

  /** Spend in a day range, optionally for one workflow / model / provider, or one client. */
  totals(range: DayRange, filter?: SpendFilter): SpendTotals {
    const w = this.where(range, filter);
    return totalsFrom(
      this.all(`SELECT ${TOTAL_COLUMNS} FROM ${this.table([], filter)} WHERE ${w.sql}`, w.params)[0] ?? [],
      0,
    );
  }

  /**
   * Spend grouped by one dimension, largest first (`day` sorts by date). Calls without a task or tool are under ''.
   */
  breakdown(dimension: SpendDimension, range: DayRange, filter?: SpendFilter): SpendRow[] {
    const w = this.where(range, filter);
    const order = dimension === 'day' ? 'day ASC' : '2 DESC, day_key ASC';
    const column = dimension === 'day' ? 'day' : dimension;
    const rows = this.all(
      `SELECT ${column} AS day_key, ${TOTAL_COLUMNS} FROM ${this.table([dimension], filter)} WHERE ${w.sql}
       GROUP BY ${column} ORDER BY ${order}`,
      w.params,
    );
    return rows.map((r) => ({ key: String(r[0]), ...totalsFrom(r, 1) }));
  }

  /** Spend grouped by two dimensions (e.g. workflow × day for a chart), unordered. */
  breakdown2(
    a: SpendDimension,
    b: SpendDimension,
    range: DayRange,
    filter?: SpendFilter,
  ): Array<SpendRow & { key2: string }> {
    const w = this.where(range, filter);
    const rows = this.all(
      `SELECT ${a}, ${b}, ${TOTAL_COLUMNS} FROM ${this.table([a, b], filter)} WHERE ${w.sql} GROUP BY ${a}, ${b}`,
      w.params,
    );
    return rows.map((r) => ({ key: String(r[0]), key2: String(r[1]), ...totalsFrom(r, 2) }));
  }

  /** Earliest and latest day with spend, or undefined for an empty store. */
  spendDays(): { first: string; last: string } | undefined {
    const row = this.all('SELECT MIN(day), MAX(day) FROM rollup_model')[0];
    return row && row[0] !== null ? { first: String(row[0]), last: String(row[1]) } : undefined;
  }

  listRuns(options: { status?: RunStatus[]; limit?: number; workflow?: string } = {}): RunSummary[] {
    const parts: string[] = [];
    const params: SqlValue[] = [];
    if (options.status?.length) {
      parts.push(`r.status IN (${options.status.map(() => '?').join(', ')})`);
      params.push(...options.status);
    }
    if (options.workflow) {
      parts.push('r.workflow = ?');
      params.push(options.workflow);
    }
    params.push(options.limit ?? 500);
    const rows = this.all(
      `SELECT ${RUN_COLUMNS}, COALESCE(t.cost_micros, 0), COALESCE(t.estimated_micros, 0), COALESCE(t.tokens, 0), COALESCE(t.calls, 0)
       FROM runs r LEFT JOIN run_totals t ON t.run_id = r.id
       ${parts.length ? `WHERE ${parts.join(' AND ')}` : ''}
       ORDER BY r.created_at DESC, r.id DESC LIMIT ?`,
      params,
    );
    return rows.map(runSummaryFrom);
  }

  /** How many runs there are (with one of these statuses), without reading them. */
  countRuns(status: RunStatus[] = []): number {
    const where = status.length ? `WHERE status IN (${status.map(() => '?').join(', ')})` : '';
    return Number(this.all(`SELECT COUNT(*) FROM runs ${where}`, status)[0]?.[0] ?? 0);
  }

  getRun(id: string): RunSummary | undefined {
    const row = this.all(
      `SELECT ${RUN_COLUMNS}, COALESCE(t.cost_micros, 0), COALESCE(t.estimated_micros, 0), COALESCE(t.tokens, 0), COALESCE(t.calls, 0)
       FROM runs r LEFT JOIN run_totals t ON t.run_id = r.id WHERE r.id = ?`,
      [id],
    )[0];
    return row ? runSummaryFrom(row) : undefined;
  }

  /** Runs whose id starts with `prefix` (for short ids typed in a terminal). */
  findRuns(prefix: string): string[] {
    return this.all(`SELECT id FROM runs WHERE substr(id, 1, ?) = ? LIMIT 5`, [prefix.length, prefix]).map((r) =>
      String(r[0]),
    );
  }

  tasksOfRun(runId: string): Array<TaskState & { costMicros: number; tokens: number; calls: number }> {
    return this.all(
      `SELECT k.id, k.run_id, k.name, k.parent_task_id, k.status, k.created_at, k.updated_at, k.rev, k.data,
              COALESCE(t.cost_micros, 0), COALESCE(t.tokens, 0), COALESCE(t.calls, 0)
       FROM tasks k LEFT JOIN task_totals t ON t.task_id = k.id WHERE k.run_id = ? ORDER BY k.created_at, k.id`,
      [runId],
    ).map((r) => ({
      id: String(r[0]),
      runId: String(r[1]),
      name: String(r[2]),
      parentTaskId: r[3] === null ? null : String(r[3]),
      status: String(r[4]) as RunStatus,
      createdAt: Number(r[5]),
      updatedAt: Number(r[6]),
      rev: Number(r[7]),
      data: JSON.parse(String(r[8])),
      costMicros: Number(r[9]),
      tokens: Number(r[10]),
      calls: Number(r[11]),
    }));
  }

  checkpoint(runId: string): Checkpoint | undefined {
    const row = this.all('SELECT run_id, seq, ts, state FROM checkpoints WHERE run_id = ?', [runId])[0];
    return row
      ? { runId: String(row[0]), seq: Number(row[1]), ts: Number(row[2]), state: JSON.parse(String(row[3])) }
      : undefined;
  }

  runTotals(runId: string): { calls: number; tokens: number; costMicros: number; estimatedMicros: number } {
    const row = this.all('SELECT calls, tokens, cost_micros, estimated_micros FROM run_totals WHERE run_id = ?', [
      runId,
    ])[0];
    return {
      calls: Number(row?.[0] ?? 0),
      tokens: Number(row?.[1] ?? 0),
      costMicros: Number(row?.[2] ?? 0),
      estimatedMicros: Number(row?.[3] ?? 0),
    };
  }

  taskTotals(taskId: string): { calls: number; tokens: number; costMicros: number } {
    const row = this.all('SELECT calls, tokens, cost_micros FROM task_totals WHERE task_id = ?', [taskId])[0];
    return { calls: Number(row?.[0] ?? 0), tokens: Number(row?.[1] ?? 0), costMicros: Number(row?.[2] ?? 0) };
  }

  /**
   * Calls, tokens and cost of a task together with every sub-agent task below it (tasks.parent_task_id, any depth):
   * what a parent's token scope has used when its children's calls count against it (sub-agent budgets on resume).
   */
  taskTreeTotals(taskId: string): { calls: number; tokens: number; costMicros: number } {
    const row = this.all(
      `WITH RECURSIVE tree(id) AS (
         SELECT ?
         UNION ALL
         SELECT k.id FROM tasks k JOIN tree ON k.parent_task_id = tree.id
          WHERE k.run_id = (SELECT run_id FROM tasks WHERE id = ?))
       SELECT COALESCE(SUM(t.calls), 0), COALESCE(SUM(t.tokens), 0), COALESCE(SUM(t.cost_micros), 0)
       FROM tree JOIN task_totals t ON t.task_id = tree.id`,
      [taskId, taskId],
    )[0];
    return { calls: Number(row?.[0] ?? 0), tokens: Number(row?.[1] ?? 0), costMicros: Number(row?.[2] ?? 0) };
  }

  /**
   * Token usage by kind of one run's ledger rows (its calls, estimated charges and tool charges). `sinceMs` is the
   * run's creation time: the range keeps the scan on the ledger's time index instead of the whole table.
   */
  runUsage(runId: string, sinceMs: number): TokenUsage {
    const row = this.all(
      `SELECT COALESCE(SUM(input), 0), COALESCE(SUM(output), 0), COALESCE(SUM(cache_read), 0), COALESCE(SUM(cache_write_5m), 0),
              COALESCE(SUM(cache_write_1h), 0), COALESCE(SUM(reasoning), 0)
       FROM ledger WHERE ts >= ? AND run_id = ?`,
      [sinceMs, runId],
    )[0];
    const n = (i: number) => Number(row?.[i] ?? 0);
    return { input: n(0), output: n(1), cacheRead: n(2), cacheWrite5m: n(3), cacheWrite1h: n(4), reasoning: n(5) };
  }

  openReservations(): Reservation[] {
    return this.all(
      `SELECT id, ts, owner, run_id, task_id, task, workflow, provider, model, micros, tokens, input_tokens, output_tokens,
              scopes, variant, client
       FROM reservations WHERE status = 'open' ORDER BY ts`,
    ).map((r) => ({
      id: String(r[0]),
      ts: Number(r[1]),
      owner: String(r[2]),
      runId: str(r[3]),
      taskId: str(r[4]),
      task: str(r[5]),
      workflow: String(r[6]),
      provider: String(r[7]),
      model: String(r[8]),
      micros: Number(r[9]),
      tokens: Number(r[10]),
      inputTokens: Number(r[11]),
      outputTokens: Number(r[12]),
      scopes: JSON.parse(String(r[13])) as string[],
      variant: str(r[14]),
      ...(r[15] === null || r[15] === undefined ? {} : { client: String(r[15]) }),
    }));
  }

  reservationStatus(id: string): 'open' | 'settled' | 'released' | undefined {
    const row = this.all('SELECT status FROM reservations WHERE id = ?', [id])[0];
    return row ? (String(row[0]) as 'open' | 'settled' | 'released') : undefined;
  }

  /**
   * Runs created in `fromMs <= created_at < toMs` (optionally of one workflow), counted by workflow, variant,
   * status and marked result, each with its runs' whole totals (a run is short, so its spend falls in the range
   * it started in; this reads runs and run totals, never the ledger, and survives ledger archiving).
   */
  runStats(fromMs: number, toMs: number, filter: { workflow?: string } = {}): RunStatsRow[] {
    const params: SqlValue[] = [fromMs, toMs];
    let where = 'r.created_at >= ? AND r.created_at < ?';
    if (filter.workflow !== undefined) {
      where += ' AND r.workflow = ?';
      params.push(filter.workflow);
    }
    return this.all(
      `SELECT r.workflow, r.variant, r.status, o.result, COUNT(*), COALESCE(SUM(t.cost_micros), 0),
              COALESCE(SUM(t.estimated_micros), 0), COALESCE(SUM(t.tokens), 0), COALESCE(SUM(t.calls), 0)
       FROM runs r LEFT JOIN run_totals t ON t.run_id = r.id LEFT JOIN run_outcomes o ON o.run_id = r.id
       WHERE ${where}
       GROUP BY r.workflow, r.variant, r.status, o.result
       ORDER BY r.workflow, r.variant, r.status, o.result`,
      params,
    ).map((r) => ({
      workflow: String(r[0]),
      variant: str(r[1]),
      status: String(r[2]) as RunStatus,
      result: str(r[3]) as RunResult | null,
      runs: Number(r[4]),
      costMicros: Number(r[5]),
      estimatedMicros: Number(r[6]),
      tokens: Number(r[7]),
      calls: Number(r[8]),
    }));
  }

  /** The most expensive runs created in `fromMs <= created_at < toMs`, costliest first (ties: newest first). */
  topRuns(fromMs: number, toMs: number, limit = 10): RunSummary[] {
    return this.all(
      `SELECT ${RUN_COLUMNS}, COALESCE(t.cost_micros, 0), COALESCE(t.estimated_micros, 0), COALESCE(t.tokens, 0), COALESCE(t.calls, 0)
       FROM runs r LEFT JOIN run_totals t ON t.run_id = r.id
       WHERE r.created_at >= ? AND r.created_at < ?
       ORDER BY COALESCE(t.cost_micros, 0) DESC, r.created_at DESC, r.id DESC LIMIT ?`,
      [fromMs, toMs, limit],
    ).map(runSummaryFrom);
  }

  /** The result a run was marked with, if any. */
  runResult(runId: string): { result: RunResult; ts: number } | undefined {
    const row = this.all('SELECT result, ts FROM run_outcomes WHERE run_id = ?', [runId])[0];
    return row ? { result: String(row[0]) as RunResult, ts: Number(row[1]) } : undefined;
  }

  /** Raw ledger rows with `fromMs <= ts < toMs` (what an export of the range writes). */
  ledgerCountBetween(fromMs: number, toMs: number): number {
    return Number(this.all('SELECT COUNT(*) FROM ledger WHERE ts >= ? AND ts < ?', [fromMs, toMs])[0]?.[0] ?? 0);
  }

  alertFired(scope: string, periodKey: string, pct: number): boolean {
    return (
      this.all('SELECT 1 FROM alerts_fired WHERE scope = ? AND period_key = ? AND pct = ?', [scope, periodKey, pct])
        .length > 0
    );
  }

  /** Every threshold alert already sent (carried into the per-user store when an older store is imported). */
  firedAlerts(): Array<{ scope: string; periodKey: string; pct: number; ts: number }> {
    return this.all('SELECT scope, period_key, pct, ts FROM alerts_fired ORDER BY ts').map((r) => ({
      scope: String(r[0]),
      periodKey: String(r[1]),
      pct: Number(r[2]),
      ts: Number(r[3]),
    }));
  }

  ledgerCount(): number {
    return Number(this.all('SELECT COUNT(*) FROM ledger')[0]?.[0] ?? 0);
  }

  ledgerEntry(id: string): LedgerEntry | undefined {
    const row = this.all(`SELECT ${LEDGER_COLUMNS} FROM ledger WHERE id = ?`, [id])[0];
    return row ? ledgerFrom(row) : undefined;
  }

  /**
   * Raw ledger rows with `fromMs <= ts < toMs` in time order, `pageSize` at a time, so a million rows can be
   * exported without holding them all (keyset pagination on (ts, id)).
   */
  *ledgerRows(fromMs: number, toMs: number, pageSize = 5_000): Generator<LedgerEntry[]> {
    let afterTs = fromMs - 1;
    let afterId = '';
    for (;;) {
      const rows = this.all(
        `SELECT ${LEDGER_COLUMNS} FROM ledger
         WHERE ts >= ? AND ts < ? AND (ts > ? OR (ts = ? AND id > ?)) ORDER BY ts, id LIMIT ?`,
        [fromMs, toMs, afterTs, afterTs, afterId, pageSize],
      );
      if (rows.length === 0) return;
      const page = rows.map(ledgerFrom);
      yield page;
      const last = page[page.length - 1]!;
      afterTs = last.ts;
      afterId = last.id;
      if (rows.length < pageSize) return;
    }
  }
}

const RUN_COLUMNS =
  'r.id, r.workflow, r.status, r.title, r.created_at, r.updated_at, r.rev, r.owner, r.parent_run_id, r.variant, r.data';

function runSummaryFrom(r: SqlValue[]): RunSummary {
  return {
    id: String(r[0]),
    workflow: String(r[1]),
    status: String(r[2]) as RunStatus,
    title: String(r[3]),
    createdAt: Number(r[4]),
    updatedAt: Number(r[5]),
    rev: Number(r[6]),
    owner: String(r[7]),
    parentRunId: r[8] === null ? null : String(r[8]),
    variant: r[9] === null ? null : String(r[9]),
    data: JSON.parse(String(r[10])),
    costMicros: Number(r[11]),
    estimatedMicros: Number(r[12]),
    tokens: Number(r[13]),
    calls: Number(r[14]),
  };
}

const LEDGER_COLUMNS = `id, ts, provider, model, workflow, run_id, task_id, task, tool, variant, input, output, cache_read,
  cache_write_5m, cache_write_1h, reasoning, cost_micros, estimated, request_id, latency_ms, reservation_id,
  reserved_micros, est_input, price_source, client, held_at`;

const str = (v: SqlValue | undefined) => (v === null || v === undefined ? null : String(v));
const num = (v: SqlValue | undefined) => (v === null || v === undefined ? null : Number(v));

function ledgerFrom(r: SqlValue[]): LedgerEntry {
  return {
    id: String(r[0]),
    ts: Number(r[1]),
    provider: String(r[2]),
    model: String(r[3]),
    workflow: String(r[4]),
    runId: str(r[5]),
    taskId: str(r[6]),
    task: str(r[7]),
    tool: str(r[8]),
    variant: str(r[9]),
    usage: {
      input: Number(r[10]),
      output: Number(r[11]),
      cacheRead: Number(r[12]),
      cacheWrite5m: Number(r[13]),
      cacheWrite1h: Number(r[14]),
      reasoning: Number(r[15]),
    },
    costMicros: Number(r[16]),
    estimated: Number(r[17]) === 1,
    requestId: str(r[18]),
    latencyMs: num(r[19]),
    reservationId: str(r[20]),
    reservedMicros: num(r[21]),
    estimatedInputTokens: num(r[22]),
    ...(str(r[23]) !== null ? { priceSource: str(r[23]) } : {}),
    ...(r[24] === null || r[24] === undefined ? {} : { client: String(r[24]) }),
    ...(r[25] === null || r[25] === undefined ? {} : { heldAt: Number(r[25]) }),
  };
}
