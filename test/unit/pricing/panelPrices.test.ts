import assert from 'node:assert/strict';
import { computeSnapshot } from '../../../src/vscode/panelSnapshot';
import { PRICE_TABLE_DATE, utcDay } from '../../../src/core/pricing/prices';
import { parseWebviewMessage } from '../../../src/webview/protocol';
import { openWorkspace, tempFolder } from '../report/helpers';

describe("the budget panel's Prices tab (data)", () => {
  it('lists the rates in force today with their sources, and marks budget.json overrides', async () => {
    const env = tempFolder({
      prices: { 'claude-haiku-4-5': { provider: 'anthropic', inputPerMTok: 2, outputPerMTok: 10 } },
    });
    const now = Date.parse(`${PRICE_TABLE_DATE}T10:00:00Z`);
    const ws = await openWorkspace(env.folder, now);
    try {
      const s = computeSnapshot({ workspace: ws, range: 'month', now, activeRuns: [], canRun: true, canExport: true });
      assert.equal(s.prices.day, utcDay(now));
      assert.equal(s.prices.tableDate, PRICE_TABLE_DATE);
      assert.equal(s.prices.stale, false);
      const fable = s.prices.rows.find((r) => r.model === 'claude-fable-5-2')!;
      assert.deepEqual(
        [
          fable.inputPerMTok,
          fable.outputPerMTok,
          fable.cacheReadPerMTok,
          fable.cacheWrite5mPerMTok,
          fable.cacheWrite1hPerMTok,
        ],
        [8, 40, 0.2, 10, 16],
      );
      assert.deepEqual([fable.origin, fable.asOf, fable.promotionUntil], ['table', '2026-12-03', null]);
      const haiku = s.prices.rows.filter((r) => r.model === 'claude-haiku-4-5');
      assert.deepEqual(
        haiku.map((r) => [r.origin, r.replacesBuiltIn, r.inputPerMTok, r.asOf]),
        [['policy', true, 2, null]],
      );
      const later = computeSnapshot({
        workspace: ws,
        range: 'month',
        now: now + 61 * 86_400_000,
        activeRuns: [],
        canRun: true,
        canExport: true,
      });
      assert.equal(later.prices.stale, true, 'over 60 days old: the tab says so');
    } finally {
      await ws.close();
      env.cleanup();
    }
  });

  it('the page may ask for the Prices tab (a view message with it validates)', () => {
    const parsed = parseWebviewMessage({ type: 'view', state: { range: 'month', tab: 'prices' } });
    assert.deepEqual(parsed, { message: { type: 'view', state: { range: 'month', tab: 'prices' } } });
  });
});
