import assert from 'node:assert/strict';
import { burnRate, forecastCaps } from '../../../src/core/report/forecast';
import type { StoreRecord } from '../../../src/core/store/records';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';
import { openWorkspace, tempFolder } from './helpers';

const H = 3_600_000;
const at = (day: number, hour: number) => Date.UTC(2026, 10, day, hour);
/** Sunday 22 November 2026, noon UTC: the last day of ISO week 47 (16–22 November). */
const NOW = at(22, 12);

function spend(rand: () => number, ts: number, workflow: string, usd: number): StoreRecord {
  return { k: 'ledger', entry: randomEntry(rand, ts, { workflow, costMicros: Math.round(usd * 1e6) }) };
}

describe('forecast: burn rate and the day each cap is reached', () => {
  let env: ReturnType<typeof tempFolder>;
  let ws: Awaited<ReturnType<typeof openWorkspace>>;
  before(async () => {
    env = tempFolder({
      timeZone: 'UTC',
      limits: { workspace: { dailyUsd: 5, weeklyUsd: 20, monthlyUsd: 40 } },
      workflows: { 'code-review': { limits: { monthlyUsd: 10 } } },
    });
    ws = await openWorkspace(env.folder, NOW);
    const rand = seededRandom(5);
    const records: StoreRecord[] = [];
    // 1–15 November: $1 a day (half code-review). 16–21 November: $2 a day (half code-review). Today by noon: $1.
    for (let d = 1; d <= 15; d++)
      records.push(spend(rand, at(d, 10), 'code-review', 0.5), spend(rand, at(d, 11), 'explain', 0.5));
    for (let d = 16; d <= 21; d++)
      records.push(spend(rand, at(d, 10), 'code-review', 1), spend(rand, at(d, 11), 'explain', 1));
    records.push(spend(rand, at(22, 6), 'code-review', 0.5), spend(rand, at(22, 7), 'explain', 0.5));
    await ws.store.commit(records);
  });
  after(async () => {
    await ws.close();
    env.cleanup();
  });

  it('burn rate: the last 7 days so far, over the time that has passed (today counts as half a day at noon)', () => {
    // 16–22 November: 6 × $2 + $1 = $13 over 6.5 days = $2 a day.
    const burn = burnRate(ws.store.queries, NOW, 'UTC');
    assert.equal(burn.spentMicros, 13_000_000);
    assert.equal(burn.sinceDay, '2026-11-16');
    assert.equal(burn.days, 6.5);
    assert.equal(burn.perDayMicros, 2_000_000);
    assert.equal(burnRate(ws.store.queries, NOW, 'UTC', { workflow: 'code-review' }).perDayMicros, 1_000_000);
  });

  it('each cap: used this period, projected at the period end, and the day the pace reaches it', () => {
    const f = forecastCaps(ws, NOW);
    const caps = Object.fromEntries(f.caps.map((c) => [c.scope, c]));
    assert.deepEqual(Object.keys(caps), [
      'workspace.daily',
      'workspace.weekly',
      'workspace.monthly',
      'workflow.code-review.monthly',
    ]);

    // Month: $15 + $13 = $28 of $40. $12 left at $2/day = 6 days → 28 November, noon.
    const month = caps['workspace.monthly']!;
    assert.equal(month.usedMicros, 28_000_000);
    assert.equal(month.reachesOn, '2026-11-28');
    assert.match(month.reachesAt!, /^2026-11-28T12:00:00\.00\dZ$/);
    // Projected: $28 + 8.5 days × $2 = $45.
    assert.equal(month.projectedMicros, 45_000_000);
    assert.equal(month.reached, false);
    assert.equal(month.resetsAt, '2026-12-01T00:00:00.000Z');

    // Week 47 ends tonight: $13 + half a day × $2 = $14 of $20, not reached this week.
    const week = caps['workspace.weekly']!;
    assert.equal(week.periodKey, '2026-W47');
    assert.equal(week.usedMicros, 13_000_000);
    assert.equal(week.projectedMicros, 14_000_000);
    assert.equal(week.reachesOn, null);

    // Today: $1 of $5, $2 by midnight.
    assert.equal(caps['workspace.daily']!.projectedMicros, 2_000_000);
    assert.equal(caps['workspace.daily']!.reachesOn, null);

    // code-review spent $7.50 + $6.50 = $14 of its $10 a month: already reached.
    const cr = caps['workflow.code-review.monthly']!;
    assert.equal(cr.usedMicros, 14_000_000);
    assert.equal(cr.reached, true);
    assert.equal(cr.level, 'blocked');
    assert.equal(cr.reachesOn, null);
    assert.equal(cr.burnPerDayMicros, 1_000_000);
  });

  it('a young store is measured from its first day of spend, over at least a day', async () => {
    const env2 = tempFolder({ timeZone: 'UTC' });
    const ws2 = await openWorkspace(env2.folder);
    try {
      const rand = seededRandom(6);
      await ws2.store.commit([spend(rand, NOW - 2 * H, 'w', 1)]);
      // Two hours of history: not $12 a day, but $1 over (at least) one day.
      assert.equal(burnRate(ws2.store.queries, NOW, 'UTC').perDayMicros, 1_000_000);
      await ws2.store.commit([spend(rand, at(20, 9), 'w', 2)]);
      // Since 20 November 00:00: 2.5 days, $3 → $1.20 a day.
      const burn = burnRate(ws2.store.queries, NOW, 'UTC');
      assert.equal(burn.sinceDay, '2026-11-20');
      assert.equal(burn.perDayMicros, 1_200_000);
    } finally {
      await ws2.close();
      env2.cleanup();
    }
  });
});
