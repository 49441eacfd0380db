import path from 'node:path';
import { withLevel, type BudgetLevel } from '../budget/engine';
import { usdToMicros, type Micros } from '../money';
import { effectiveLimits } from '../policy/effective';
import { dayKey, PERIODS, periodWindow, type Period } from '../policy/periods';
import type { BudgetPolicy, UsdCaps } from '../policy/types';
import type { SpendRow, SpendTotals, StoreQueries } from '../store/queries';
import type { RunStatus } from '../store/records';
import type { TokenUsage } from '../usage';
import {
  dayStartMs,
  daysBetween,
  daysToMs,
  eachDay,
  isDayKey,
  isMonthKey,
  monthDays,
  monthOf,
  monthTitle,
  type Days,
} from './days';
import { cacheSavings, modelProviderSpend, type CacheSavings } from './cacheSavings';
import { forecastCaps, type CapsForecast } from './forecast';
import { experimentResults, type ExperimentResult } from './experiments';
import { compareVariants, type VariantComparison } from './variants';

/**
 * THE report: one typed object for a month or a date range, built from the store's rollup queries only, that the
 * Markdown report, `agent-budget report --json/--csv` and the panel read — so every front end shows the same
 * numbers. Spend is what the ledger charged (settled usage, or the reservation where usage never arrived:
 * "estimated"); days are the policy's time zone.
 */

/** What `buildReport` needs of a Workspace (tests may hand in less than a whole one). */
export interface ReportSource {
  folder: string;
  policy: BudgetPolicy;
  store: { queries: StoreQueries };
}

/** A calendar month (`YYYY-MM`) or a range of days (`YYYY-MM-DD`, both inclusive), in the policy's zone. */
export type ReportPeriod = { month: string } | { from: string; to: string };

export interface ReportOptions {
  /** "Now" for the forecast and "generated at" (default: the system clock). */
  now?: number;
  /** How many top runs, workflows and models to list (default 10 runs, 5 of the others). */
  topRuns?: number;
  topOthers?: number;
}

/** One row of a breakdown (docs/cli.md: `{key, micros, calls, tokens}`), with the estimated part and share of the total. */
export interface ReportRow {
  key: string;
  micros: Micros;
  calls: number;
  tokens: number;
  /** Part of `micros` charged from reservations because usage never arrived. */
  estimatedMicros: Micros;
  /** Share of the report's total spend, 0–100. */
  sharePct: number;
}

/** A USD cap measured over the report's days. */
export interface CapUse {
  /** `workspace.monthly`, `workflow.code-review.daily`, … */
  scope: string;
  period: Period;
  limitMicros: Micros;
  /**
   * Spend of the busiest period touching the report's days (whole periods, also the days just outside the range,
   * so a week that straddles the 1st is measured whole). For a month report's monthly cap: that month.
   */
  usedMicros: Micros;
  /** Which period that was: `2026-11`, `2026-W47`, `2026-11-22`. */
  periodKey: string;
  pct: number;
  level: BudgetLevel;
  /** The day the cap was reached within that period, or null. */
  reachedOn: string | null;
  /** Periods touching the range, and how many of them reached the cap. */
  periods: number;
  periodsAtCap: number;
}

export interface WorkflowReportRow extends ReportRow {
  /** Runs of the workflow started in the range (any status). */
  runs: number;
  /** `micros ÷ runs` when there were runs. */
  costPerRunMicros: Micros | null;
  /** The workflow's own caps (`workflows.<id>.limits.*Usd`), peak use each. */
  caps: CapUse[];
  /** The worst level of its caps (ok when it has none). */
  level: BudgetLevel;
}

export interface ModelReportRow extends ReportRow {
  /** The provider(s) the model was billed through (`tool` for fixed tool charges). */
  provider: string;
  cacheReadTokens: number;
  cacheSavedMicros: Micros;
}

export interface TopRun {
  runId: string;
  workflow: string;
  title: string;
  status: RunStatus;
  variant: string | null;
  micros: Micros;
  tokens: number;
  calls: number;
  createdAt: string;
}

export interface EstimateAccuracy {
  /** Calls with a pre-call prompt estimate (settled ones; estimated charges are left out). */
  calls: number;
  estimatedInputTokens: number;
  actualInputTokens: number;
  /** (estimated − actual) ÷ actual × 100: positive = the estimate leaned high, as it should. Null without calls. */
  inputErrorPct: number | null;
  /** Calls that held a reservation, what was held, and what they cost. */
  reservedCalls: number;
  reservedMicros: Micros;
  actualMicros: Micros;
  /** actual ÷ reserved × 100 (how much of the worst case was spent). Null without reservations. */
  reservationUsedPct: number | null;
}

