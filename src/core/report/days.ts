import { dayKey, periodWindow } from '../policy/periods';

/**
 * Day keys (`YYYY-MM-DD` in the budget's time zone, as the ledger's rollups file spend) and the instants they
 * stand for. Report ranges are days, never instants: a "month" is the days of that month in the policy's zone.
 */

const DAY_MS = 86_400_000;
const DAY_KEY = /^(\d{4})-(\d{2})-(\d{2})$/;
const MONTH_KEY = /^(\d{4})-(\d{2})$/;

/** A day range, both ends inclusive (the store's `DayRange`). */
export interface Days {
  fromDay: string;
  toDay: string;
}

/** True for a real calendar date written `YYYY-MM-DD`. */
export function isDayKey(s: string): boolean {
  const m = DAY_KEY.exec(s);
  if (!m) return false;
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!));
  return d.toISOString().slice(0, 10) === s;
}

/** True for a month written `YYYY-MM`. */
export function isMonthKey(s: string): boolean {
  const m = MONTH_KEY.exec(s);
  return m !== null && +m[2]! >= 1 && +m[2]! <= 12;
}

/** `YYYY-MM-DD` ± n calendar days (date arithmetic on the key; no zone involved). */
export function addDays(day: string, n: number): string {
  const m = DAY_KEY.exec(day)!;
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]! + n)).toISOString().slice(0, 10);
}

/** Calendar days from `from` to `to` (0 when equal, negative when `to` is earlier). */
export function daysBetween(from: string, to: string): number {
  const ms = (s: string) => {
    const m = DAY_KEY.exec(s)!;
    return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!);
  };
  return Math.round((ms(to) - ms(from)) / DAY_MS);
}

/** Every day key from `fromDay` to `toDay`, inclusive. */
export function eachDay(range: Days): string[] {
  const n = daysBetween(range.fromDay, range.toDay);
  return Array.from({ length: Math.max(0, n + 1) }, (_, i) => addDays(range.fromDay, i));
}

/** The first and last day of a month (`YYYY-MM`). */
export function monthDays(month: string): Days {
  const m = MONTH_KEY.exec(month)!;
  const last = new Date(Date.UTC(+m[1]!, +m[2]!, 0)).getUTCDate();
  return { fromDay: `${month}-01`, toDay: `${month}-${String(last).padStart(2, '0')}` };
}

/** The month (`YYYY-MM`) containing `now` in the zone. */
export function monthOf(now: number, timeZone: string | undefined): string {
  return periodWindow('monthly', now, timeZone).key;
}

/**
 * The first instant of local day `day` in the zone (exact across DST: it is the daily period window's start).
 * The day's local midnight lies within UTC−12…UTC+14 of its UTC midnight, so noon UTC of the date is at most a
 * day off; step to the window whose key is `day`.
 */
export function dayStartMs(day: string, timeZone: string | undefined): number {
  const m = DAY_KEY.exec(day);
  if (!m) throw new RangeError(`not a day (YYYY-MM-DD): ${day}`);
  let win = periodWindow('daily', Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, 12), timeZone);
  for (let i = 0; i < 3 && win.key !== day; i++) {
    win = periodWindow('daily', win.key > day ? win.startMs - 1 : win.endMs, timeZone);
  }
  return win.startMs;
}

/** The instants of a day range: `[start of fromDay, start of the day after toDay)`. */
export function daysToMs(range: Days, timeZone: string | undefined): { fromMs: number; toMs: number } {
  return { fromMs: dayStartMs(range.fromDay, timeZone), toMs: dayStartMs(addDays(range.toDay, 1), timeZone) };
}

/** Today's key in the zone. */
export function today(now: number, timeZone: string | undefined): string {
  return dayKey(now, timeZone);
}

const MONTH_NAMES = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** "November 2026" (fixed English names: the report must not depend on the machine's locale). */
export function monthTitle(month: string): string {
  const m = MONTH_KEY.exec(month)!;
  return `${MONTH_NAMES[+m[2]! - 1]} ${m[1]}`;
}
