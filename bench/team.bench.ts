import { Pool } from 'pg';
import { newId } from '../src/core/processIdentity';
import { drainOutbox, type TeamOutbox } from '../src/core/team/outbox';
import { PostgresTeamLedger } from '../src/core/team/postgresLedger';
import type { TeamLedgerRow } from '../src/core/team/types';
import { PostgresServer } from '../test/support/postgres';
import { percentile, type Figure } from './results';

const NOW = Date.UTC(2026, 10, 22, 12);
/**
 * The provider call between admit and settle: 250–750 ms, shorter than any real LLM call (seconds), so 32 clients
 * calling back to back offer about 64 calls a second to one team's counters — each client a busy machine. The
 * ceiling of what the counters take back to back is measured separately (team.callsPerSecOneTeam).
 */
const CALL_MS = 500;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const USAGE = { input: 1_800, output: 700, cacheRead: 200, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 100 };

function teamRow(member: string, costMicros: number, reservationId: string | null, machine = 'bench'): TeamLedgerRow {
  return {
    id: newId(),
    reservationId,
    member,
    machine,
    ts: NOW,
    workflow: 'code-review',
    provider: 'anthropic',
    model: 'claude-haiku-4-5',
    client: 'agent-budget',
    runId: 'bench-run',
    task: 'review',
    costMicros,
    estimated: false,
    usage: USAGE,
  };
}

/**
 * The team ledger against a local PostgreSQL (Debian's, started here with its durable defaults: fsync and
 * synchronous commit on), one fresh database per figure:
 * - admit + settle (two round trips: the time a call spends in the team ledger, the call itself excluded) from 32
 *   concurrent clients of one team, all contending for the same team counters; each client a member and a machine
 *   of its own, whose outbox drain confirms each settled row behind the settle (untimed, as WorkspaceTeam does);
 *   beside it the same clients doing two `SELECT 1` (the floor this machine sets) and two one-row durable writes
 *   (the floor of two answers that wait for the disk, as admit and settle do: what this machine's fsync adds), and
 *   the calls per second one team's counters take back to back (the hot rows' ceiling, for the scale plan);
 * - 200 reservations racing for a cap that fits 50: any µ$ held past the cap is overshoot;
 * - shipping 20,000 outbox rows in batches of 500, as after a long network cut.
 */
export async function teamBenchmarks(): Promise<Figure[]> {
  const server = await PostgresServer.start();
  try {
    return [
      ...(await admitSettle(await server.createDatabase('bench_admit'))),
      await overshoot(await server.createDatabase('bench_race')),
      ...(await drain(await server.createDatabase('bench_drain'))),
    ];
  } finally {
    await server.stop();
  }
}

async function admitSettle(url: string): Promise<Figure[]> {
  const clients = 32;
  const perClient = 60;
  const warmup = 5;
  const ledger = new PostgresTeamLedger({ url, timeZone: 'UTC', maxConnections: clients });
  // Each machine's outbox drain behind its settle (WorkspaceTeam.flushSoon), on connections of its own: not timed,
  // but its check and disk flush load the server while the others call.
  const drains = new PostgresTeamLedger({ url, timeZone: 'UTC', maxConnections: clients });
  const drainsDone: Array<Promise<unknown>> = [];
  const caps = { team: { daily: 1e12, weekly: 1e12, monthly: 1e12 }, memberCaps: { daily: 1e11, monthly: 1e12 } };
  await ledger.status({ member: 'warm', at: NOW, ...caps });
  // The same 32 clients and pattern with two trivial round trips instead: the floor this machine and server set.
  const pool = new Pool({ connectionString: url, max: clients });
  const ours = await clientsLoop(clients, perClient, warmup, async (c) => {
    const member = `member-${c}@x.dev`;
    const machine = `bench-${c}`;
    const reservationId = newId();
    return async (call) => {
      const t = process.hrtime.bigint();
      const admitted = await ledger.admit({
        reservationId,
        member,
        machine,
        micros: 50_000,
        at: NOW,
        ...caps,
      });
      if (!admitted.ok) throw new Error('bench: admission refused');
      const admitNs = process.hrtime.bigint() - t;
      await call();
      const s = process.hrtime.bigint();
      const row = teamRow(member, 30_000, reservationId, machine);
      await ledger.settle(reservationId, row);
      const ms = Number(admitNs + process.hrtime.bigint() - s) / 1e6;
      drainsDone.push(drains.confirm([row.id]));
      return ms;
    };
  });
  const floor = await clientsLoop(clients, perClient, warmup, () =>
    Promise.resolve(async (call) => {
      const t = process.hrtime.bigint();
      await pool.query('SELECT 1');
      const firstNs = process.hrtime.bigint() - t;
      await call();
      const s = process.hrtime.bigint();
      await pool.query('SELECT 1');
      return Number(firstNs + process.hrtime.bigint() - s) / 1e6;
    }),
  );
  // The same again with each round trip a durable write (one row per client, committed with the server's
  // synchronous commit): the floor of two answers that each wait for the disk, as admit and settle must.
  await pool.query('CREATE TABLE bench_durable (client integer PRIMARY KEY, n integer NOT NULL)');
  const durableWrite = (c: number) =>
    pool.query({
      name: 'bench_durable',
      text: 'INSERT INTO bench_durable VALUES ($1, 1) ON CONFLICT (client) DO UPDATE SET n = bench_durable.n + 1',
      values: [c],
    });
  const durableFloor = await clientsLoop(clients, perClient, warmup, (c) =>
    Promise.resolve(async (call) => {
      const t = process.hrtime.bigint();
      await durableWrite(c);
      const firstNs = process.hrtime.bigint() - t;
      await call();
      const s = process.hrtime.bigint();
      await durableWrite(c);
      return Number(firstNs + process.hrtime.bigint() - s) / 1e6;
    }),
  );
  await pool.end();
  // Closed loop, no call in between: how many calls a second one team's counters admit and settle, back to back.
  const until = Date.now() + 3_000;
  let pairs = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const member = `member-${c}@x.dev`;
      while (Date.now() < until) {
        const reservationId = newId();
        await ledger.admit({ reservationId, member, machine: 'bench', micros: 50_000, at: NOW, ...caps });
        await ledger.settle(reservationId, teamRow(member, 30_000, reservationId));
        pairs++;
      }
    }),
  );
  const perSec = pairs / (Number(process.hrtime.bigint() - started) / 1e9);
  await Promise.all(drainsDone);
  await drains.close();
  await ledger.close();
  return [
    { key: 'team.callsPerSecOneTeam', value: perSec, unit: 'calls/s' },
    { key: 'team.admitSettleP50Ms', value: percentile(ours, 50), unit: 'ms' },
    { key: 'team.admitSettleP99Ms', value: percentile(ours, 99), unit: 'ms', target: '<= 5' },
    { key: 'team.twoRoundTripsP50Ms', value: percentile(floor, 50), unit: 'ms' },
    { key: 'team.twoRoundTripsP99Ms', value: percentile(floor, 99), unit: 'ms' },
    { key: 'team.admitSettleP99Ratio', value: percentile(ours, 99) / percentile(floor, 99), unit: '× floor' },
    { key: 'team.twoDurableWritesP50Ms', value: percentile(durableFloor, 50), unit: 'ms' },
    { key: 'team.twoDurableWritesP99Ms', value: percentile(durableFloor, 99), unit: 'ms' },
  ];
}