export interface RoiRow {
  workflow: string;
  /** Runs that produced value: completed and not marked rejected. */
  runs: number;
  basis: 'valuePerRun' | 'minutesSaved';
  minutesSavedPerRun: number | null;
  /** Value of one run (µ$), or null when minutes are set but no hourly rate. */
  valuePerRunMicros: Micros | null;
  valueMicros: Micros | null;
  /** The workflow's whole spend in the range (failed runs cost money too). */
  spendMicros: Micros;
  netMicros: Micros | null;
  /** value ÷ spend, or null. */
  returnMultiple: number | null;
}

export interface RoiSection {
  hourlyRateUsd: number | null;
  workflows: RoiRow[];
  valueMicros: Micros;
  spendMicros: Micros;
  netMicros: Micros;
  returnMultiple: number | null;
  /** What is missing for a complete estimate (e.g. no hourly rate). */
  notes: string[];
}

export interface SpendReport {
  /** Folder name of the workspace. */
  workspace: string;
  /** `Month YYYY` or `from – to`. */
  title: string;
  kind: 'month' | 'range';
  /** The month, for a month report. */
  month: string | null;
  fromDate: string;
  toDate: string;
  /** IANA zone of the days (the policy's, or the machine's). */
  timeZone: string;
  generatedAt: string;
  /** The range includes today (figures still move; the forecast applies). */
  current: boolean;

  totalMicros: Micros;
  estimatedMicros: Micros;
  /** total − estimated: what providers reported. */
  settledMicros: Micros;
  calls: number;
  tokens: number;
  usage: TokenUsage;

  /** The workspace's caps against the range (a month report: the monthly cap is the month's total). */
  caps: CapUse[];

  byWorkflow: WorkflowReportRow[];
  byModel: ModelReportRow[];
  byProvider: ReportRow[];
  /** Who made the calls: each proxy client by its token's name, and `agent-budget` for our own workflows. */
  byClient: ReportRow[];
  /** Every day of the range, zeros included, in date order. */
  byDay: ReportRow[];
  byTask: ReportRow[];
  /** Tool charges and tool-attributed calls (key '' = calls without a tool are left out). */
  byTool: ReportRow[];

  cache: CacheSavings;
  top: { runs: TopRun[]; workflows: ReportRow[]; models: ReportRow[] };
  estimate: EstimateAccuracy;
  roi: RoiSection;
  /** Burn rate and cap dates at `generatedAt`, for a range that includes today; null for the past. */
  forecast: CapsForecast | null;
  variants: VariantComparison[];
  /** The experiments in the policy now, over all the runs each assigned (not only this range's). */
  experiments: ExperimentResult[];
}

/** The longest range a report covers (its by-day table has a row per day). */
export const MAX_REPORT_DAYS = 3_700;

/** Turns CLI/quick-pick input into days; throws RangeError with a sentence for people. */
export function reportDays(period: ReportPeriod): Days {
  if ('month' in period) {
    if (!isMonthKey(period.month))
      throw new RangeError(`"${period.month}" is not a month: write it as YYYY-MM, e.g. 2026-11.`);
    return monthDays(period.month);
  }
  for (const d of [period.from, period.to]) {
    if (!isDayKey(d)) throw new RangeError(`"${d}" is not a date: write it as YYYY-MM-DD, e.g. 2026-11-05.`);
  }
  const n = daysBetween(period.from, period.to);
  if (n < 0) throw new RangeError(`the range ends (${period.to}) before it starts (${period.from}).`);
  if (n + 1 > MAX_REPORT_DAYS)
    throw new RangeError(`a report covers at most ${MAX_REPORT_DAYS} days; this range has ${n + 1}.`);
  return { fromDay: period.from, toDay: period.to };
}

/** The current month in the policy's zone. */
export function currentMonth(policy: Pick<BudgetPolicy, 'timeZone'>, now = Date.now()): string {
  return monthOf(now, policy.timeZone);
}

