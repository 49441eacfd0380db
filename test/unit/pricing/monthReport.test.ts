import assert from 'node:assert/strict';
import { priceCall } from '../../../src/core/pricing/cost';
import { cacheSavings, modelProviderSpend } from '../../../src/core/report/cacheSavings';
import { buildReport } from '../../../src/core/report/report';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';
import { openWorkspace, tempFolder, usage } from '../report/helpers';

/**
 * October 2026 with claude-sonnet-5-5, whose cache hits went from $0.20 to $0.10 on 2026-10-07 (input $2):
 * the month's spend is each call as it was billed that day, and the cache savings are re-priced day by day.
 */
describe('a month report across a price change', () => {
  const calls = [
    { day: '2026-10-03', cacheRead: 100_000 },
    { day: '2026-10-06', cacheRead: 50_000 },
    { day: '2026-10-07', cacheRead: 200_000 },
    { day: '2026-10-20', cacheRead: 100_000 },
  ];
  const u = (cacheRead: number) => usage({ input: 1000, output: 500, cacheRead });

  it('spends what each day billed and saves at the rates of each day', async () => {
    const env = tempFolder({ timeZone: 'UTC' });
    const ws = await openWorkspace(env.folder, Date.UTC(2026, 10, 2));
    try {
      const rand = seededRandom(7);
      const entries = calls.map((c) => {
        // What the engine wrote that day: the call priced at that day's rates.
        const billed = priceCall({
          provider: 'anthropic',
          model: 'claude-sonnet-5-5',
          usage: u(c.cacheRead),
          context: { at: c.day },
        });
        return randomEntry(rand, Date.parse(`${c.day}T15:00:00Z`), {
          provider: 'anthropic',
          model: 'claude-sonnet-5-5',
          workflow: 'w',
          tool: null,
          estimated: false,
          usage: u(c.cacheRead),
          costMicros: billed.costMicros,
        });
      });
      await ws.store.commit(entries.map((entry) => ({ k: 'ledger' as const, entry })));

      const report = buildReport(ws, { month: '2026-10' }, { now: Date.UTC(2026, 10, 2) });
      // Each call: 1,000 × 2 + 500 × 10 = 7,000 µ$ plus its reads: before the cut 150,000 × 0.2 = 30,000;
      // after 300,000 × 0.1 = 30,000 → 4 × 7,000 + 60,000 = 88,000 µ$.
      assert.equal(report.totalMicros, 88_000);
      // Saved = reads × (input − read rate): 150,000 × 1.8 = 270,000 before, 300,000 × 1.9 = 570,000 after.
      assert.equal(report.cache.savedMicros, 840_000);
      assert.equal(report.cache.byModel.length, 1, 'one row per model, whatever the spans');
      assert.equal(report.cache.byModel[0]!.readTokens, 450_000);

      // Re-priced at today's rate alone it would claim 450,000 × 1.9 = 855,000: the spans are what make it right.
      const days = { fromDay: '2026-10-01', toDay: '2026-10-31' };
      const spans = modelProviderSpend(ws.store.queries, days);
      assert.deepEqual(
        spans.map((s) => [s.fromDay, s.usage.cacheRead]),
        [
          ['2026-10-01', 150_000],
          ['2026-10-07', 300_000],
        ],
      );
      const flat = cacheSavings(
        ws.store.queries.breakdown2('model', 'provider', days).map((r) => ({ ...r, fromDay: '2026-10-31' })),
        ws.policy,
      );
      assert.equal(flat.savedMicros, 855_000);
    } finally {
      await ws.close();
      env.cleanup();
    }
  });

  it('a range with no change inside it is one query priced at its first day', async () => {
    const env = tempFolder({ timeZone: 'UTC' });
    const ws = await openWorkspace(env.folder, Date.UTC(2026, 10, 2));
    try {
      let queries = 0;
      const q = {
        breakdown2: (...args: Parameters<typeof ws.store.queries.breakdown2>) => {
          queries += 1;
          return ws.store.queries.breakdown2(...args);
        },
      };
      const spans = modelProviderSpend(q, { fromDay: '2026-11-01', toDay: '2026-11-30' });
      assert.deepEqual([queries, spans.length], [1, 0]);
    } finally {
      await ws.close();
      env.cleanup();
    }
  });
});
