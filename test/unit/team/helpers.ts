import { Client } from 'pg';
import { PostgresServer } from '../../support/postgres';
import type { TeamLedgerRow } from '../../../src/core/team/types';
import type { TeamOutbox } from '../../../src/core/team/outbox';

/** Noon UTC on a Sunday: far from every period boundary of the day, so a test never straddles midnight. */
export const NOON = Date.UTC(2026, 10, 22, 12);

/**
 * One PostgreSQL server for the calling suite (started in `before`, stopped in `after`), and a fresh database per
 * call of `database()`.
 */
export function usePostgres(settings?: Record<string, string>): {
  server: () => PostgresServer;
  database: () => Promise<string>;
} {
  let server: PostgresServer | undefined;
  let n = 0;
  before(async function () {
    this.timeout(120_000);
    server = await PostgresServer.start(settings);
  });
  after(async function () {
    this.timeout(60_000);
    await server?.stop();
  });
  return {
    server: () => {
      if (!server) throw new Error('the PostgreSQL server did not start (see the before-all hook)');
      return server;
    },
    database: async () => {
      if (!server) throw new Error('the PostgreSQL server did not start (see the before-all hook)');
      return server.createDatabase(`t${process.pid}_${++n}`);
    },
  };
}

/**
 * Counters whose held total is not the sum of the reservations listing them (schemaV2.ts's invariant): each as
 * `key: counter says X, reservations say Y`. Empty when the ledger is consistent.
 */
export async function heldMismatches(url: string): Promise<string[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ key: string; counter: string; reservations: string }>(
      `SELECT c.key, c.held_micros AS counter, coalesce(s.held, 0) AS reservations
       FROM agent_budget.counter c
       LEFT JOIN (SELECT k, sum(r.micros) AS held FROM agent_budget.reservation r, unnest(r.keys) AS k GROUP BY k) s
         ON s.k = c.key
       WHERE c.held_micros <> coalesce(s.held, 0)
       ORDER BY c.key`,
    );
    return rows.map((r) => `${r.key}: counter says ${r.counter}, reservations say ${r.reservations}`);
  } finally {
    await client.end();
  }
}

let seq = 0;

/** A settled call's team row. */
export function row(over: Partial<TeamLedgerRow> = {}): TeamLedgerRow {
  seq++;
  return {
    id: `row-${process.pid}-${seq}`,
    reservationId: null,
    member: 'ana@x.dev',
    machine: 'laptop',
    ts: NOON,
    workflow: 'code-review',
    provider: 'anthropic',
    model: 'claude-haiku-4-5',
    client: 'agent-budget',
    runId: 'run-1',
    task: 'review',
    costMicros: 1_000,
    estimated: false,
    usage: { input: 100, output: 50, cacheRead: 10, cacheWrite5m: 5, cacheWrite1h: 0, reasoning: 3 },
    ...over,
  };
}

/** The local store's outbox as the tests need it: every settled row is appended first (store-first), shipped rows are marked. */
export class MemoryOutbox implements TeamOutbox {
  readonly rows: TeamLedgerRow[] = [];
  private readonly shipped = new Set<string>();

  add(r: TeamLedgerRow): void {
    this.rows.push(r);
  }

  pending(limit: number): Promise<TeamLedgerRow[]> {
    return Promise.resolve(this.rows.filter((r) => !this.shipped.has(r.id)).slice(0, limit));
  }

  markShipped(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.shipped.add(id);
    return Promise.resolve();
  }

  get unshipped(): number {
    return this.rows.filter((r) => !this.shipped.has(r.id)).length;
  }
}