export function buildReport(source: ReportSource, period: ReportPeriod, options: ReportOptions = {}): SpendReport {
  const now = options.now ?? Date.now();
  const { policy } = source;
  const q = source.store.queries;
  const tz = policy.timeZone;
  const days = reportDays(period);
  const { fromMs, toMs } = daysToMs(days, tz);
  const totals = q.totals(days);
  const total = totals.costMicros;
  const row = (r: SpendRow): ReportRow => ({
    key: r.key,
    micros: r.costMicros,
    calls: r.calls,
    tokens: r.tokens,
    estimatedMicros: r.estimatedMicros,
    sharePct: total > 0 ? (r.costMicros / total) * 100 : 0,
  });

  // Runs started in the range, per workflow (for runs, cost per run, ROI).
  const runStats = q.runStats(fromMs, toMs);
  const runsOf = (workflow: string) => runStats.filter((r) => r.workflow === workflow).reduce((n, r) => n + r.runs, 0);

  // Caps: per period, the days of every period touching the range, per workflow (one rollup read).
  const capDays = capWindows(days, tz);
  const dailyByWorkflow = q.breakdown2('workflow', 'day', capDays.union);
  const workspaceCaps = capUses('workspace', policy.limits.workspace, dailyByWorkflow, capDays, tz);

  const workflowIds = new Set<string>();
  const byWorkflowRows = q.breakdown('workflow', days);
  for (const r of byWorkflowRows) workflowIds.add(r.key);
  for (const id of Object.keys(policy.workflows)) if (hasCap(effectiveLimits(policy, id).workflow)) workflowIds.add(id);
  const spendOf = new Map(byWorkflowRows.map((r) => [r.key, r]));
  const byWorkflow: WorkflowReportRow[] = [...workflowIds].map((id) => {
    const base = spendOf.get(id);
    const r: ReportRow = base
      ? row(base)
      : { key: id, micros: 0, calls: 0, tokens: 0, estimatedMicros: 0, sharePct: 0 };
    const caps = capUses(
      `workflow.${id}`,
      effectiveLimits(policy, id).workflow,
      dailyByWorkflow.filter((d) => d.key === id),
      capDays,
      tz,
    );
    const runs = runsOf(id);
    return {
      ...r,
      runs,
      costPerRunMicros: runs > 0 ? Math.round(r.micros / runs) : null,
      caps,
      level: worstLevel(caps),
    };
  });
  byWorkflow.sort((a, b) => b.micros - a.micros || a.key.localeCompare(b.key));

  const modelProvider = q.breakdown2('model', 'provider', days);
  const cache = cacheSavings(modelProviderSpend(q, days), policy);
  const byModel: ModelReportRow[] = q.breakdown('model', days).map((r) => {
    const providers = [...new Set(modelProvider.filter((m) => m.key === r.key).map((m) => m.key2))].sort();
    const savings = cache.byModel.filter((c) => c.model === r.key);
    return {
      ...row(r),
      provider: providers.join(', '),
      cacheReadTokens: r.usage.cacheRead,
      cacheSavedMicros: savings.reduce((s, c) => s + c.savedMicros, 0),
    };
  });

  const perDay = new Map(q.breakdown('day', days).map((r) => [r.key, r]));
  const byDay = eachDay(days).map((day) => {
    const r = perDay.get(day);
    return r ? row(r) : { key: day, micros: 0, calls: 0, tokens: 0, estimatedMicros: 0, sharePct: 0 };
  });

  const topOthers = options.topOthers ?? 5;
  const byProvider = q.breakdown('provider', days).map(row);
  const current = now >= fromMs && now < toMs;
  const report: SpendReport = {
    workspace: path.basename(source.folder),
    title: 'month' in period ? monthTitle(period.month) : `${days.fromDay} – ${days.toDay}`,
    kind: 'month' in period ? 'month' : 'range',
    month: 'month' in period ? period.month : null,
    fromDate: days.fromDay,
    toDate: days.toDay,
    timeZone: tz ?? Intl.DateTimeFormat().resolvedOptions().timeZone,
    generatedAt: new Date(now).toISOString(),
    current,
    totalMicros: total,
    estimatedMicros: totals.estimatedMicros,
    settledMicros: total - totals.estimatedMicros,
    calls: totals.calls,
    tokens: totals.tokens,
    usage: totals.usage,
    caps: workspaceCaps,
    byWorkflow,
    byModel,
    byProvider,
    byClient: q.breakdown('client', days).map(row),
    byDay,
    byTask: q
      .breakdown('task', days)
      .filter((r) => r.key !== '')
      .map(row),
    byTool: q
      .breakdown('tool', days)
      .filter((r) => r.key !== '')
      .map(row),
    cache,
    top: {
      runs: q
        .topRuns(fromMs, toMs, options.topRuns ?? 10)
        .filter((r) => r.costMicros > 0)
        .map((r) => ({
          runId: r.id,
          workflow: r.workflow,
          title: r.title,
          status: r.status,
          variant: r.variant,
          micros: r.costMicros,
          tokens: r.tokens,
          calls: r.calls,
          createdAt: new Date(r.createdAt).toISOString(),
        })),
      workflows: byWorkflow
        .filter((w) => w.micros > 0)
        .slice(0, topOthers)
        .map(({ key, micros, calls, tokens, estimatedMicros, sharePct }) => ({
          key,
          micros,
          calls,
          tokens,
          estimatedMicros,
          sharePct,
        })),
      models: byModel.slice(0, topOthers).map(({ key, micros, calls, tokens, estimatedMicros, sharePct }) => ({
        key,
        micros,
        calls,
        tokens,
        estimatedMicros,
        sharePct,
      })),
    },
    estimate: estimateAccuracy(totals),
    roi: roiSection(policy, runStats, spendOf),
    forecast: current ? forecastCaps(source, now) : null,
    variants: compareVariants(q, fromMs, toMs),
    experiments: experimentResults(q, policy),
  };
  return report;
}

