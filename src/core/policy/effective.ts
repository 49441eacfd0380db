import type { ScopeRef } from './scopes';
import type {
  BudgetPolicy,
  CachingPolicy,
  SessionLimits,
  TaskLimits,
  TokenLimits,
  UsdCaps,
  UsdLimits,
  WorkflowPolicy,
} from './types';

/**
 * The limits and model choices that apply to one workflow: per-workflow overrides (`workflows.<id>`) over the
 * workspace's limits. Plain functions of the policy — cheap enough to call per admission.
 */

export interface EffectiveLimits {
  /** Limits of each task (step) of the workflow. */
  task: TaskLimits;
  /** Limits of each run (session) of the workflow. */
  session: SessionLimits;
  /** USD caps on this workflow's own spend (`workflows.<id>.limits.*Usd`); empty when none are set. */
  workflow: UsdCaps;
  /** USD caps on all spend of the workspace (`limits.workspace`). */
  workspace: UsdCaps;
}

type LimitOverride<T> = { [K in keyof T]?: T[K] | null };

/**
 * `over` replaces `base` key by key; `null` removes a limit (only the policy file's top-level limits may say null).
 * A soft limit (tokens or dollars) inherited from `base` that is above a hard limit set in `over` could never warn
 * before the block, so it becomes half of that hard limit. (An explicit soft above its hard limit is a policy error.)
 */
export function overrideLimits<T extends TokenLimits & UsdLimits>(base: T, over: LimitOverride<T> | undefined): T {
  const out = { ...base };
  if (!over) return out;
  for (const key of Object.keys(over) as (keyof T)[]) {
    const value = over[key];
    if (value === null) delete out[key];
    else if (value !== undefined) out[key] = value as T[keyof T];
  }
  if (
    typeof over.hardTokens === 'number' &&
    over.softTokens === undefined &&
    out.softTokens !== undefined &&
    out.softTokens > over.hardTokens
  ) {
    out.softTokens = Math.floor(over.hardTokens / 2);
  }
  if (
    typeof over.hardUsd === 'number' &&
    over.softUsd === undefined &&
    out.softUsd !== undefined &&
    out.softUsd > over.hardUsd
  ) {
    out.softUsd = over.hardUsd / 2;
  }
  return out;
}

export function effectiveLimits(policy: BudgetPolicy, workflowId?: string): EffectiveLimits {
  const wf = workflowPolicy(policy, workflowId);
  const workflow: UsdCaps = {};
  if (wf?.limits?.dailyUsd !== undefined) workflow.dailyUsd = wf.limits.dailyUsd;
  if (wf?.limits?.weeklyUsd !== undefined) workflow.weeklyUsd = wf.limits.weeklyUsd;
  if (wf?.limits?.monthlyUsd !== undefined) workflow.monthlyUsd = wf.limits.monthlyUsd;
  return {
    task: overrideLimits(policy.limits.task, wf?.limits?.task),
    session: overrideLimits(policy.limits.session, wf?.limits?.session),
    workflow,
    workspace: { ...policy.limits.workspace },
  };
}

/**
 * Task limits of one workflow step: the step's `limits` (workflow file) can only tighten the task limits of the
 * policy, never loosen them — the budget file is where spending is decided. Each key is the smaller of the two.
 */
export function stepTaskLimits(task: TaskLimits, step: TaskLimits | undefined): TaskLimits {
  if (!step) return { ...task };
  const out: TaskLimits = { ...task };
  for (const key of TASK_LIMIT_KEYS) {
    const s = step[key];
    if (s === undefined) continue;
    const t = task[key];
    out[key] = t === undefined ? s : Math.min(s, t);
  }
  if (out.softTokens !== undefined && out.hardTokens !== undefined && out.softTokens > out.hardTokens) {
    out.softTokens = Math.floor(out.hardTokens / 2);
  }
  if (out.softUsd !== undefined && out.hardUsd !== undefined && out.softUsd > out.hardUsd)
    out.softUsd = out.hardUsd / 2;
  return out;
}

const TASK_LIMIT_KEYS = [
  'softTokens',
  'hardTokens',
  'softUsd',
  'hardUsd',
  'maxToolCalls',
  'maxSteps',
  'maxWallSeconds',
] as const;

