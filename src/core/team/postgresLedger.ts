import path from 'node:path';
import type { Pool as PgPool, PoolConfig, QueryConfig } from 'pg';
import type { Micros } from '../money';
import { classifyTeamError, isDroppedConnection, isRetryable } from './errors';
import { migrate, type SqlClient } from './schema';
import { capsArray, periodKeys, scopeUses, teamWindows } from './scopes';
import type {
  TeamAdmitRequest,
  TeamAdmitResult,
  TeamLedger,
  TeamLedgerRow,
  TeamRenewResult,
  TeamReport,
  TeamScopeUse,
  TeamShipResult,
  TeamSpendRow,
  TeamStatusRequest,
} from './types';

/** What PostgresTeamLedger needs of node-postgres (the real module, or what a test injects). */
export interface PgDriver {
  Pool: new (config: PoolConfig) => PgPool;
}

let driver: PgDriver | undefined;

/**
 * Loads node-postgres on first use. In the bundles `__dirname` is `dist/`, where esbuild writes `pgDriver.js` as its
 * own file; under tsx it is this folder, where `pgDriver.ts` is. The path is computed so esbuild does not pull the
 * driver into the extension's or the CLI's bundle.
 */
export function loadPgDriver(): PgDriver {
  driver ??= require(path.join(__dirname, 'pgDriver')) as PgDriver;
  return driver;
}

export interface PostgresTeamLedgerOptions {
  /** The connection string (the user's secret: AGENT_BUDGET_TEAM_DATABASE_URL or SecretStorage). */
  url: string;
  /** The team's period zone (scopes.ts teamTimeZone). */
  timeZone: string;
  /** How long a hold lives without renewal (default 2 minutes; renew well within it while a call is in flight). */
  leaseMs?: number;
  /** How long to wait for a connection before calling the ledger unreachable (default 3 s). */
  connectTimeoutMs?: number;
  /** Server- and client-side limit of one statement (default 10 s). */
  statementTimeoutMs?: number;
  /** Connections kept per process (default 4). */
  maxConnections?: number;
  /** Rows per ship round trip (default 500). */
  shipBatch?: number;
  driver?: PgDriver;
}

export const DEFAULT_LEASE_MS = 120_000;
const DEADLOCK_RETRIES = 3;

/**
 * The hot calls, as named (prepared) statements: each connection parses and plans them once. Each is one round
 * trip that answers only once its effect is on disk (schemaV2.ts). The trailing NULLs fill the INOUT results.
 */
const ADMIT: QueryConfig = {
  name: 'agent_budget.admit_durably',
  text: 'CALL agent_budget.admit_durably($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, NULL, NULL, NULL)',
};
const SHIP: QueryConfig = {
  name: 'agent_budget.ship_durably',
  text: 'CALL agent_budget.ship_durably($1::jsonb, $2, NULL, NULL, NULL)',
};
/**
 * A settle: the same rows' work as a ship, committed without waiting for the disk (the counters' locks go at once
 * and every machine sees the cost), answered without a flush. The row is in the local outbox already and stays
 * pending there until the drain that follows every settle confirms it (CONFIRM, whose flush makes this commit durable
 * too); a crash before that loses the settle and restores the hold it replaced, and the drain ships the row again.
 * `ship` (v1's function on the v2 tables) runs in this statement's transaction, so the transaction-local setting
 * applies to its commit.
 */
const SETTLE: QueryConfig = {
  name: 'agent_budget.settle_visible',
  text:
    'SELECT s.counted AS r_counted, s.duplicates AS r_duplicates, s.conflicts AS r_conflicts ' +
    "FROM set_config('synchronous_commit', 'off', true) AS c, agent_budget.ship($1::jsonb, false) AS s",
};
/**
 * The rows of these ids the ledger has, in a transaction that commits synchronously (agent_budget.await_flush): it
 * answers once the WAL is on disk past its own commit, and so past the commit of every row it saw.
 */
const CONFIRM: QueryConfig = {
  name: 'agent_budget.confirm_rows',
  text: 'SELECT agent_budget.await_flush(), ARRAY(SELECT l.id FROM agent_budget.ledger l WHERE l.id = ANY ($1::text[])) AS present',
};
const RELEASE: QueryConfig = {
  name: 'agent_budget.release_durably',
  text: 'CALL agent_budget.release_durably($1, NULL)',
};

/**
 * The team ledger on PostgreSQL (schema.ts): one round trip per admission, settlement, renewal, confirm or ship
 * batch, each answered only once it is on disk but the settlement (see SETTLE).
 */
export class PostgresTeamLedger implements TeamLedger {
  private readonly pool: PgPool;
  private schema: Promise<void> | undefined;
  readonly leaseMs: number;
  private readonly shipBatch: number;