// ---------------------------------------------------------------------------------------------------------------
// Caps

interface CapWindows {
  /** Per period: the days from the start of the period containing the first day to the end of the one containing the last. */
  byPeriod: Record<Period, Days>;
  union: Days;
}

function capWindows(days: Days, tz: string | undefined): CapWindows {
  const first = dayStartMs(days.fromDay, tz);
  const last = dayStartMs(days.toDay, tz);
  const byPeriod = {} as Record<Period, Days>;
  let union: Days = { ...days };
  for (const p of PERIODS) {
    const range = {
      fromDay: dayKey(periodWindow(p, first, tz).startMs, tz),
      toDay: dayKey(periodWindow(p, last, tz).endMs - 1, tz),
    };
    byPeriod[p] = range;
    union = {
      fromDay: range.fromDay < union.fromDay ? range.fromDay : union.fromDay,
      toDay: range.toDay > union.toDay ? range.toDay : union.toDay,
    };
  }
  return { byPeriod, union };
}

function hasCap(caps: UsdCaps): boolean {
  return caps.dailyUsd !== undefined || caps.weeklyUsd !== undefined || caps.monthlyUsd !== undefined;
}

/**
 * Peak use of each cap over the periods touching `days`. `daily` holds rows keyed (workflow, day) — summed over
 * workflows for the workspace, one workflow's for its own caps.
 */
function capUses(
  scopePrefix: string,
  caps: UsdCaps,
  daily: Array<SpendRow & { key2: string }>,
  windows: CapWindows,
  tz: string | undefined,
): CapUse[] {
  const perDay = new Map<string, number>();
  for (const r of daily) perDay.set(r.key2, (perDay.get(r.key2) ?? 0) + r.costMicros);
  const out: CapUse[] = [];
  for (const period of [...PERIODS].reverse()) {
    const capUsd = caps[`${period}Usd`];
    if (capUsd === undefined) continue;
    const limit = usdToMicros(capUsd);
    // Group the days of the periods touching the range into their periods, in date order.
    const periods = new Map<string, Array<[string, number]>>();
    for (const day of eachDay(windows.byPeriod[period])) {
      const key = period === 'daily' ? day : periodWindow(period, dayStartMs(day, tz), tz).key;
      let list = periods.get(key);
      if (!list) periods.set(key, (list = []));
      list.push([day, perDay.get(day) ?? 0]);
    }
    let peakKey = '';
    let peak = -1;
    let atCap = 0;
    for (const [key, list] of periods) {
      const used = list.reduce((s, [, v]) => s + v, 0);
      if (used >= limit) atCap++;
      if (used > peak) {
        peak = used;
        peakKey = key;
      }
    }
    let reachedOn: string | null = null;
    let running = 0;
    for (const [day, v] of periods.get(peakKey) ?? []) {
      running += v;
      if (running >= limit && limit > 0) {
        reachedOn = day;
        break;
      }
    }
    const scope = `${scopePrefix}.${period}`;
    const { pct, level } = withLevel({
      scope,
      key: `${scope}@${peakKey}`,
      unit: 'usd',
      used: Math.max(0, peak),
      reserved: 0,
      limit,
      soft: undefined,
    });
    out.push({
      scope,
      period,
      limitMicros: limit,
      usedMicros: Math.max(0, peak),
      periodKey: peakKey,
      pct,
      level,
      reachedOn,
      periods: periods.size,
      periodsAtCap: atCap,
    });
  }
  return out;
}

