// The panel's ranges as days (src/vscode/panelSnapshot.ts rangeDays): the panel's numbers and Export Spend from
// the panel (src/vscode/reports.ts) use this one reckoning, in the budget's time zone.
import assert from 'node:assert/strict';
import { RANGES } from '../../../src/webview/protocol';
import { rangeDays } from '../../../src/vscode/panelSnapshot';

describe('rangeDays', () => {
  const now = Date.UTC(2026, 2, 1, 3, 30); // 1 March 2026, 03:30 UTC

  it('counts back from today, today included', () => {
    assert.deepEqual(rangeDays('today', now, 'UTC'), { fromDay: '2026-03-01', toDay: '2026-03-01' });
    assert.deepEqual(rangeDays('7d', now, 'UTC'), { fromDay: '2026-02-23', toDay: '2026-03-01' });
    assert.deepEqual(rangeDays('30d', now, 'UTC'), { fromDay: '2026-01-31', toDay: '2026-03-01' });
    assert.deepEqual(rangeDays('90d', now, 'UTC'), { fromDay: '2025-12-02', toDay: '2026-03-01' });
  });

  it('this month runs from its first day to today; last month is the whole previous month', () => {
    assert.deepEqual(rangeDays('month', now, 'UTC'), { fromDay: '2026-03-01', toDay: '2026-03-01' });
    assert.deepEqual(rangeDays('lastMonth', now, 'UTC'), { fromDay: '2026-02-01', toDay: '2026-02-28' });
  });

  it('reckons days in the budget’s time zone, not UTC', () => {
    // 03:30 UTC on 1 March is still 28 February in New York: this month is February there.
    assert.deepEqual(rangeDays('today', now, 'America/New_York'), { fromDay: '2026-02-28', toDay: '2026-02-28' });
    assert.deepEqual(rangeDays('month', now, 'America/New_York'), { fromDay: '2026-02-01', toDay: '2026-02-28' });
    assert.deepEqual(rangeDays('lastMonth', now, 'America/New_York'), { fromDay: '2026-01-01', toDay: '2026-01-31' });
  });

  it('covers every range the panel offers', () => {
    for (const range of RANGES) {
      const days = rangeDays(range, now, 'UTC');
      assert.match(days.fromDay, /^\d{4}-\d{2}-\d{2}$/, range);
      assert.ok(days.fromDay <= days.toDay, range);
    }
  });
});
