/**
 * Budget periods — `daily` (local midnight), `weekly` (Monday 00:00, ISO weeks) and `monthly` (the 1st) — in an
 * IANA time zone, or in the machine's zone when none is set.
 *
 * Only `Intl` is used: no date library. The one thing Intl cannot do directly — "which instant is local midnight
 * of day D?" — is answered by reading the zone's UTC offset on both sides of D and checking each candidate, which is
 * exact across DST (days of 23 or 25 hours), 30-minute shifts (Australia/Lord_Howe), odd offsets (Asia/Kolkata),
 * zones where midnight itself is skipped (the day then starts at the first instant that exists) and even a skipped
 * date (Pacific/Apia, 2011-12-30, whose window is empty).
 *
 * Hot path: every admission asks for the current windows. The last window per (zone, period) is cached, so a call
 * inside it is a comparison; a miss costs a handful of `formatToParts` calls on a cached `Intl.DateTimeFormat`.
 */

export type Period = 'daily' | 'weekly' | 'monthly';
export const PERIODS: readonly Period[] = ['daily', 'weekly', 'monthly'];

export interface PeriodWindow {
  period: Period;
  /** First instant of the period (inclusive), ms since the epoch. */
  startMs: number;
  /** First instant of the next period (exclusive). */
  endMs: number;
  /**
   * Stable name of the period in its zone: `2026-11-22` (daily), `2026-W47` (weekly, ISO week-year and week),
   * `2026-11` (monthly). Alerts-fired records and reservations are keyed by it.
   */
  key: string;
}

const MS_PER_DAY = 86_400_000;

interface Zone {
  format: Intl.DateTimeFormat;
  /** Whether `format()` output parses as "M/D/Y, h:m:s" (checked once per zone; else formatToParts is used). */
  plainFormat: boolean;
  /** Last window handed out per period: the hot-path cache. */
  last: Partial<Record<Period, PeriodWindow>>;
  /** First instant of a local day by its wall-midnight value; consecutive days share a boundary. Bounded. */
  dayStarts: Map<number, number>;
}

const zones = new Map<string, Zone>();
const DAY_STARTS_KEPT = 1024;
const US_NUMERIC = /^(\d+)\D+(\d+)\D+(\d+)\D+(\d+)\D+(\d+)\D+(\d+)$/;

function zone(timeZone: string | undefined): Zone {
  const name = timeZone ?? '';
  let z = zones.get(name);
  if (!z) {
    // hourCycle h23: some ICU versions print midnight as "24" with hour12:false.
    const format = new Intl.DateTimeFormat('en-US', {
      timeZone: timeZone === undefined ? undefined : timeZone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      hourCycle: 'h23',
    });
    z = { format, plainFormat: false, last: {}, dayStarts: new Map() };
    // format() is ~3× faster than formatToParts() in Node 20; use it when its shape is the expected one.
    const probe = Date.UTC(2026, 10, 22, 13, 4, 5);
    z.plainFormat = true;
    const fast = wallMs(z, probe);
    z.plainFormat = false;
    z.plainFormat = fast === wallMs(z, probe);
    zones.set(name, z);
  }
  return z;
}

const knownZones = new Set<string>();