/** The prompt caching a workflow's calls ask for: its own `caching`, else the policy's, else `auto`. */
export function cachingOf(policy: Pick<BudgetPolicy, 'caching' | 'workflows'>, workflowId?: string): CachingPolicy {
  const wf =
    workflowId !== undefined && Object.hasOwn(policy.workflows, workflowId) ? policy.workflows[workflowId] : undefined;
  return wf?.caching ?? policy.caching ?? 'auto';
}

/** The USD cap (in USD, as written) of a period scope; undefined for task/session or when no cap is set. */
export function usdCap(policy: BudgetPolicy, scope: ScopeRef): number | undefined {
  switch (scope.kind) {
    case 'task':
    case 'session':
    case 'task.usd':
    case 'session.usd':
      return undefined;
    case 'workspace':
      return policy.limits.workspace[`${scope.period}Usd`];
    case 'workflow':
      return workflowPolicy(policy, scope.workflowId)?.limits?.[`${scope.period}Usd`];
  }
}

export type RouteReason = 'default' | 'complex-threshold' | 'complex-keyword' | 'complex-flag';

export interface RouteRequest {
  /** Estimated input tokens of the call. */
  inputTokens: number;
  /** The user's input (searched for `complexity.keywords`). */
  text?: string;
  /** Explicit flag: true = use the complex model, false = never; undefined = decide by threshold and keywords. */
  complex?: boolean;
  /** Model to use when the policy names none for this workflow (e.g. the workflow file's or the built-in's). */
  defaultModel?: string;
}

export interface ModelRoute {
  /** undefined only when neither the policy nor the request names a model. */
  model: string | undefined;
  reason: RouteReason;
}

/**
 * Default vs complex model (docs/product.md "Model routing"). Complex when flagged, when the estimated input is above
 * `complexity.inputTokensAbove`, or when the text mentions one of `complexity.keywords` as a whole word
 * (case-insensitive); in that order. Without a `complexModel` every request takes the default model.
 */
export function routeModel(policy: BudgetPolicy, workflowId: string | undefined, req: RouteRequest): ModelRoute {
  const wf = workflowPolicy(policy, workflowId);
  const model = wf?.model ?? req.defaultModel;
  const complexModel = wf?.complexModel;
  if (!wf || complexModel === undefined || req.complex === false) return { model, reason: 'default' };
  if (req.complex === true) return { model: complexModel, reason: 'complex-flag' };
  const above = wf.complexity?.inputTokensAbove;
  if (above !== undefined && req.inputTokens > above) return { model: complexModel, reason: 'complex-threshold' };
  const keywords = keywordPattern(wf);
  if (keywords && req.text !== undefined && keywords.test(req.text))
    return { model: complexModel, reason: 'complex-keyword' };
  return { model, reason: 'default' };
}

/** The cheaper model a DEGRADE decision routes this workflow to; undefined when the policy names none. */
export function degradeModel(policy: BudgetPolicy, workflowId: string | undefined): string | undefined {
  return workflowPolicy(policy, workflowId)?.degradeModel;
}

function workflowPolicy(policy: BudgetPolicy, workflowId: string | undefined): WorkflowPolicy | undefined {
  if (workflowId === undefined || !Object.hasOwn(policy.workflows, workflowId)) return undefined;
  return policy.workflows[workflowId];
}

const keywordPatterns = new WeakMap<WorkflowPolicy, RegExp | null>();

/** One case-insensitive whole-word pattern per workflow policy (letters/digits of any script count as word). */
function keywordPattern(wf: WorkflowPolicy): RegExp | undefined {
  let re = keywordPatterns.get(wf);
  if (re === undefined) {
    const words = (wf.complexity?.keywords ?? []).filter((k) => k.trim() !== '');
    re = words.length
      ? new RegExp(
          `(?<![\\p{L}\\p{N}_])(?:${words.map((w) => w.trim().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})(?![\\p{L}\\p{N}_])`,
          'iu',
        )
      : null;
    keywordPatterns.set(wf, re);
  }
  return re ?? undefined;
}