  constructor(private readonly options: PostgresTeamLedgerOptions) {
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.shipBatch = options.shipBatch ?? 500;
    const timeout = options.statementTimeoutMs ?? 10_000;
    this.pool = new (options.driver ?? loadPgDriver()).Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 4,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 3_000,
      idleTimeoutMillis: 30_000,
      statement_timeout: timeout,
      query_timeout: timeout + 1_000,
      keepAlive: true,
      application_name: 'agent-budget',
    });
    // An idle connection dropped by the server (a restart) must not crash the process: the next query reconnects.
    this.pool.on('error', () => undefined);
  }

  async admit(request: TeamAdmitRequest): Promise<TeamAdmitResult> {
    checkMicros(request.micros, 'micros');
    const min = request.minMicros ?? request.micros;
    checkMicros(min, 'minMicros');
    if (min > request.micros) throw new TypeError(`team ledger: minMicros ${min} > micros ${request.micros}`);
    const windows = teamWindows(request.at, this.options.timeZone);
    const [r] = await this.query<{
      r_keys: string[];
      r_used: string[];
      r_held: string[];
      r_hold: string | null;
      r_expires_ms: string;
    }>(ADMIT, [
      request.reservationId,
      request.member,
      request.machine,
      periodKeys(windows),
      capsArray(request.team, request.memberCaps),
      request.micros,
      min,
      Math.round(request.leaseMs ?? this.leaseMs),
    ]);
    if (!r) throw new Error('team ledger: agent_budget.admit_durably answered nothing');
    const rows = r.r_keys.map((key, i) => ({ key, used_micros: r.r_used[i]!, held_micros: r.r_held[i]! }));
    const scopes = scopeUses(rows.map(use), request.team, request.memberCaps, windows, request.tier);
    if (r.r_hold !== null) return { ok: true, micros: Number(r.r_hold), scopes, expiresAt: Number(r.r_expires_ms) };
    // The tightest capped scope is the one that refused (the database only says no when one is short of `min`).
    let blocked = scopes[0]!;
    let least = Infinity;
    for (const s of scopes) {
      if (s.limit === undefined) continue;
      const room = s.limit - s.used - s.held;
      if (room < least) [least, blocked] = [room, s];
    }
    return { ok: false, blocked, scopes };
  }

  async settle(reservationId: string, row: TeamLedgerRow): Promise<TeamShipResult> {
    return this.shipQuery(SETTLE, [JSON.stringify([this.wireRow({ ...row, reservationId })])]);
  }

  async confirm(rowIds: readonly string[]): Promise<string[]> {
    if (rowIds.length === 0) return [];
    const [r] = await this.query<{ present: string[] }>(CONFIRM, [rowIds]);
    return r?.present ?? [];
  }

  async release(reservationIds: readonly string[]): Promise<void> {
    if (reservationIds.length === 0) return;
    await this.query(RELEASE, [reservationIds]);
  }

  async renew(reservationIds: readonly string[], leaseMs = this.leaseMs): Promise<TeamRenewResult> {
    if (reservationIds.length === 0) return { renewed: [], expired: [] };
    const rows = await this.query<{ renewed: string[] }>('SELECT agent_budget.renew($1, $2) AS renewed', [
      reservationIds,
      Math.round(leaseMs),
    ]);
    const renewed = new Set(rows[0]?.renewed ?? []);
    return { renewed: [...renewed], expired: reservationIds.filter((id) => !renewed.has(id)) };
  }

  /** Ships an outbox's rows, batch by batch (`ship_durably` as an outbox drain: it records the machine's last ship). */
  async ship(rows: readonly TeamLedgerRow[]): Promise<TeamShipResult> {
    const total: TeamShipResult = { counted: 0, duplicates: 0, conflicts: [] };
    for (let i = 0; i < rows.length; i += this.shipBatch) {
      const batch = rows.slice(i, i + this.shipBatch).map((row) => this.wireRow(row));
      const result = await this.shipQuery(SHIP, [JSON.stringify(batch), true]);
      total.counted += result.counted;
      total.duplicates += result.duplicates;
      total.conflicts.push(...result.conflicts);
    }
    return total;
  }

  /** Runs SHIP or SETTLE, which answer the same three results. */
  private async shipQuery(query: QueryConfig, values: unknown[]): Promise<TeamShipResult> {
    const [r] = await this.query<{ r_counted: number; r_duplicates: number; r_conflicts: string[] }>(query, values);
    return {
      counted: Number(r?.r_counted ?? 0),
      duplicates: Number(r?.r_duplicates ?? 0),
      conflicts: r?.r_conflicts ?? [],
    };
  }

  async status(request: TeamStatusRequest): Promise<TeamScopeUse[]> {
    const windows = teamWindows(request.at, this.options.timeZone);
    const rows = await this.query<{ key: string; used_micros: string; held_micros: string }>(
      'SELECT * FROM agent_budget.status($1, $2)',
      [request.member, periodKeys(windows)],
    );
    return scopeUses(rows.map(use), request.team, request.memberCaps, windows, request.tier);
  }

  async report(range: { fromMs: number; toMs: number }): Promise<TeamReport> {
    const rows = await this.query<{
      dim: string;
      key: string;
      cost: string;
      estimated: string;
      calls: string;
      tokens: string;
    }>(
      `SELECT d.dim, d.key, sum(l.cost_micros) AS cost,
         sum(CASE WHEN l.estimated THEN l.cost_micros ELSE 0 END) AS estimated, count(*) AS calls,
         sum(l.input_tokens + l.output_tokens + l.cache_read_tokens + l.cache_write_tokens + l.reasoning_tokens) AS tokens
       FROM agent_budget.ledger l,
         LATERAL (VALUES ('member', l.member), ('workflow', l.workflow), ('model', l.model), ('client', l.client)) AS d(dim, key)
       WHERE l.ts >= to_timestamp($1 / 1000.0) AND l.ts < to_timestamp($2 / 1000.0)
       GROUP BY d.dim, d.key
       ORDER BY cost DESC, d.key`,
      [range.fromMs, range.toMs],
    );
    const by = (dim: string): TeamSpendRow[] =>
      rows
        .filter((r) => r.dim === dim)
        .map((r) => ({
          key: r.key,
          costMicros: Number(r.cost),
          estimatedMicros: Number(r.estimated),
          calls: Number(r.calls),
          tokens: Number(r.tokens),
        }));
    const byMember = by('member');
    const total = { costMicros: 0, estimatedMicros: 0, calls: 0, tokens: 0 };
    for (const r of byMember) {
      total.costMicros += r.costMicros;
      total.estimatedMicros += r.estimatedMicros;
      total.calls += r.calls;
      total.tokens += r.tokens;
    }
    return {
      ...range,
      total,
      byMember,
      byWorkflow: by('workflow'),
      byModel: by('model'),
      byClient: by('client'),
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** Runs `query` after making sure the schema is current; network failures become TeamLedgerUnreachableError. */
  private async query<R extends Record<string, unknown>>(query: string | QueryConfig, values: unknown[]): Promise<R[]> {
    await this.ensureSchema();
    let reconnected = false;
    for (let attempt = 0; ; attempt++) {
      try {
        return (
          typeof query === 'string'
            ? await this.pool.query<R>(query, values)
            : await this.pool.query<R>({ ...query, values })
        ).rows;
      } catch (err) {
        // Ordered locks make lock cycles impossible by design; this only keeps a surprise from failing a call.
        if (isRetryable(err) && attempt < DEADLOCK_RETRIES) continue;
        // A pooled connection the server dropped (it restarted) fails once; every call here is safe to repeat
        // (admit and settle by their ids, ship by row ids), so try once more on a fresh connection.
        if (!reconnected && isDroppedConnection(err)) {
          reconnected = true;
          continue;
        }
        throw classifyTeamError(err);
      }
    }
  }

  /** Migrates once per process, on first use (and again after a failure, e.g. the server was down). */
  private ensureSchema(): Promise<void> {
    this.schema ??= (async () => {
      let client;
      try {
        client = await this.pool.connect();
        await migrate(client as unknown as SqlClient);
      } catch (err) {
        this.schema = undefined;
        throw classifyTeamError(err);
      } finally {
        client?.release();
      }
    })();
    return this.schema;
  }

  /** The row as agent_budget.ship reads it (JSON keys match its recordset columns). */
  private wireRow(row: TeamLedgerRow) {
    checkRow(row);
    const windows = teamWindows(row.ts, this.options.timeZone);
    const [day, week, month] = periodKeys(windows);
    const u = row.usage;
    return {
      id: row.id,
      reservationId: row.reservationId,
      member: row.member,
      machine: row.machine,
      tsMs: row.ts,
      day,
      week,
      month,
      workflow: row.workflow,
      provider: row.provider,
      model: row.model,
      client: row.client,
      runId: row.runId,
      task: row.task,
      costMicros: row.costMicros,
      estimated: row.estimated,
      input: u.input,
      output: u.output,
      cacheRead: u.cacheRead,
      cacheWrite: u.cacheWrite5m + u.cacheWrite1h,
      reasoning: u.reasoning,
    };
  }
}

function use(row: { key: string; used_micros: string; held_micros: string }) {
  return { key: row.key, used: Number(row.used_micros), held: Number(row.held_micros) };
}

function checkMicros(value: Micros, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new TypeError(`team ledger: ${what} must be a whole, non-negative number of micro-dollars (got ${value})`);
}

/** A row from a corrupted or hostile local store must fail here, by name, not half-way through a batch. */
function checkRow(row: TeamLedgerRow): void {
  const bad = (what: string) => new TypeError(`team ledger: row ${JSON.stringify(row.id)} has ${what}`);
  if (typeof row.id !== 'string' || row.id === '') throw bad('no id');
  if (typeof row.member !== 'string' || row.member === '') throw bad('no member');
  if (!Number.isFinite(row.ts)) throw bad('no timestamp');
  checkMicros(row.costMicros, `row ${row.id}'s costMicros`);
  for (const [k, v] of Object.entries(row.usage ?? {}))
    if (!Number.isSafeInteger(v) || v < 0) throw bad(`a bad ${k} token count (${String(v)})`);
}
