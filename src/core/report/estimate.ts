import { withLevel, type BudgetLevel } from '../budget/engine';
import { usdToMicros, type Micros } from '../money';
import { effectiveLimits } from '../policy/effective';
import { tokensPerRun, type Inventory, type InventoryWorkflow } from '../policy/inventory';
import { dayKey, PERIODS, type Period } from '../policy/periods';
import type { BudgetPolicy, UsdCaps } from '../policy/types';
import { priceWith, resolvePrice, UnknownModelError } from '../pricing/cost';
import type { RunStatus } from '../store/records';
import type { StoreQueries } from '../store/queries';
import type { ProviderId } from '../usage';

/**
 * The baseline estimator: a workflow inventory (docs/policy.md: runs per month × tokens per run, or × turns per run ×
 * tokens per turn) → a monthly forecast per workflow and in total, priced with the same table and workspace
 * overrides as real calls, against the workspace's and each workflow's caps, with headroom.
 *
 * Pricing: each call is priced as a call is billed (integer µ$, rounded once per call; a long-prompt `above` tier
 * applies per call): a per-run entry is one call of the run's tokens, a per-turn entry `turnsPerRun` calls of the
 * turn's tokens. Fractional token counts are rounded to whole tokens per call. Cost per run = call cost × calls;
 * a month = cost per run × runs per month, rounded to the µ$.
 *
 * Caps of other periods compare the month's forecast spread evenly: a day is 1/30.4375 of a month (365.25 / 12),
 * a week 7/30.4375.
 *
 * Where the ledger has history for a workflow of the same id, the forecast from actuals stands beside the
 * inventory's: the recent cost per run (whole runs started in the last `historyDays`, finished or stopped — runs
 * still going are left out) × the inventory's runs per month.
 */

export const DAYS_PER_MONTH = 365.25 / 12;
const DAY_MS = 86_400_000;
const IN_PROGRESS: readonly RunStatus[] = ['pending', 'running'];

export interface ForecastCap {
  /** `workspace.monthly`, `workflow.ci-review.daily`, … */
  scope: string;
  period: Period;
  limitMicros: Micros;
  /** The forecast for one period of this length. */
  forecastMicros: Micros;
  /** limit − forecast (negative: over the cap). */
  headroomMicros: Micros;
  pct: number;
  level: BudgetLevel;
}

export interface ActualsForecast {
  /** History used: runs started from this day on (policy zone). */
  sinceDay: string;
  runs: number;
  costMicros: Micros;
  costPerRunMicros: Micros;
  tokensPerRun: number;
  /** costPerRun × the inventory's runsPerMonth. */
  monthlyMicros: Micros;
  /** How many runs a month the history itself shows. */
  observedRunsPerMonth: number;
}

export interface InventoryForecastRow {
  /** The inventory's workflow id (CLI rows are keyed like the report's). */
  key: string;
  model: string;
  provider: ProviderId | null;
  /** The price-table or override entry the model matched. */
  priceId: string | null;
  priceSource: string | null;
  runsPerMonth: number;
  /** Calls per run: `turnsPerRun`, or 1. */
  callsPerRun: number;
  inputTokensPerRun: number;
  outputTokensPerRun: number;
  costPerCallMicros: Micros;
  costPerRunMicros: Micros;
  /** The month's forecast (µ$). */
  micros: Micros;
  /** The workflow's own caps in budget.json (by the same id), with headroom. */
  caps: ForecastCap[];
  level: BudgetLevel;
  /** From the ledger's recent runs of this workflow, when there are any. */
  actual: ActualsForecast | null;
  /** Why the entry could not be priced (an unknown model); it then counts $0 toward the total. */
  error: string | null;
}

export interface InventoryEstimate {
  /** Sum of the inventory forecasts (µ$ a month). */
  totalMicros: Micros;
  /** The same, taking the forecast from actuals where a workflow has history. */
  totalWithActualsMicros: Micros;
  byWorkflow: InventoryForecastRow[];
  /** The workspace's caps against the inventory total. */
  caps: ForecastCap[];
  level: BudgetLevel;
  /** Entries that could not be priced. */
  errors: string[];
}

export interface LedgerHistory {
  queries: Pick<StoreQueries, 'runStats'>;
  now: number;
  /** How far back actuals are read (default 30 days). */
  historyDays?: number;
}

