import { worstRates } from '../budget/admission';
import type { ScopeUse } from '../budget/types';
import { formatUsd, usdToMicros, type Micros } from '../money';
import { cachingOf, effectiveLimits, stepTaskLimits } from '../policy/effective';
import type { BudgetPolicy } from '../policy/types';
import { resolvePrice } from '../pricing/cost';
import { inputTokenBound } from '../providers/estimate';
import type { StoreQueries } from '../store/queries';
import type { RunnerStep } from './builtins';
import type { RunCheckpointState } from './checkpoint';
import { openingMessages, renderPrompts } from './conversation';
import type { ModelChoice } from './models';

/**
 * A quote before a run (docs/cli.md `run --quote`, the run notification): what runs of this workflow usually cost
 * here (p50 and p90 of its last QUOTE_RUNS completed runs) and the most this one can cost — the worst case the
 * budget could let it reserve, step by step: a single call's prompt (the first step's own bound, a later step's
 * task limit) and its whole max output, an agent loop's task token limit, each priced at the dearest rates it may
 * bill (cache writes included) and capped by the task's and run's dollar and token limits and what the workspace's
 * and the workflow's caps have left. A run can never cost more; null when nothing bounds it.
 */
export interface RunQuote {
  workflow: string;
  p50Micros: Micros | null;
  p90Micros: Micros | null;
  worstMicros: Micros | null;
  basedOnRuns: number;
}

/** How many recent completed runs the usual cost is read from. */
export const QUOTE_RUNS = 20;

export async function quoteRun(args: {
  state: RunCheckpointState;
  policy: BudgetPolicy;
  models: ModelChoice;
  queries: StoreQueries;
  /** What each workspace and workflow cap has used and holds now. */
  caps: ScopeUse[];
  now: number;
}): Promise<RunQuote> {
  const { state, policy } = args;
  const workflow = state.workflow;
  const costs = args.queries
    .listRuns({ workflow: workflow.id, status: ['completed'], limit: QUOTE_RUNS })
    .map((r) => r.costMicros)
    .sort((a, b) => a - b);
  const limits = effectiveLimits(policy, workflow.id);
  let worst = 0n;
  let maxOutputRate = 0n;
  for (const [i, step] of workflow.steps.entries()) {
    const step_ = await stepWorst(args, step as RunnerStep, i === 0);
    if (step_ === undefined) {
      worst = -1n;
      break;
    }
    worst += step_.units;
    if (step_.rate > maxOutputRate) maxOutputRate = step_.rate;
  }
  const caps: bigint[] = [];
  if (limits.session.hardTokens !== undefined) caps.push(BigInt(limits.session.hardTokens) * maxOutputRate);
  if (limits.session.hardUsd !== undefined) caps.push(BigInt(usdToMicros(limits.session.hardUsd)) * UNITS);
  for (const c of args.caps)
    if (c.limit !== undefined) caps.push(BigInt(Math.max(0, c.limit - c.used - c.reserved)) * UNITS);
  let bound = worst < 0n ? undefined : worst;
  for (const c of caps) if (bound === undefined || c < bound) bound = c;
  return {
    workflow: workflow.id,
    p50Micros: percentile(costs, 50),
    p90Micros: percentile(costs, 90),
    worstMicros: bound === undefined ? null : Number((bound + UNITS - 1n) / UNITS),
    basedOnRuns: costs.length,
  };
}

/** "usually $0.03 (p50) – $0.09 (p90) from your last 20 runs of code-review; at most $0.40" */
export function quoteText(q: RunQuote): string {
  const usual =
    q.basedOnRuns === 0 || q.p50Micros === null || q.p90Micros === null
      ? `no earlier runs of ${q.workflow} here to go by`
      : `usually ${formatUsd(q.p50Micros)} (p50) – ${formatUsd(q.p90Micros)} (p90) from your last ${q.basedOnRuns} ${q.basedOnRuns === 1 ? 'run' : 'runs'} of ${q.workflow}`;
  return `${usual}; ${q.worstMicros === null ? 'no limit bounds it' : `at most ${formatUsd(q.worstMicros)}`}`;
}

/** 10⁻⁶ µ$ per µ$ (the exact unit of per-token rates). */
const UNITS = 1_000_000n;

/**
 * The most one step can cost (10⁻⁶ µ$) and its output rate, or undefined when no limit bounds it. Prompt and output
 * tokens are spent at the dearer rate first, within what the task's token limit and the step's calls allow.
 */
async function stepWorst(
  args: Parameters<typeof quoteRun>[0],
  step: RunnerStep,
  first: boolean,
): Promise<{ units: bigint; rate: bigint } | undefined> {
  const { state, policy, models, now } = args;
  const limits = stepTaskLimits(effectiveLimits(policy, state.workflow.id).task, step.limits);
  const rendered = renderPrompts(state, step);
  const text = `${rendered.system ?? ''}\n${rendered.context ?? ''}\n${rendered.prompt}`;
  const { model, provider } = await models.choose(state, step, first ? text : step.prompt);
  const price = resolvePrice(provider, model, policy.prices, { at: now });
  const loop = !!step.tools?.length || !!step.subAgents;
  const hard = limits.hardTokens ?? effectiveLimits(policy, state.workflow.id).session.hardTokens;
  const bound =
    first && !loop
      ? inputTokenBound({
          model,
          system: rendered.system,
          messages: openingMessages(rendered.prompt, rendered.context),
        })
      : hard;
  if (bound === undefined) return undefined;
  const policyCaching = cachingOf(policy, state.workflow.id);
  const caching = policyCaching === 'off' ? 'none' : policyCaching === '1h' ? '1h' : '5m';
  const rates = worstRates(price, { inputTokens: bound, promptCaching: caching });
  const perCall = Math.min(step.maxOutputTokens ?? price.maxOutputTokens ?? bound, price.maxOutputTokens ?? Infinity);
  const calls = loop ? (limits.maxSteps ?? Infinity) : 1;
  const output = Math.min(perCall * calls, hard ?? Infinity);
  const total = hard ?? Infinity;
  if (!Number.isFinite(output) && !Number.isFinite(total)) return undefined;
  // The dearer kind first: output usually.
  const spend = (tokens: number, rate: bigint) => BigInt(Math.max(0, Math.floor(tokens))) * rate;
  let units: bigint;
  if (rates.outputUnits >= rates.promptUnits) {
    const out = Math.min(output, total);
    units = spend(out, rates.outputUnits) + spend(Math.min(bound, total - out), rates.promptUnits);
  } else {
    const prompt = Math.min(bound, total);
    units = spend(prompt, rates.promptUnits) + spend(Math.min(output, total - prompt), rates.outputUnits);
  }
  if (loop) {
    const tools = step.tools ?? [];
    const fee = Math.max(0, ...tools.map((t) => policy.tools.costsUsd[t] ?? 0));
    if (fee > 0 && limits.maxToolCalls !== undefined)
      units += BigInt(usdToMicros(fee)) * BigInt(limits.maxToolCalls) * UNITS;
  }
  if (limits.hardUsd !== undefined) {
    const cap = BigInt(usdToMicros(limits.hardUsd)) * UNITS;
    if (cap < units) units = cap;
  }
  const maxRate = rates.outputUnits > rates.promptUnits ? rates.outputUnits : rates.promptUnits;
  return { units, rate: maxRate };
}

/** Nearest-rank percentile of sorted values; null without any. */
function percentile(sorted: number[], p: number): Micros | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
