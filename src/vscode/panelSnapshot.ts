// The budget panel's data, computed from the store's rollup queries only (never a scan of the ledger), so the
// panel stays quick with a million ledger rows. Plain TypeScript: no vscode import, testable anywhere.
import { dayKey, periodWindow } from '../core/policy/periods';
import { addDays, daysBetween } from '../core/report/days';
import { experimentResults } from '../core/report/experiments';
import { forecastCaps } from '../core/report/forecast';
import { cacheSavings, modelProviderSpend } from '../core/report/cacheSavings';
import { PRICE_TABLE_DATE, utcDay } from '../core/pricing/prices';
import { priceTable, priceTableAgeDays, STALE_AFTER_DAYS } from '../core/pricing/table';
import type { BudgetPolicy } from '../core/policy/types';
import type { DayRange } from '../core/store/queries';
import type { RunStatus } from '../core/store/records';
import type { Workspace } from '../core/workspace';
import type {
  BreakdownRow,
  DayPoint,
  Dimension,
  ExperimentRow,
  ForecastRow,
  PanelSnapshot,
  PriceRow,
  RangeId,
  RunRow,
  TeamSection,
} from '../webview/protocol';
import { DIMENSIONS } from '../webview/protocol';
import { capName, scopeLabel } from './budgetText';

export { addDays };
/** Runs the runner can continue from their checkpoint: a crash, a budget block, a rate limit, a provider failure. */
export const RESUMABLE: readonly RunStatus[] = ['interrupted', 'blocked', 'paused', 'failed'];
const TOP = 10;

/** The day range a panel range covers at `now`, in the budget's time zone. */
export function rangeDays(range: RangeId, now: number, timeZone: string | undefined): DayRange {
  const today = dayKey(now, timeZone);
  switch (range) {
    case 'today':
      return { fromDay: today, toDay: today };
    case '7d':
      return { fromDay: addDays(today, -6), toDay: today };
    case '30d':
      return { fromDay: addDays(today, -29), toDay: today };
    case '90d':
      return { fromDay: addDays(today, -89), toDay: today };
    case 'month': {
      const win = periodWindow('monthly', now, timeZone);
      return { fromDay: dayKey(win.startMs, timeZone), toDay: today };
    }
    case 'lastMonth': {
      const win = periodWindow('monthly', now, timeZone);
      const prev = periodWindow('monthly', win.startMs - 1, timeZone);
      return { fromDay: dayKey(prev.startMs, timeZone), toDay: dayKey(prev.endMs - 1, timeZone) };
    }
  }
}

export interface SnapshotInput {
  workspace: Workspace;
  range: RangeId;
  now: number;
  /** Runs active in this window (they can be cancelled here). */
  activeRuns: readonly string[];
  canRun: boolean;
  canExport: boolean;
  /** The team ledger's section as last read (teamSection.ts reads it after the snapshot is posted), or null. */
  team?: TeamSection | null;
}