const LEVEL_RANK: Record<BudgetLevel, number> = { ok: 0, warn: 1, critical: 2, blocked: 3 };

function worstLevel(caps: CapUse[]): BudgetLevel {
  return caps.reduce<BudgetLevel>((worst, c) => (LEVEL_RANK[c.level] > LEVEL_RANK[worst] ? c.level : worst), 'ok');
}

// ---------------------------------------------------------------------------------------------------------------
// Estimate accuracy, ROI

function estimateAccuracy(t: SpendTotals): EstimateAccuracy {
  return {
    calls: t.estimate.calls,
    estimatedInputTokens: t.estimate.estimatedInput,
    actualInputTokens: t.estimate.actualInput,
    inputErrorPct:
      t.estimate.actualInput > 0
        ? ((t.estimate.estimatedInput - t.estimate.actualInput) / t.estimate.actualInput) * 100
        : null,
    reservedCalls: t.reserved.calls,
    reservedMicros: t.reserved.reservedMicros,
    actualMicros: t.reserved.actualMicros,
    reservationUsedPct:
      t.reserved.reservedMicros > 0 ? (t.reserved.actualMicros / t.reserved.reservedMicros) * 100 : null,
  };
}

/**
 * Value against spend per workflow, from `value` in budget.json: `valuePerRunUsd`, or `minutesSavedPerRun` at
 * `hourlyRateUsd`. Runs that count: completed and not marked rejected; spend: all of the workflow's.
 */
function roiSection(
  policy: BudgetPolicy,
  runStats: ReturnType<StoreQueries['runStats']>,
  spend: Map<string, SpendRow>,
): RoiSection {
  const rate = policy.value.hourlyRateUsd;
  const notes: string[] = [];
  const workflows: RoiRow[] = [];
  for (const [workflow, v] of Object.entries(policy.value.workflows).sort(([a], [b]) => a.localeCompare(b))) {
    if (v.valuePerRunUsd === undefined && v.minutesSavedPerRun === undefined) continue;
    const runs = runStats
      .filter((r) => r.workflow === workflow && r.status === 'completed' && r.result !== 'rejected')
      .reduce((n, r) => n + r.runs, 0);
    const spendMicros = spend.get(workflow)?.costMicros ?? 0;
    let valuePerRun: Micros | null = null;
    let basis: RoiRow['basis'] = 'minutesSaved';
    if (v.valuePerRunUsd !== undefined) {
      basis = 'valuePerRun';
      valuePerRun = usdToMicros(v.valuePerRunUsd);
    } else if (rate !== undefined) {
      valuePerRun = usdToMicros((rate * v.minutesSavedPerRun!) / 60);
    } else {
      notes.push(
        `${workflow} saves ${v.minutesSavedPerRun} minutes a run, but value.hourlyRateUsd is not set in budget.json.`,
      );
    }
    const valueMicros = valuePerRun === null ? null : valuePerRun * runs;
    workflows.push({
      workflow,
      runs,
      basis,
      minutesSavedPerRun: v.minutesSavedPerRun ?? null,
      valuePerRunMicros: valuePerRun,
      valueMicros,
      spendMicros,
      netMicros: valueMicros === null ? null : valueMicros - spendMicros,
      returnMultiple: valueMicros !== null && spendMicros > 0 ? valueMicros / spendMicros : null,
    });
  }
  if (workflows.length === 0) {
    notes.push(
      'Set "value" in budget.json (hourlyRateUsd and minutesSavedPerRun, or valuePerRunUsd per workflow) to see value against spend.',
    );
  }
  const valued = workflows.filter((w) => w.valueMicros !== null);
  const valueMicros = valued.reduce((s, w) => s + w.valueMicros!, 0);
  const spendMicros = valued.reduce((s, w) => s + w.spendMicros, 0);
  return {
    hourlyRateUsd: rate ?? null,
    workflows,
    valueMicros,
    spendMicros,
    netMicros: valueMicros - spendMicros,
    returnMultiple: spendMicros > 0 ? valueMicros / spendMicros : null,
    notes,
  };
}