/** True when `Intl` knows the zone (IANA names such as `Europe/Berlin`, and `UTC`). */
export function isValidTimeZone(timeZone: string): boolean {
  if (typeof timeZone !== 'string' || timeZone.trim() === '') return false;
  if (knownZones.has(timeZone) || zones.has(timeZone)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    knownZones.add(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** Wall-clock reading of an instant in a zone, as if that reading were UTC (ms, whole seconds). */
function wallMs(z: Zone, t: number): number {
  if (z.plainFormat) {
    const m = US_NUMERIC.exec(z.format.format(t));
    if (m) return Date.UTC(+m[3]!, +m[1]! - 1, +m[2]!, +m[4]!, +m[5]!, +m[6]!);
  }
  let y = 0;
  let mo = 0;
  let d = 0;
  let h = 0;
  let mi = 0;
  let s = 0;
  for (const p of z.format.formatToParts(t)) {
    switch (p.type) {
      case 'year':
        y = +p.value;
        break;
      case 'month':
        mo = +p.value;
        break;
      case 'day':
        d = +p.value;
        break;
      case 'hour':
        h = +p.value;
        break;
      case 'minute':
        mi = +p.value;
        break;
      case 'second':
        s = +p.value;
        break;
    }
  }
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

function floorSecond(t: number): number {
  return t - (((t % 1000) + 1000) % 1000);
}

/** The zone's UTC offset at instant t, in ms (local = UTC + offset). */
function offsetAt(z: Zone, t: number): number {
  return wallMs(z, t) - floorSecond(t);
}

/**
 * First instant of local calendar day (y, m, d) — m is 1-based and may overflow (Date.UTC normalizes it).
 * `wall` is that day's midnight read as UTC.
 */
function startOfDay(z: Zone, wall: number): number {
  let start = z.dayStarts.get(wall);
  if (start === undefined) {
    if (z.dayStarts.size >= DAY_STARTS_KEPT) z.dayStarts.clear();
    start = computeStartOfDay(z, wall);
    z.dayStarts.set(wall, start);
  }
  return start;
}

function computeStartOfDay(z: Zone, wall: number): number {
  // The true instant lies within UTC-14h..UTC+12h of `wall`; any transition that matters lies inside ±1 day.
  const before = offsetAt(z, wall - MS_PER_DAY);
  const after = offsetAt(z, wall + MS_PER_DAY);
  let best = Number.POSITIVE_INFINITY;
  const tryOffset = (o: number) => {
    const t = wall - o;
    if (offsetAt(z, t) === o && t < best) best = t;
  };
  tryOffset(before);
  if (after !== before) tryOffset(after); // midnight may exist twice (clocks back at 01:00 → 00:00): take the first
  if (best !== Number.POSITIVE_INFINITY) return best;
  // Midnight was skipped (clocks forward at 00:00, or a whole date dropped): the day starts at the first instant
  // whose wall reading is at or after midnight. Search whole seconds between the two candidates.
  let lo = Math.min(wall - before, wall - after) - MS_PER_DAY;
  let hi = Math.max(wall - before, wall - after) + MS_PER_DAY;
  // Invariant: wall(lo) < wall, wall(hi) >= wall.
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000; // offsets are whole seconds, so lo and hi are too
    if (wallMs(z, mid) >= wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function pad4(n: number): string {
  return n >= 0 && n < 1000 ? String(n).padStart(4, '0') : String(n);
}

/** `YYYY-MM-DD` of a wall-midnight value. */
function dateKeyOfWall(wall: number): string {
  const d = new Date(wall);
  return `${pad4(d.getUTCFullYear())}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}

/** ISO 8601 week key (`2026-W47`, `2026-W53`) of the week whose Monday is the given wall midnight. */
function isoWeekKeyOfMonday(mondayWall: number): string {
  // The ISO week-year is the year of the week's Thursday; the week number counts Thursdays of that year.
  const thursday = new Date(mondayWall + 3 * MS_PER_DAY);
  const year = thursday.getUTCFullYear();
  const dayOfYear = Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / MS_PER_DAY);
  const week = Math.floor(dayOfYear / 7) + 1;
  return `${pad4(year)}-W${pad2(week)}`;
}

/** Computes a window from the local date of `atMs`; no cache. */
function computeWindow(z: Zone, period: Period, atMs: number): PeriodWindow {
  const w = new Date(wallMs(z, atMs));
  const y = w.getUTCFullYear();
  const m = w.getUTCMonth();
  const d = w.getUTCDate();
  let startWall: number;
  let endWall: number;
  let key: string;
  switch (period) {
    case 'daily':
      startWall = Date.UTC(y, m, d);
      endWall = Date.UTC(y, m, d + 1);
      key = dateKeyOfWall(startWall);
      break;
    case 'weekly': {
      const isoDay = w.getUTCDay() || 7; // Monday = 1 … Sunday = 7
      startWall = Date.UTC(y, m, d - (isoDay - 1));
      endWall = Date.UTC(y, m, d - (isoDay - 1) + 7);
      key = isoWeekKeyOfMonday(startWall);
      break;
    }
    case 'monthly':
      startWall = Date.UTC(y, m, 1);
      endWall = Date.UTC(y, m + 1, 1);
      key = `${pad4(y)}-${pad2(m + 1)}`;
      break;
  }
  return { period, startMs: startOfDay(z, startWall), endMs: startOfDay(z, endWall), key };
}

/**
 * The period window containing `atMs` in `timeZone` (IANA name; undefined = the machine's local zone).
 * Windows tile time: `start ≤ atMs < end`, and the next window starts exactly where this one ends.
 * Throws RangeError for a zone Intl does not know (policies are validated before they get here).
 */
export function periodWindow(period: Period, atMs: number, timeZone?: string): PeriodWindow {
  const z = zone(timeZone);
  const cached = z.last[period];
  if (cached !== undefined && atMs >= cached.startMs && atMs < cached.endMs) return cached;
  let win = computeWindow(z, period, atMs);
  // Where clocks go back across midnight a local date can occur in two pieces; windows stay contiguous, so an
  // instant in the second piece belongs to the neighbouring window. Step until the window contains atMs.
  for (let i = 0; i < 4 && atMs >= win.endMs; i++) win = computeWindow(z, period, win.endMs);
  for (let i = 0; i < 4 && atMs < win.startMs; i++) win = computeWindow(z, period, win.startMs - 1);
  z.last[period] = win;
  return win;
}

/** The window after `win` (same period and zone). */
export function nextPeriodWindow(win: PeriodWindow, timeZone?: string): PeriodWindow {
  return periodWindow(win.period, win.endMs, timeZone);
}

/** The ledger's day column: `YYYY-MM-DD` of the daily window containing `ms` in the zone. */
export function dayKey(ms: number, timeZone?: string): string {
  return periodWindow('daily', ms, timeZone).key;
}

/** Key of the window containing `atMs` (see PeriodWindow.key). */
export function periodKey(period: Period, atMs: number, timeZone?: string): string {
  return periodWindow(period, atMs, timeZone).key;
}
