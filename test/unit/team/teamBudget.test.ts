import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/core/clock';
import { PostgresTeamLedger } from '../../../src/core/team/postgresLedger';
import { resolveTeamCaps } from '../../../src/core/team/scopes';
import { TeamBudget } from '../../../src/core/team/teamBudget';
import type { TeamLedger } from '../../../src/core/team/types';
import { MemoryOutbox, NOON, row, usePostgres } from './helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('TeamBudget online', function () {
  this.timeout(60_000);
  const pg = usePostgres();
  let ledger: PostgresTeamLedger;
  const budgets: TeamBudget[] = [];

  function budget(
    member: string,
    policy: Parameters<typeof resolveTeamCaps>[0],
    over: { ledger?: TeamLedger; outbox?: MemoryOutbox } = {},
  ) {
    const b = new TeamBudget({
      ledger: over.ledger ?? ledger,
      outbox: over.outbox ?? new MemoryOutbox(),
      member,
      machine: 'laptop',
      caps: resolveTeamCaps(policy, member),
      clock: new ManualClock(NOON),
    });
    budgets.push(b);
    return b;
  }

  beforeEach(async () => {
    ledger = new PostgresTeamLedger({ url: await pg.database(), timeZone: 'UTC', leaseMs: 1_500 });
  });
  afterEach(async () => {
    for (const b of budgets.splice(0)) b.dispose();
    await ledger.close();
  });

  it('keeps a long call’s hold alive by renewing it, and frees a released one', async () => {
    const policy = { limits: { dailyUsd: 1 } };
    const ana = budget('ana@x.dev', policy);
    const bo = budget('bo@x.dev', policy);
    assert.equal((await ana.admit('long-call', 600_000)).ok, true);
    assert.equal((await ana.admit('failed-call', 300_000)).ok, true);
    await ana.release('failed-call');
    for (let i = 0; i < 3; i++) {
      await sleep(600); // past the 1.5 s lease by the third round: alive only because it is renewed
      assert.deepEqual(await ana.renewInFlight(), { renewed: ['long-call'], expired: [] });
    }
    const refused = await bo.admit('bo-call', 400_001);
    assert.ok(!refused.ok && refused.mode === 'online');
    assert.match(
      refused.message,
      /The team's daily cap is reached: \$0\.60 of \$1\.00 spent or held.*limits\.team\.dailyUsd/,
    );
    await ana.settle('long-call', row({ reservationId: 'long-call', costMicros: 250_000 }));
    assert.deepEqual(await ana.renewInFlight(), { renewed: [], expired: [] }, 'nothing left in flight');
    const admitted = await bo.admit('bo-call-2', 750_000);
    assert.ok(admitted.ok && admitted.mode === 'online');
    const [daily] = (await bo.status()) ?? [];
    assert.deepEqual([daily!.used, daily!.held], [250_000, 750_000]);
  });

  it('drains a row settled online by confirming it is on disk, not by shipping it again; other rows are shipped', async () => {
    const calls: string[] = [];
    const spy = Object.create(ledger) as PostgresTeamLedger;
    spy.ship = (rows) => {
      calls.push(`ship ${rows.map((r) => r.id).join(',')}`);
      return ledger.ship(rows);
    };
    spy.confirm = (ids) => {
      calls.push(`confirm ${ids.join(',')}`);
      return ledger.confirm(ids);
    };
    const outbox = new MemoryOutbox();
    const ana = budget('ana@x.dev', { limits: { dailyUsd: 1 } }, { ledger: spy, outbox });
    assert.equal((await ana.admit('call', 300_000)).ok, true);
    const settled = row({ reservationId: 'call', costMicros: 120_000 });
    const toolCharge = row({ costMicros: 5_000 });
    outbox.add(settled);
    await ana.settle('call', settled);
    outbox.add(toolCharge);
    const drained = await ana.flush();
    assert.deepEqual(calls, [`confirm ${settled.id}`, `ship ${toolCharge.id}`]);
    assert.deepEqual([drained?.shipped, drained?.counted, drained?.duplicates], [2, 1, 1]);
    assert.equal(outbox.unshipped, 0);
    const [daily] = (await ana.status()) ?? [];
    assert.deepEqual([daily!.used, daily!.held], [125_000, 0]);
    calls.length = 0;
    assert.deepEqual(await ana.flush(), { shipped: 0, counted: 0, duplicates: 0, conflicts: [] });
    assert.deepEqual(calls, [], 'nothing left to confirm or ship');
  });
});