/**
 * `clients` concurrent clients, each running `perClient` calls: `make(c)` gives client c's call, which times its
 * own ledger work around `call()` (the provider call) and returns milliseconds. Sorted samples after warm-up.
 */
async function clientsLoop(
  clients: number,
  perClient: number,
  warmup: number,
  make: (c: number) => Promise<(call: () => Promise<void>) => Promise<number>>,
): Promise<number[]> {
  const samples: number[] = [];
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; i < perClient; i++) {
        const ms = await (await make(c))(() => sleep(CALL_MS * (0.5 + Math.random())));
        if (i >= warmup) samples.push(ms);
      }
    }),
  );
  return samples.sort((a, b) => a - b);
}

async function overshoot(url: string): Promise<Figure> {
  const ledger = new PostgresTeamLedger({ url, timeZone: 'UTC', maxConnections: 40 });
  const cap = 50 * 20_000;
  const caps = { team: { daily: cap }, memberCaps: {} };
  await ledger.status({ member: 'warm', at: NOW, ...caps });
  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      ledger.admit({
        reservationId: newId(),
        member: `m${i % 16}@x.dev`,
        machine: 'bench',
        micros: 20_000,
        at: NOW,
        ...caps,
      }),
    ),
  );
  const [daily] = await ledger.status({ member: 'warm', at: NOW, ...caps });
  await ledger.close();
  const admitted = results.filter((r) => r.ok).length;
  if (admitted * 20_000 !== daily!.held) throw new Error(`bench: ${admitted} admitted but ${daily!.held} µ$ held`);
  return {
    key: 'team.overshootMicros',
    value: Math.max(0, daily!.used + daily!.held - cap),
    unit: 'µ$',
    target: '<= 0',
  };
}

async function drain(url: string): Promise<Figure[]> {
  const count = 20_000;
  const rows = Array.from({ length: count }, (_, i) => teamRow(`m${i % 40}@x.dev`, 1_000 + (i % 5_000), null));
  let next = 0;
  const outbox: TeamOutbox = {
    pending: (limit) => Promise.resolve(rows.slice(next, next + limit)),
    markShipped: (ids) => {
      next += ids.length;
      return Promise.resolve();
    },
  };
  const ledger = new PostgresTeamLedger({ url, timeZone: 'UTC' });
  await ledger.status({ member: 'warm', at: NOW, team: {}, memberCaps: {} });
  const t = process.hrtime.bigint();
  const first = await drainOutbox(ledger, outbox);
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  // Replaying the whole outbox (marks lost in a crash) must count nothing.
  next = 0;
  const replay = await drainOutbox(ledger, outbox);
  await ledger.close();
  if (first.counted !== count || replay.counted !== 0 || replay.duplicates !== count)
    throw new Error(`bench: drained ${first.counted}, replay counted ${replay.counted}`);
  return [{ key: 'team.outboxDrainPerSec', value: count / seconds, unit: 'rows/s', target: '>= 2000' }];
}
