import { withLevel, type BudgetLevel } from '../budget/engine';
import { usdToMicros, type Micros } from '../money';
import { effectiveLimits } from '../policy/effective';
import { dayKey, PERIODS, periodWindow, type Period } from '../policy/periods';
import type { BudgetPolicy } from '../policy/types';
import type { SpendFilter, StoreQueries } from '../store/queries';
import { addDays, dayStartMs } from './days';

/**
 * Burn rate and "at this rate the cap is reached on …", from recent daily history in the policy's time zone.
 *
 * The rate is the spend of the last `windowDays` days (today included, so far) divided by the time elapsed since
 * the window began — today counts as the fraction of it that has passed, so a morning does not halve the rate. A
 * store (or workflow) younger than the window is measured from its first day of spend, but over at least one day:
 * an hour of spend is not extrapolated to a day at that hour's pace. Projections are linear in time from now.
 */

const DAY_MS = 86_400_000;
export const DEFAULT_BURN_WINDOW_DAYS = 7;

export interface BurnRate {
  /** Average spend per day at the current pace (µ$ per day). */
  perDayMicros: Micros;
  /** Spend in the window (µ$). */
  spentMicros: Micros;
  /** First day of the window (the first day with spend, when that is later). */
  sinceDay: string;
  /** Days the spend is spread over (fractional: today counts as far as it has gone; at least 1). */
  days: number;
}

/** The burn rate of the workspace, or of one workflow (`filter.workflow`). */
export function burnRate(
  queries: Pick<StoreQueries, 'breakdown'>,
  now: number,
  timeZone: string | undefined,
  filter: SpendFilter = {},
  windowDays = DEFAULT_BURN_WINDOW_DAYS,
): BurnRate {
  const today = dayKey(now, timeZone);
  const windowFrom = addDays(today, -(windowDays - 1));
  const days = queries
    .breakdown('day', { fromDay: windowFrom, toDay: today }, filter)
    .filter((r) => r.costMicros !== 0);
  const spent = days.reduce((s, r) => s + r.costMicros, 0);
  const sinceDay = days[0]?.key ?? today;
  const elapsed = Math.max(1, (now - dayStartMs(sinceDay, timeZone)) / DAY_MS);
  return { perDayMicros: Math.round(spent / elapsed), spentMicros: spent, sinceDay, days: elapsed };
}

/** One capped scope in its current period, with where the current pace takes it. */
export interface CapForecast {
  /** `workspace.monthly`, `workflow.code-review.daily`, … (the names of rules and `agent-budget status`). */
  scope: string;
  workflow: string | null;
  period: Period;
  /** The current period: `2026-11-22`, `2026-W47`, `2026-11`. */
  periodKey: string;
  limitMicros: Micros;
  /** Settled spend so far in the period (in-flight reservations are not spend yet). */
  usedMicros: Micros;
  pct: number;
  level: BudgetLevel;
  /** The pace this scope is measured at (the workspace's, or its workflow's). */
  burnPerDayMicros: Micros;
  /** Spend at the end of the period if the pace holds. */
  projectedMicros: Micros;
  /** The cap is already reached. */
  reached: boolean;
  /** When the pace reaches the cap within this period (ISO time), else null (also null once reached). */
  reachesAt: string | null;
  /** Its day in the policy's zone, else null. */
  reachesOn: string | null;
  /** When the period (and the cap) resets (ISO time). */
  resetsAt: string;
}

export interface CapsForecast {
  /** The workspace's pace. */
  burn: BurnRate;
  /** The pace of each workflow with spend in the window or a cap. */
  workflowBurn: Record<string, BurnRate>;
  /** Every capped scope: the workspace's first (daily, weekly, monthly), then each workflow's. */
  caps: CapForecast[];
}

/**
 * Forecasts every USD cap of the policy (workspace and per workflow) in its current period at `now`. Reads the
 * same rollups as the budget engine's counters and the status bar.
 */
export function forecastCaps(
  source: { store: { queries: Pick<StoreQueries, 'breakdown' | 'totals'> }; policy: BudgetPolicy },
  now: number,
  windowDays = DEFAULT_BURN_WINDOW_DAYS,
): CapsForecast {
  const { policy } = source;
  const q = source.store.queries;
  const tz = policy.timeZone;
  const burn = burnRate(q, now, tz, {}, windowDays);
  const caps: CapForecast[] = [];
  const workflowBurn: Record<string, BurnRate> = {};
  const today = dayKey(now, tz);
  for (const row of q.breakdown('workflow', { fromDay: addDays(today, -(windowDays - 1)), toDay: today })) {
    workflowBurn[row.key] = burnRate(q, now, tz, { workflow: row.key }, windowDays);
  }
  const workspaceCaps = policy.limits.workspace;
  for (const period of PERIODS) {
    const cap = workspaceCaps[`${period}Usd`];
    if (cap !== undefined)
      caps.push(capForecast(q, `workspace.${period}`, null, period, usdToMicros(cap), burn, now, tz));
  }
  for (const workflow of Object.keys(policy.workflows).sort()) {
    const limits = effectiveLimits(policy, workflow).workflow;
    for (const period of PERIODS) {
      const cap = limits[`${period}Usd`];
      if (cap === undefined) continue;
      const rate = (workflowBurn[workflow] ??= burnRate(q, now, tz, { workflow }, windowDays));
      caps.push(capForecast(q, `workflow.${workflow}.${period}`, workflow, period, usdToMicros(cap), rate, now, tz));
    }
  }
  return { burn, workflowBurn, caps };
}

function capForecast(
  q: Pick<StoreQueries, 'totals'>,
  scope: string,
  workflow: string | null,
  period: Period,
  limit: Micros,
  burn: BurnRate,
  now: number,
  tz: string | undefined,
): CapForecast {
  const win = periodWindow(period, now, tz);
  const range = { fromDay: dayKey(win.startMs, tz), toDay: dayKey(win.endMs - 1, tz) };
  const used = q.totals(range, workflow === null ? undefined : { workflow }).costMicros;
  const { pct, level } = withLevel({
    scope,
    key: `${scope}@${win.key}`,
    unit: 'usd',
    used,
    reserved: 0,
    limit,
    soft: undefined,
  });
  const perMs = burn.perDayMicros / DAY_MS;
  const projected = Math.round(used + perMs * Math.max(0, win.endMs - now));
  const reached = used >= limit;
  let reachesAt: number | null = null;
  if (!reached && perMs > 0) {
    const at = now + Math.ceil((limit - used) / perMs);
    if (at < win.endMs) reachesAt = at;
  }
  return {
    scope,
    workflow,
    period,
    periodKey: win.key,
    limitMicros: limit,
    usedMicros: used,
    pct,
    level,
    burnPerDayMicros: burn.perDayMicros,
    projectedMicros: projected,
    reached,
    reachesAt: reachesAt === null ? null : new Date(reachesAt).toISOString(),
    reachesOn: reachesAt === null ? null : dayKey(reachesAt, tz),
    resetsAt: new Date(win.endMs).toISOString(),
  };
}
