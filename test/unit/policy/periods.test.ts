import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  PERIODS,
  dayKey,
  isValidTimeZone,
  nextPeriodWindow,
  periodKey,
  periodWindow,
  type Period,
} from '../../../src/core/policy/periods';
import { ManualClock } from '../../../src/core/clock';

const iso = (s: string) => Date.parse(s);
const H = 3_600_000;

function window(period: Period, at: string, tz?: string) {
  const w = periodWindow(period, iso(at), tz);
  return {
    key: w.key,
    start: new Date(w.startMs).toISOString(),
    end: new Date(w.endMs).toISOString(),
    hours: (w.endMs - w.startMs) / H,
  };
}

describe('policy: budget periods in time zones', () => {
  it('UTC: day, ISO week from Monday, month from the 1st', () => {
    const clock = new ManualClock(iso('2026-11-22T13:45:00Z')); // a Sunday
    assert.deepEqual(window('daily', new Date(clock.now()).toISOString(), 'UTC'), {
      key: '2026-11-22',
      start: '2026-11-22T00:00:00.000Z',
      end: '2026-11-23T00:00:00.000Z',
      hours: 24,
    });
    assert.deepEqual(window('weekly', '2026-11-22T13:45:00Z', 'UTC'), {
      key: '2026-W47',
      start: '2026-11-16T00:00:00.000Z',
      end: '2026-11-23T00:00:00.000Z',
      hours: 168,
    });
    assert.deepEqual(window('monthly', '2026-11-22T13:45:00Z', 'UTC'), {
      key: '2026-11',
      start: '2026-11-01T00:00:00.000Z',
      end: '2026-12-01T00:00:00.000Z',
      hours: 720,
    });
    clock.advance(10 * H + 15 * 60_000); // 2026-11-23T00:00Z: Monday, a new day and a new week
    assert.equal(dayKey(clock.now(), 'UTC'), '2026-11-23');
    assert.equal(periodKey('weekly', clock.now(), 'UTC'), '2026-W48');
    assert.equal(periodKey('weekly', clock.now() - 1, 'UTC'), '2026-W47');
  });

  describe('America/New_York across both DST switches', () => {
    const tz = 'America/New_York';
    it('spring forward: 2026-03-08 has 23 hours', () => {
      assert.deepEqual(window('daily', '2026-03-08T12:00:00Z', tz), {
        key: '2026-03-08',
        start: '2026-03-08T05:00:00.000Z',
        end: '2026-03-09T04:00:00.000Z',
        hours: 23,
      });
      // 01:59:59 EST and 03:00:00 EDT are one second apart and on the same day.
      assert.equal(dayKey(iso('2026-03-08T06:59:59Z'), tz), '2026-03-08');
      assert.equal(dayKey(iso('2026-03-08T07:00:00Z'), tz), '2026-03-08');
      assert.equal(dayKey(iso('2026-03-08T04:59:59.999Z'), tz), '2026-03-07');
    });
    it('fall back: 2026-11-01 has 25 hours; both 01:30s are that day', () => {
      assert.deepEqual(window('daily', '2026-11-01T12:00:00Z', tz), {
        key: '2026-11-01',
        start: '2026-11-01T04:00:00.000Z',
        end: '2026-11-02T05:00:00.000Z',
        hours: 25,
      });
      assert.equal(dayKey(iso('2026-11-01T05:30:00Z'), tz), '2026-11-01'); // 01:30 EDT
      assert.equal(dayKey(iso('2026-11-01T06:30:00Z'), tz), '2026-11-01'); // 01:30 EST
      assert.equal(dayKey(iso('2026-11-02T04:59:59.999Z'), tz), '2026-11-01');
    });
    it('weeks start Monday 00:00 local, and the DST week has 167 hours', () => {
      assert.deepEqual(window('weekly', '2026-03-10T12:00:00Z', tz), {
        key: '2026-W11',
        start: '2026-03-09T04:00:00.000Z',
        end: '2026-03-16T04:00:00.000Z',
        hours: 168,
      });
      assert.deepEqual(window('weekly', '2026-03-08T12:00:00Z', tz), {
        key: '2026-W10',
        start: '2026-03-02T05:00:00.000Z',
        end: '2026-03-09T04:00:00.000Z',
        hours: 167,
      });
      // Sunday 23:59:59 local is still last week; Monday 00:00 local is the new one.
      assert.equal(periodKey('weekly', iso('2026-03-16T03:59:59Z'), tz), '2026-W11');
      assert.equal(periodKey('weekly', iso('2026-03-16T04:00:00Z'), tz), '2026-W12');
    });
  });

  it('Europe/Berlin: 23- and 25-hour days, and a month that changes offset', () => {
    const tz = 'Europe/Berlin';
    assert.equal(window('daily', '2026-03-29T12:00:00Z', tz).hours, 23);
    assert.equal(window('daily', '2026-10-25T12:00:00Z', tz).hours, 25);
    assert.deepEqual(window('monthly', '2026-03-15T12:00:00Z', tz), {
      key: '2026-03',
      start: '2026-02-28T23:00:00.000Z',
      end: '2026-03-31T22:00:00.000Z',
      hours: 31 * 24 - 1,
    });
    // Late evening UTC on the last day is already the next month in Berlin.
    assert.equal(periodKey('monthly', iso('2026-03-31T22:30:00Z'), tz), '2026-04');
  });

  it('Australia/Lord_Howe: 30-minute DST (23.5- and 24.5-hour days)', () => {
    const tz = 'Australia/Lord_Howe';
    assert.deepEqual(window('daily', '2026-10-04T05:00:00Z', tz), {
      key: '2026-10-04',
      start: '2026-10-03T13:30:00.000Z',
      end: '2026-10-04T13:00:00.000Z',
      hours: 23.5,
    });
    assert.deepEqual(window('daily', '2026-04-05T05:00:00Z', tz), {
      key: '2026-04-05',
      start: '2026-04-04T13:00:00.000Z',
      end: '2026-04-05T13:30:00.000Z',
      hours: 24.5,
    });
  });

  it('Asia/Kolkata (+05:30): days and months start at 18:30 UTC', () => {
    const tz = 'Asia/Kolkata';
    assert.deepEqual(window('daily', '2026-11-22T12:00:00Z', tz), {
      key: '2026-11-22',
      start: '2026-11-21T18:30:00.000Z',
      end: '2026-11-22T18:30:00.000Z',
      hours: 24,
    });
    assert.equal(periodKey('monthly', iso('2026-01-31T18:29:59.999Z'), tz), '2026-01');
    assert.equal(periodKey('monthly', iso('2026-01-31T18:30:00Z'), tz), '2026-02');
  });

  it('month ends: Jan 31 → Feb 1, and the leap day 2028-02-29', () => {
    assert.equal(dayKey(iso('2026-01-31T23:59:59.999Z'), 'UTC'), '2026-01-31');
    assert.equal(dayKey(iso('2026-02-01T00:00:00Z'), 'UTC'), '2026-02-01');
    assert.equal(periodKey('monthly', iso('2026-01-31T23:59:59.999Z'), 'UTC'), '2026-01');
    assert.equal(periodKey('monthly', iso('2026-02-01T00:00:00Z'), 'UTC'), '2026-02');
    assert.deepEqual(window('daily', '2028-02-29T10:00:00Z', 'UTC'), {
      key: '2028-02-29',
      start: '2028-02-29T00:00:00.000Z',
      end: '2028-03-01T00:00:00.000Z',
      hours: 24,
    });
    assert.equal(window('monthly', '2028-02-10T00:00:00Z', 'UTC').hours, 29 * 24);
    assert.equal(window('monthly', '2026-02-10T00:00:00Z', 'UTC').hours, 28 * 24);
    assert.equal(periodKey('monthly', iso('2026-12-31T23:59:59Z'), 'UTC'), '2026-12');
    assert.equal(periodKey('monthly', iso('2027-01-01T00:00:00Z'), 'UTC'), '2027-01');
  });

  it('ISO weeks across the year boundary, including week 53', () => {
    const key = (d: string) => periodKey('weekly', iso(`${d}T12:00:00Z`), 'UTC');
    assert.equal(key('2026-12-31'), '2026-W53'); // Thursday
    assert.equal(key('2027-01-03'), '2026-W53'); // Sunday of the same week
    assert.equal(key('2027-01-04'), '2027-W01'); // Monday
    assert.equal(key('2024-12-30'), '2025-W01'); // a Monday in December belongs to next year's week 1
    assert.equal(key('2021-01-03'), '2020-W53');
    assert.equal(key('2026-01-01'), '2026-W01');
    assert.deepEqual(window('weekly', '2027-01-01T00:00:00Z', 'UTC'), {
      key: '2026-W53',
      start: '2026-12-28T00:00:00.000Z',
      end: '2027-01-04T00:00:00.000Z',
      hours: 168,
    });
  });

  it('a midnight that does not exist: the day starts at the first instant that does', () => {
    // Brazil 2018-11-04: clocks jumped from 00:00 to 01:00.
    assert.deepEqual(window('daily', '2018-11-04T12:00:00Z', 'America/Sao_Paulo'), {
      key: '2018-11-04',
      start: '2018-11-04T03:00:00.000Z',
      end: '2018-11-05T02:00:00.000Z',
      hours: 23,
    });
    // Samoa skipped 2011-12-30 entirely: Dec 29 ends where Dec 31 starts.
    const dec29 = periodWindow('daily', iso('2011-12-29T12:00:00Z'), 'Pacific/Apia');
    const next = nextPeriodWindow(dec29, 'Pacific/Apia');
    assert.equal(dec29.key, '2011-12-29');
    assert.equal(next.key, '2011-12-31');
    assert.equal(next.startMs, dec29.endMs);
  });

  it("undefined time zone = the machine's local zone", () => {
    const local = Intl.DateTimeFormat().resolvedOptions().timeZone;
    for (const at of ['2026-03-08T12:00:00Z', '2026-11-01T03:00:00Z', '2026-06-15T23:30:00Z']) {
      for (const p of PERIODS) assert.deepEqual(periodWindow(p, iso(at)), periodWindow(p, iso(at), local));
    }
  });

  it('answers stay right when calls jump around (the hot-path cache is only a cache)', () => {
    const tz = 'America/New_York';
    const a = iso('2026-03-08T12:00:00Z');
    const b = iso('2026-11-01T12:00:00Z');
    for (let i = 0; i < 3; i++) {
      assert.equal(dayKey(a, tz), '2026-03-08');
      assert.equal(dayKey(b, tz), '2026-11-01');
      assert.equal(dayKey(b, 'Asia/Kolkata'), '2026-11-01');
      assert.equal(dayKey(iso('2026-11-01T20:00:00Z'), 'Asia/Kolkata'), '2026-11-02');
    }
  });

  it('isValidTimeZone', () => {
    assert.ok(isValidTimeZone('UTC'));
    assert.ok(isValidTimeZone('Europe/Berlin'));
    assert.ok(!isValidTimeZone('Europe/Berlinn'));
    assert.ok(!isValidTimeZone(''));
    assert.throws(() => periodWindow('daily', 0, 'Mars/Olympus'), RangeError);
  });

  it('property: for random instants and zones, start ≤ t < end and windows tile time', () => {
    const zones = Intl.supportedValuesOf('timeZone');
    const dateOf = (ms: number, tz: string) => new Date(ms).toLocaleDateString('en-CA', { timeZone: tz });
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2100, 0, 1) }),
        fc.constantFrom(...PERIODS),
        (tz, t, period) => {
          const w = periodWindow(period, t, tz);
          assert.ok(w.startMs <= t && t < w.endMs, `${tz} ${period} ${new Date(t).toISOString()}`);
          // The next window starts exactly where this one ends, and the previous one ends where it starts.
          assert.equal(periodWindow(period, w.endMs, tz).startMs, w.endMs);
          assert.equal(periodWindow(period, w.startMs - 1, tz).endMs, w.startMs);
          assert.equal(periodWindow(period, w.endMs - 1, tz).key, w.key);
          const days = (w.endMs - w.startMs) / 86_400_000;
          if (period === 'daily') {
            assert.match(w.key, /^\d{4}-\d{2}-\d{2}$/);
            // Loose bounds: some zones have jumped by 3 hours (Antarctica/Casey), so a day can be 21 or 27 hours.
            assert.ok(days > 0.5 && days < 1.5, `${tz} ${w.key} lasts ${days} days`);
            assert.equal(dateOf(w.startMs, tz), w.key, 'a day starts on its own date');
            assert.equal(dateOf(w.startMs - 1, tz) < w.key, true, 'the instant before is an earlier date');
          } else if (period === 'weekly') {
            assert.match(w.key, /^\d{4}-W\d{2}$/);
            assert.ok(days > 6.5 && days < 7.5, `${tz} ${w.key} lasts ${days} days`);
            const monday = new Date(`${dateOf(w.startMs, tz)}T00:00:00Z`).getUTCDay();
            assert.equal(monday, 1, 'weeks start on Monday');
          } else {
            assert.match(w.key, /^\d{4}-\d{2}$/);
            assert.ok(days > 27.5 && days < 31.5, `${tz} ${w.key} lasts ${days} days`);
            assert.equal(dateOf(w.startMs, tz), `${w.key}-01`, 'months start on the 1st');
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
