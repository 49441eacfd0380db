import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Client } from 'pg';
import { ManualClock } from '../../../src/core/clock';
import { newId } from '../../../src/core/processIdentity';
import type { OfflineReconciliation } from '../../../src/core/team/offline';
import type { DrainResult } from '../../../src/core/team/outbox';
import { PostgresTeamLedger } from '../../../src/core/team/postgresLedger';
import { resolveTeamCaps, type TeamPolicy } from '../../../src/core/team/scopes';
import { TeamBudget, type TeamDecision } from '../../../src/core/team/teamBudget';
import { MemoryOutbox, NOON, row, usePostgres } from './helpers';

/** A TCP hop between one machine and the server that the test can cut and restore: a network cut, not a crash. */
class CuttableLink {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: number) {}

  async open(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  async cut(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe('TeamBudget through outages of the team ledger', function () {
  this.timeout(120_000);
  const pg = usePostgres();
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    // A test that failed while the server was stopped must not take the next one down with it.
    if (!pg.server().running) pg.server().startNow();
  });

  function machine(url: string, member: string, policy: TeamPolicy, clock: ManualClock) {
    const ledger = new PostgresTeamLedger({ url, timeZone: 'UTC', connectTimeoutMs: 1_000 });
    const outbox = new MemoryOutbox();
    const budget = new TeamBudget({
      ledger,
      outbox,
      member,
      machine: `${member}-machine`,
      caps: resolveTeamCaps(policy, member),
      clock,
      retryMs: 5_000,
    });
    const reconciled: Array<OfflineReconciliation & DrainResult> = [];
    budget.onDidReconcile((r) => reconciled.push(r));
    closers.push(async () => {
      budget.dispose();
      await ledger.close();
    });
    /** One call: admitted, billed `cost`, written to the local store (the outbox) first, then settled. */
    const call = async (worst: number, cost: number): Promise<TeamDecision> => {
      const id = newId();
      const decision = await budget.admit(id, worst);
      if (decision.ok) {
        const r = row({ reservationId: id, member, costMicros: cost });
        outbox.add(r);
        await budget.settle(id, r);
      }
      return decision;
    };
    return { ledger, outbox, budget, call, reconciled };
  }

  async function ledgerTotals(url: string) {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const [rows] = (
        await client.query<{ n: number; total: string }>(
          'SELECT count(*)::int AS n, coalesce(sum(cost_micros), 0) AS total FROM agent_budget.ledger',
        )
      ).rows;
      const [counter] = (
        await client.query<{ used: string }>(
          `SELECT used_micros AS used FROM agent_budget.counter WHERE key = 'team.daily@2026-11-22'`,
        )
      ).rows;
      return { rows: rows!.n, total: Number(rows!.total), counter: Number(counter?.used ?? 0) };
    } finally {
      await client.end();
    }
  }

  it('server stopped mid-run and restarted: offline allowance used and bounded, outbox drained, nothing counted twice', async () => {
    const url = await pg.database();
    const clock = new ManualClock(NOON);
    const m = machine(url, 'ana@x.dev', { limits: { dailyUsd: 5 } }, clock);
    for (let i = 0; i < 10; i++) assert.ok((await m.call(150_000, 100_000)).ok, `online call ${i}`);
    const inFlight = newId();
    assert.equal((await m.budget.admit(inFlight, 150_000)).mode, 'online');
    // Last reading, at that admission: 1,000,000 used + 150,000 held of 5,000,000 → 3,850,000 left.
    // The allowance: 10 % of that, under the $1 cap.
    const allowance = 385_000;

    pg.server().stopNow('fast');
    // The call in flight when the server went away settles: its row waits in the outbox, its cost in the allowance.
    const inFlightRow = row({ reservationId: inFlight, member: 'ana@x.dev', costMicros: 120_000 });
    m.outbox.add(inFlightRow);
    await m.budget.settle(inFlight, inFlightRow);
    assert.ok(m.budget.offline);
    let offlineCalls = 0;
    let last: TeamDecision;
    for (;;) {
      last = await m.call(50_000, 40_000);
      if (!last.ok) break;
      assert.equal(last.mode, 'offline');
      offlineCalls++;
    }
    // 385,000 − 120,000 = 265,000: six calls of 40,000 leave 25,000, less than the next worst case of 50,000.
    assert.equal(offlineCalls, 6);
    assert.equal(last.mode, 'offline');
    assert.match(!last.ok ? last.message : '', /unreachable.*\$0\.05\).*\$0\.03 offline allowance left/);
    assert.equal(m.budget.meterLine(), 'team ledger offline — $0.03 offline allowance left');
    const offlineSpend = 120_000 + offlineCalls * 40_000;
    assert.ok(offlineSpend <= allowance);

    pg.server().startNow();
    // Within retryMs the machine stays offline without asking the server again.
    assert.equal((await m.call(1_000, 1_000)).mode, 'offline');
    clock.advance(5_000);
    const back = await m.call(10_000, 10_000);
    assert.deepEqual([back.ok, back.mode], [true, 'online']);
    assert.equal(m.reconciled.length, 1);
    const r = m.reconciled[0]!;
    assert.deepEqual(
      [r.allowanceMicros, r.spentMicros, r.overshoot, r.counted, r.duplicates],
      [allowance, offlineSpend + 1_000, [], 1 + offlineCalls + 1, 10],
      'the 10 rows settled online (never flushed) were replays; the in-flight and offline rows were new',
    );
    // The call settled after reconnecting is counted already and pending until a flush makes it crash-proof.
    assert.equal(m.outbox.unshipped, 1);
    assert.deepEqual(await m.budget.flush(), { shipped: 1, counted: 0, duplicates: 1, conflicts: [] });
    assert.equal(m.outbox.unshipped, 0);
    const local = m.outbox.rows.reduce((sum, x) => sum + x.costMicros, 0);
    assert.deepEqual(await ledgerTotals(url), { rows: m.outbox.rows.length, total: local, counter: local });
    assert.equal(m.budget.meterLine(), undefined);
  });

  it('a machine cut off while the others spend: the overshoot of the team cap is bounded by its allowance, and reported', async () => {
    const url = await pg.database();
    const link = new CuttableLink(pg.server().port);
    await link.open();
    const clock = new ManualClock(NOON);
    const policy: TeamPolicy = { limits: { dailyUsd: 2 } };
    const ana = machine(url.replace(`:${pg.server().port}/`, `:${link.port}/`), 'ana@x.dev', policy, clock);
    const bo = machine(url, 'bo@x.dev', policy, clock);

    for (let i = 0; i < 10; i++) assert.ok((await ana.call(50_000, 50_000)).ok);
    // Last reading: 450,000 used + 50,000 held of 2,000,000 → allowance 10 % of 1,500,000.
    await link.cut();
    let anaOffline = 0;
    while ((await ana.call(50_000, 50_000)).ok) anaOffline += 50_000;
    assert.equal(anaOffline, 150_000);
    // Bo, still connected, spends the rest of the cap, not knowing what ana spent offline.
    let boSpent = 0;
    while ((await bo.call(50_000, 50_000)).ok) boSpent += 50_000;
    assert.equal(boSpent, 1_500_000);

    await link.open();
    clock.advance(5_000);
    const after = await ana.call(50_000, 50_000);
    assert.equal(after.ok, false, 'the cap is full');
    assert.equal(after.mode, 'online');
    const [r] = ana.reconciled;
    assert.deepEqual(r!.overshoot, [{ scope: 'team.daily', key: 'team.daily@2026-11-22', overMicros: 150_000 }]);
    assert.ok(r!.overshoot[0]!.overMicros <= r!.allowanceMicros, 'bounded by the allowance');
    const totals = await ledgerTotals(url);
    assert.equal(totals.total, 2_150_000);
    await link.cut();
  });
});