export function computeSnapshot(input: SnapshotInput): PanelSnapshot {
  const started = performance.now();
  const { workspace, now } = input;
  const q = workspace.store.queries;
  const tz = workspace.policy.timeZone;
  const days = rangeDays(input.range, now, tz);
  const totals = q.totals(days);

  const scopes = workspace.engine.status(now).map((s) => ({
    scope: s.scope,
    label: scopeLabel(s.scope),
    usedMicros: s.used,
    reservedMicros: s.reserved,
    limitMicros: s.limit ?? 0,
    pct: s.pct,
    level: s.level,
    resetsAt: s.resetsAt ?? null,
  }));

  const perDay = new Map(q.breakdown('day', days).map((r) => [r.key, r]));
  const byDay: DayPoint[] = [];
  const span = Math.min(daysBetween(days.fromDay, days.toDay), 400);
  for (let i = 0; i <= span; i++) {
    const day = addDays(days.fromDay, i);
    const row = perDay.get(day);
    byDay.push({ day, costMicros: row?.costMicros ?? 0, calls: row?.calls ?? 0 });
  }

  const breakdowns = {} as Record<Dimension, BreakdownRow[]>;
  for (const dim of DIMENSIONS) {
    breakdowns[dim] = q
      .breakdown(dim, days)
      .filter((r) => r.costMicros > 0 || r.calls > 0)
      .slice(0, TOP)
      .map((r) => ({
        key: r.key,
        costMicros: r.costMicros,
        calls: r.calls,
        tokens: r.tokens,
        share: totals.costMicros > 0 ? (r.costMicros / totals.costMicros) * 100 : 0,
      }));
  }

  // Burn rate, forecasts and cache savings come from the reports core, so the panel, the monthly report and the
  // CLI say the same numbers.
  const outlook = forecastCaps(workspace, now);
  const burnPerDayMicros = outlook.burn.perDayMicros;
  const forecasts: ForecastRow[] = outlook.caps.flatMap((c) =>
    c.period === 'daily'
      ? []
      : [
          {
            cap: capName(c.scope),
            period: c.period,
            limitMicros: c.limitMicros,
            projectedMicros: c.projectedMicros,
            reachesOn: c.reached ? dayKey(now, tz) : c.reachesOn,
          },
        ],
  );
  const savings = cacheSavings(modelProviderSpend(q, days), workspace.policy);
  const cache = {
    readTokens: savings.readTokens,
    writeTokens: savings.writeTokens,
    savedMicros: savings.savedMicros,
    writePremiumMicros: savings.writePremiumMicros,
  };

  const active = new Set(input.activeRuns);
  // The range picker applies here too: the runs started in the range (by the budget's calendar).
  const listed = q.listRuns({ limit: 500 }).filter((r) => {
    const day = dayKey(r.createdAt, tz);
    return day >= days.fromDay && day <= days.toDay;
  });
  const runs: RunRow[] = listed
    .map((r) => ({
      id: r.id,
      workflow: r.workflow,
      title: r.title,
      status: r.status,
      costMicros: r.costMicros,
      tokens: r.tokens,
      estimatedMicros: r.estimatedMicros,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
      resumable: RESUMABLE.includes(r.status) && !active.has(r.id),
      cancellable: active.has(r.id) || RESUMABLE.includes(r.status) || r.status === 'pending',
    }))
    .sort((a, b) => Number(b.resumable) - Number(a.resumable) || b.createdAt - a.createdAt)
    .slice(0, 100);

  return {
    generatedAt: now,
    range: input.range,
    fromDay: days.fromDay,
    toDay: days.toDay,
    policyError: workspace.policyError ? workspace.policyError.message : null,
    scopes,
    totals: {
      costMicros: totals.costMicros,
      estimatedMicros: totals.estimatedMicros,
      calls: totals.calls,
      tokens: totals.tokens,
    },
    byDay,
    breakdowns,
    burnPerDayMicros,
    forecasts,
    estimate: {
      calls: totals.estimate.calls,
      estimatedInput: totals.estimate.estimatedInput,
      actualInput: totals.estimate.actualInput,
      reservedCalls: totals.reserved.calls,
      reservedMicros: totals.reserved.reservedMicros,
      actualMicros: totals.reserved.actualMicros,
    },
    cache,
    runs,
    prices: pricesOn(now, workspace.policy.prices),
    canRun: input.canRun && !workspace.policyError,
    canExport: input.canExport,
    experiments: experimentRows(workspace),
    team: input.team ?? null,
    computeMs: performance.now() - started,
  };
}

/** The policy's experiments as the panel shows them (report/experiments.ts computes them for the report too). */
function experimentRows(workspace: Workspace): ExperimentRow[] {
  return experimentResults(workspace.store.queries, workspace.policy).map((e) => ({
    workflow: e.workflow,
    assigned: e.assigned,
    until: e.until ?? null,
    winner: e.winner ?? null,
    arms: e.arms.map((a) => ({
      arm: a.arm,
      label: a.label,
      sharePct: a.sharePct,
      runs: a.runs,
      finished: a.finished,
      marked: a.accepted + a.rejected,
      costPerRun: a.costPerRun,
      failureRate: a.failureRate,
      acceptance: a.acceptance,
    })),
  }));
}

/** The Prices tab's rows: recomputed when the day or budget.json's `prices` change, not on every spend update. */
let priceRows: { day: string; prices: BudgetPolicy['prices']; rows: PriceRow[] } | undefined;

function pricesOn(now: number, prices: BudgetPolicy['prices']): PanelSnapshot['prices'] {
  const day = utcDay(now);
  if (priceRows?.day !== day || priceRows.prices !== prices) {
    const rows = priceTable(prices, day).map((r): PriceRow => ({
      model: r.id,
      provider: r.provider,
      ...r.rates,
      aboveTokens: r.above?.tokens ?? null,
      origin: r.origin === 'policy' ? 'policy' : 'table',
      replacesBuiltIn: r.replacesBuiltIn,
      promotionUntil: r.promotionUntil ?? null,
      nextChange: r.nextChange?.day ?? null,
      source: r.source,
      asOf: r.asOf ?? null,
    }));
    priceRows = { day, prices, rows };
  }
  return {
    day,
    tableDate: PRICE_TABLE_DATE,
    stale: priceTableAgeDays(now) > STALE_AFTER_DAYS,
    rows: priceRows.rows,
  };
}