export function estimateInventory(
  inventory: Inventory,
  policy: BudgetPolicy,
  history?: LedgerHistory,
  /** When the forecast is made: it prices at the rates in force that day (a promotion counts until it ends). */
  at: number = history?.now ?? Date.now(),
): InventoryEstimate {
  const rows = inventory.workflows.map((w) => forecastEntry(w, policy, history, at));
  const total = rows.reduce((s, r) => s + r.micros, 0);
  const withActuals = rows.reduce((s, r) => s + (r.actual?.monthlyMicros ?? r.micros), 0);
  const caps = forecastCaps('workspace', policy.limits.workspace, total);
  return {
    totalMicros: total,
    totalWithActualsMicros: withActuals,
    byWorkflow: rows,
    caps,
    level: worst(caps),
    errors: rows.filter((r) => r.error !== null).map((r) => `${r.key}: ${r.error}`),
  };
}

function forecastEntry(
  w: InventoryWorkflow,
  policy: BudgetPolicy,
  history: LedgerHistory | undefined,
  at: number,
): InventoryForecastRow {
  const perRun = tokensPerRun(w);
  const calls = w.turnsPerRun ?? 1;
  const callInput = Math.round(w.turnsPerRun !== undefined ? (w.inputTokensPerTurn ?? 0) : perRun.input);
  const callOutput = Math.round(w.turnsPerRun !== undefined ? (w.outputTokensPerTurn ?? 0) : perRun.output);
  const row: InventoryForecastRow = {
    key: w.id,
    model: w.model,
    provider: w.provider ?? null,
    priceId: null,
    priceSource: null,
    runsPerMonth: w.runsPerMonth,
    callsPerRun: calls,
    inputTokensPerRun: perRun.input,
    outputTokensPerRun: perRun.output,
    costPerCallMicros: 0,
    costPerRunMicros: 0,
    micros: 0,
    caps: [],
    level: 'ok',
    actual: null,
    error: null,
  };
  try {
    const price = resolvePrice(w.provider, w.model, policy.prices, { at });
    const call = priceWith(price, {
      input: callInput,
      output: callOutput,
      cacheRead: 0,
      cacheWrite5m: 0,
      cacheWrite1h: 0,
      reasoning: 0,
    });
    row.provider = price.provider;
    row.priceId = price.priceId;
    row.priceSource = price.priceSource;
    row.costPerCallMicros = call.costMicros;
    row.costPerRunMicros = Math.round(call.costMicros * calls);
    row.micros = Math.round(call.costMicros * calls * w.runsPerMonth);
  } catch (err) {
    if (!(err instanceof UnknownModelError)) throw err;
    row.error = err.message;
  }
  row.caps = forecastCaps(`workflow.${w.id}`, effectiveLimits(policy, w.id).workflow, row.micros);
  row.level = worst(row.caps);
  if (history) row.actual = actuals(w, policy, history);
  return row;
}

function actuals(w: InventoryWorkflow, policy: BudgetPolicy, history: LedgerHistory): ActualsForecast | null {
  const days = history.historyDays ?? 30;
  const from = history.now - days * DAY_MS;
  let runs = 0;
  let cost = 0;
  let tokens = 0;
  for (const r of history.queries.runStats(from, history.now + 1, { workflow: w.id })) {
    if (IN_PROGRESS.includes(r.status)) continue;
    runs += r.runs;
    cost += r.costMicros;
    tokens += r.tokens;
  }
  if (runs === 0) return null;
  const perRun = Math.round(cost / runs);
  return {
    sinceDay: dayKey(from, policy.timeZone),
    runs,
    costMicros: cost,
    costPerRunMicros: perRun,
    tokensPerRun: Math.round(tokens / runs),
    monthlyMicros: Math.round((cost / runs) * w.runsPerMonth),
    observedRunsPerMonth: (runs / days) * DAYS_PER_MONTH,
  };
}

const PERIOD_SHARE: Record<Period, number> = { daily: 1 / DAYS_PER_MONTH, weekly: 7 / DAYS_PER_MONTH, monthly: 1 };

function forecastCaps(prefix: string, caps: UsdCaps, monthly: Micros): ForecastCap[] {
  const out: ForecastCap[] = [];
  for (const period of [...PERIODS].reverse()) {
    const usd = caps[`${period}Usd`];
    if (usd === undefined) continue;
    const limit = usdToMicros(usd);
    const forecast = Math.round(monthly * PERIOD_SHARE[period]);
    const scope = `${prefix}.${period}`;
    const { pct, level } = withLevel({
      scope,
      key: scope,
      unit: 'usd',
      used: forecast,
      reserved: 0,
      limit,
      soft: undefined,
    });
    out.push({
      scope,
      period,
      limitMicros: limit,
      forecastMicros: forecast,
      headroomMicros: limit - forecast,
      pct,
      level,
    });
  }
  return out;
}

const RANK: Record<BudgetLevel, number> = { ok: 0, warn: 1, critical: 2, blocked: 3 };

function worst(caps: ForecastCap[]): BudgetLevel {
  return caps.reduce<BudgetLevel>((w, c) => (RANK[c.level] > RANK[w] ? c.level : w), 'ok');
}
