import type { BudgetPolicy, ExperimentPolicy } from '../policy/types';
import { experimentId, splitOf, type ExperimentMark } from '../runner/experiments';
import type { StoreQueries } from '../store/queries';
import { formatPct, formatUnitCost, groupThousands, mdCell, mdTable } from './format';
import { below, tInterval, wilson, type Interval } from './stats';

/**
 * How the variants of each experiment in the policy are doing (docs/policy.md "Experiments"), over exactly the runs the
 * experiment assigned: cost per run (finished runs: completed or failed), failure rate (failed ÷ finished) and
 * acceptance (accepted ÷ marked, `agent-budget mark` or Mark Run Result…), each with its 95 % interval
 * (stats.ts: Student's t for the cost, Wilson for the rates) — and the winner, once the intervals separate.
 *
 * A variant wins when, against every other variant, its interval lies entirely on the better side — acceptance
 * first, then failures, then cost — and it is not clearly worse (a separated interval on the wrong side) on the
 * other two. Promote Variant writes a winner into the workflow's routing.
 */

export interface VariantArm {
  /** The index in the experiment's `variants`. */
  arm: number;
  model?: string;
  promptVersion?: string;
  /** `model @ promptVersion`, as people read it. */
  label: string;
  /** Percent of runs it gets. */
  sharePct: number;
  /** Runs assigned to it. */
  runs: number;
  /** Runs completed or failed. */
  finished: number;
  failed: number;
  accepted: number;
  rejected: number;
  /** µ$ per finished run. */
  costPerRun: Interval | null;
  failureRate: Interval | null;
  acceptance: Interval | null;
}

export interface ExperimentResult {
  workflow: string;
  /** The experiment as configured (experimentId). */
  id: string;
  /** Runs it assigned so far, and how many it will (undefined: no end). */
  assigned: number;
  until?: number;
  arms: VariantArm[];
  /** The variant whose intervals separate from every other's, and on what. */
  winner?: { arm: number; on: 'acceptance' | 'failures' | 'cost' };
}

export function experimentResults(
  queries: Pick<StoreQueries, 'listRuns' | 'runResult'>,
  policy: Pick<BudgetPolicy, 'experiments'>,
): ExperimentResult[] {
  return Object.entries(policy.experiments)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([workflow, exp]) => resultOf(queries, workflow, exp));
}

function resultOf(
  queries: Pick<StoreQueries, 'listRuns' | 'runResult'>,
  workflow: string,
  exp: ExperimentPolicy,
): ExperimentResult {
  const id = experimentId(exp);
  const split = splitOf(exp);
  const runs = queries
    .listRuns({ workflow, limit: Number.MAX_SAFE_INTEGER })
    .filter((r) => ((r.data ?? {}) as { experiment?: ExperimentMark }).experiment?.id === id);
  const arms = exp.variants.map((variant, arm): VariantArm => {
    const mine = runs.filter((r) => (r.data as { experiment: ExperimentMark }).experiment.arm === arm);
    const finished = mine.filter((r) => r.status === 'completed' || r.status === 'failed');
    const failed = finished.filter((r) => r.status === 'failed').length;
    const results = mine.map((r) => queries.runResult(r.id)?.result);
    const accepted = results.filter((x) => x === 'accepted').length;
    const rejected = results.filter((x) => x === 'rejected').length;
    return {
      arm,
      ...variant,
      label: [variant.model, variant.promptVersion].filter(Boolean).join(' @ '),
      sharePct: split[arm] ?? 0,
      runs: mine.length,
      finished: finished.length,
      failed,
      accepted,
      rejected,
      costPerRun: tInterval(finished.map((r) => r.costMicros)),
      failureRate: wilson(failed, finished.length),
      acceptance: wilson(accepted, accepted + rejected),
    };
  });
  const result: ExperimentResult = { workflow, id, assigned: runs.length, arms };
  if (exp.until) result.until = exp.until.runs;
  const winner = winnerOf(arms);
  if (winner) result.winner = winner;
  return result;
}

/** Better is lower failures and cost, higher acceptance; `clearly` = the intervals do not overlap. */
function winnerOf(arms: VariantArm[]): ExperimentResult['winner'] {
  const measures = [
    { on: 'acceptance' as const, better: (a: VariantArm, b: VariantArm) => below(b.acceptance, a.acceptance) },
    { on: 'failures' as const, better: (a: VariantArm, b: VariantArm) => below(a.failureRate, b.failureRate) },
    { on: 'cost' as const, better: (a: VariantArm, b: VariantArm) => below(a.costPerRun, b.costPerRun) },
  ];
  for (const m of measures) {
    for (const a of arms) {
      const others = arms.filter((b) => b !== a);
      if (!others.every((b) => m.better(a, b))) continue;
      const worseSomewhere = measures.some((n) => n !== m && others.some((b) => n.better(b, a)));
      if (!worseSomewhere) return { arm: a.arm, on: m.on };
    }
  }
  return undefined;
}

/** The report's Markdown section: one table per experiment, the winner said in words. */
export function experimentsMarkdown(results: readonly ExperimentResult[]): string[] {
  if (results.length === 0) return [];
  const out = ['## Experiments', ''];
  const rate = (i: Interval | null, n: number) =>
    i ? `${formatPct(i.estimate * 100)} (${formatPct(i.low * 100)}–${formatPct(i.high * 100)}) of ${n}` : '–';
  for (const e of results) {
    out.push(`### ${mdCell(e.workflow)}`, '');
    out.push(`${groupThousands(e.assigned)} runs assigned${e.until ? ` of ${groupThousands(e.until)}` : ''}.`, '');
    out.push(
      mdTable(
        ['Variant', 'Share', 'Runs', 'Cost per run (95% CI)', 'Failure rate (95% CI)', 'Acceptance (95% CI)'],
        e.arms.map((a) => [
          `${a.arm === e.winner?.arm ? '**' : ''}${mdCell(a.label)}${a.arm === e.winner?.arm ? '**' : ''}`,
          formatPct(a.sharePct),
          groupThousands(a.runs),
          a.costPerRun
            ? `${formatUnitCost(Math.round(a.costPerRun.estimate))} (${formatUnitCost(Math.max(0, Math.round(a.costPerRun.low)))}–${formatUnitCost(Math.round(a.costPerRun.high))})`
            : '–',
          rate(a.failureRate, a.finished),
          rate(a.acceptance, a.accepted + a.rejected),
        ]),
        ['left', 'right', 'right', 'right', 'right', 'right'],
      ),
    );
    out.push('');
    const w = e.winner && e.arms[e.winner.arm];
    out.push(
      w
        ? `**${mdCell(w.label)} wins on ${e.winner!.on}**: its interval separates from every other variant's. Promote it with *Promote Variant* in the budget panel (it writes \`workflows.${e.workflow}\` in budget.json).`
        : 'No variant wins yet: the intervals still overlap.',
    );
    out.push('');
  }
  out.push(
    'Cost per run: mean of finished runs with Student’s t-interval; failure rate and acceptance: Wilson score intervals; all at 95 %.',
    '',
  );
  return out;
}
