import { BudgetBlockedError, type SpendScopeSpec, type TokenScopeSpec } from '../budget/engine';
import type { Clock } from '../clock';
import { usdToMicros } from '../money';
import { effectiveLimits, stepTaskLimits } from '../policy/effective';
import type { BudgetPolicy, TaskLimits } from '../policy/types';
import type { StoreQueries } from '../store/queries';
import type { RunnerStep } from './builtins';
import type { TaskCheckpoint } from './checkpoint';
import type { Execution } from './execution';
import { lineage, placementOf } from './lineage';

/**
 * A step's limits: its token and dollar scopes (the task, every task above it — a sub-agent's fan-out and the
 * sub-agent whose steps it runs — their siblings' pools and shares, the session), its agent-loop steps and tool
 * calls, and its wall time. A fan-out's loop, tool-call and wall-time limits bound its sub-agents together (each
 * gets what its siblings left, as with tokens), and a step inside a sub-agent is bounded by its own limits and by
 * every fan-out above it.
 */
export class StepLimits {
  /**
   * The call or tool call of a task between its limit check and the moment it is counted (`calls` / `toolCalls`
   * as they were at the check): concurrent siblings' checks count it, so `maxSteps` and `maxToolCalls` hold exactly.
   */
  private readonly pending = new WeakMap<TaskCheckpoint, { calls?: number; toolCalls?: number }>();

  constructor(
    private readonly policy: () => BudgetPolicy,
    private readonly queries: () => StoreQueries,
    private readonly clock: Clock,
  ) {}

  /** The step's task limits: the policy's for the workflow, under the step's own. */
  of(ex: Execution, step: RunnerStep): TaskLimits {
    return stepTaskLimits(effectiveLimits(this.policy(), ex.state.workflow.id).task, step.limits);
  }

  /**
   * The token scopes a task's call counts against: the task, every task above it with a limit (a fan-out's step
   * limits; a sub-agent's share), the sub-agents' pools, and the session. Each reads its use from the store the
   * first time this process sees it (a resumed run; a task's tree: children count against their parents), then
   * the engine keeps it current — in-flight reservations of siblings included.
   */
  tokenScopes(ex: Execution, _step: RunnerStep, task: TaskCheckpoint, limits: TaskLimits): TokenScopeSpec[] {
    const q = this.queries();
    const scopes: TokenScopeSpec[] = [];
    for (const node of lineage(task)) {
      const at = placementOf(node);
      const own = node === task ? limits : at?.ownsLimits ? this.of(ex, at.step) : {};
      let hard = own.hardTokens;
      const parent = at?.parent;
      const parentAt = parent ? placementOf(parent) : undefined;
      const budget = parentAt?.step.subAgents?.budget;
      const parentHard = parentAt ? this.of(ex, parentAt.step).hardTokens : undefined;
      if (budget?.share !== undefined && node.shareFrom !== undefined && parentHard !== undefined)
        hard = minDefined(hard, Math.floor(budget.share * Math.max(0, parentHard - node.shareFrom)));
      if (node === task || hard !== undefined) {
        const spec: TokenScopeSpec = { key: `task@${node.taskId}`, kind: 'task', ...clampSoft(own.softTokens, hard) };
        if (node !== task || !ex.fresh.has(task.taskId)) spec.initialUsed = () => q.taskTreeTotals(node.taskId).tokens;
        scopes.push(spec);
      }
      if (parent && budget?.pool !== undefined && parent.poolFrom !== undefined && parentHard !== undefined) {
        const parentId = parent.taskId;
        scopes.push({
          key: `pool@${parentId}`,
          kind: 'pool',
          hardTokens: Math.floor(budget.pool * Math.max(0, parentHard - parent.poolFrom)),
          initialUsed: () => q.taskTreeTotals(parentId).tokens - q.taskTotals(parentId).tokens,
        });
      }
    }
    const session = effectiveLimits(this.policy(), ex.state.workflow.id).session;
    scopes.push({
      key: `session@${ex.runId}`,
      kind: 'session',
      softTokens: session.softTokens,
      hardTokens: session.hardTokens,
      initialUsed: () => q.runTotals(ex.runId).tokens,
    });
    return unique(scopes);
  }

  /**
   * The dollar scopes a task's call or tool charge counts against (the task's own first): the task (its tree, like
   * its tokens) under its step's `limits.task` dollars, every task above it with a limit (a fan-out's step limits and
   * its `subAgents.budget.maxUsd`; a sub-agent's share of what its fan-out has left), the sub-agents' pools of it, and
   * the run. Each reads what it spent from the store the first time this process sees it.
   */
  spendScopes(ex: Execution, task: TaskCheckpoint, limits: TaskLimits): SpendScopeSpec[] {
    const q = this.queries();
    const micros = (usd: number | undefined) => (usd === undefined ? undefined : usdToMicros(usd));
    const scopes: SpendScopeSpec[] = [];
    for (const node of lineage(task)) {
      const at = placementOf(node);
      const own = node === task ? limits : at?.ownsLimits ? this.of(ex, at.step) : {};
      let hard = minDefined(micros(own.hardUsd), maxUsdMicros(at?.step));
      const parent = at?.parent;
      const parentStep = parent ? placementOf(parent)?.step : undefined;
      const budget = parentStep?.subAgents?.budget;
      const parentMax = maxUsdMicros(parentStep);
      if (budget?.share !== undefined && node.shareFromMicros !== undefined && parentMax !== undefined)
        hard = minDefined(hard, Math.floor(budget.share * Math.max(0, parentMax - node.shareFromMicros)));
      const soft = micros(own.softUsd);
      // The task's own key even without a limit of its own: the engine counts a tool charge through it.
      if (node === task || hard !== undefined || soft !== undefined) {
        const spec: SpendScopeSpec = {
          key: `task.usd@${node.taskId}`,
          kind: 'task.usd',
          softMicros: soft,
          hardMicros: hard,
        };
        if (node !== task || !ex.fresh.has(task.taskId))
          spec.initialUsed = () => q.taskTreeTotals(node.taskId).costMicros;
        scopes.push(spec);
      }
      if (parent && budget?.pool !== undefined && parent.poolFromMicros !== undefined && parentMax !== undefined) {
        const parentId = parent.taskId;
        scopes.push({
          key: `pool.usd@${parentId}`,
          kind: 'pool.usd',
          hardMicros: Math.floor(budget.pool * Math.max(0, parentMax - parent.poolFromMicros)),
          initialUsed: () => q.taskTreeTotals(parentId).costMicros - q.taskTotals(parentId).costMicros,
        });
      }
    }
    const session = effectiveLimits(this.policy(), ex.state.workflow.id).session;
    scopes.push({
      key: `session.usd@${ex.runId}`,
      kind: 'session.usd',
      softMicros: micros(session.softUsd),
      hardMicros: micros(session.hardUsd),
      initialUsed: () => q.runTotals(ex.runId).costMicros,
    });
    return unique(scopes);
  }

  /** Blocks the next LLM call once the step (a fan-out: its sub-agents together) made `maxSteps` of them. */
  checkLoopSteps(ex: Execution, step: RunnerStep, task: TaskCheckpoint, limits: TaskLimits): void {
    for (const { owner, step: s, limits: l } of this.owners(ex, step, task, limits)) {
      if (l.maxSteps !== undefined && this.counts(owner).calls >= l.maxSteps) {
        throw new BudgetBlockedError(
          `${stepName(s, owner)} reached its limit of ${l.maxSteps} ` +
            "agent-loop steps. Raise limits.task.maxSteps in .agent-budget/budget.json (or the step's limits) and resume.",
          'task.maxSteps',
        );
      }
    }
    this.pending.set(task, { ...this.pending.get(task), calls: task.calls });
  }

  /** Blocks the next tool call once the step (a fan-out: its sub-agents together) made `maxToolCalls` of them. */
  checkToolCalls(ex: Execution, step: RunnerStep, task: TaskCheckpoint, limits: TaskLimits): void {
    for (const { owner, step: s, limits: l } of this.owners(ex, step, task, limits)) {
      if (l.maxToolCalls !== undefined && this.counts(owner).toolCalls >= l.maxToolCalls) {
        throw new BudgetBlockedError(
          `${stepName(s, owner)} reached its limit of ${l.maxToolCalls} ` +
            "tool calls. Raise limits.task.maxToolCalls in .agent-budget/budget.json (or the step's limits) and resume.",
          'task.maxToolCalls',
        );
      }
    }
    this.pending.set(task, { ...this.pending.get(task), toolCalls: task.toolCalls });
  }

  checkWallTime(ex: Execution, step: RunnerStep, task: TaskCheckpoint, limits: TaskLimits): void {
    for (const { owner, step: s, limits: l } of this.owners(ex, step, task, limits)) {
      const left = this.wallLeftMs(ex, owner, l);
      if (left !== undefined && left <= 0) throw wallTimeBlocked(s, owner, l);
    }
  }

  /** Starts counting `task`'s wall time in this process (from what earlier processes spent). */
  startClock(ex: Execution, task: TaskCheckpoint): void {
    ex.segments.set(task.taskId, { base: task.wallMs, start: this.clock.now() });
  }

  /** Stops counting `task`'s wall time here, keeping what it spent in its checkpoint. */
  stopClock(ex: Execution, task: TaskCheckpoint): void {
    task.wallMs = ex.wallMs(task);
    ex.segments.delete(task.taskId);
  }

  /**
   * The signal a call or a tool runs under: it fires with reason 'cancelled' when the run is cancelled and 'wall'
   * at the nearest wall-time deadline of the step and the fan-outs above it, so neither a stream nor a command
   * outlives the limit.
   */
  signal(
    ex: Execution,
    task: TaskCheckpoint,
    limits: TaskLimits,
    step?: RunnerStep,
  ): { signal: AbortSignal; dispose(): void } {
    const controller = new AbortController();
    const onAbort = () => controller.abort(ex.abort.signal.reason);
    ex.abort.signal.addEventListener('abort', onAbort, { once: true });
    if (ex.abort.signal.aborted) controller.abort(ex.abort.signal.reason);
    let left: number | undefined;
    for (const o of this.owners(ex, step ?? placementOf(task)?.step, task, limits)) {
      const l = this.wallLeftMs(ex, o.owner, o.limits);
      if (l !== undefined) left = left === undefined ? l : Math.min(left, l);
    }
    const timer = left === undefined ? undefined : setTimeout(() => controller.abort('wall'), Math.max(0, left));
    return {
      signal: controller.signal,
      dispose: () => {
        clearTimeout(timer);
        ex.abort.signal.removeEventListener('abort', onAbort);
      },
    };
  }

  /**
   * The tasks whose loop, tool-call and wall-time limits bound `task`, with their steps and limits: the task itself
   * unless it is a sub-agent running its fan-out's prompt, and every fan-out above it.
   */
  private owners(
    ex: Execution,
    step: RunnerStep | undefined,
    task: TaskCheckpoint,
    limits: TaskLimits,
  ): Array<{ owner: TaskCheckpoint; step: RunnerStep; limits: TaskLimits }> {
    const out: Array<{ owner: TaskCheckpoint; step: RunnerStep; limits: TaskLimits }> = [];
    for (const node of lineage(task)) {
      const at = placementOf(node);
      if (node === task && (!at || at.ownsLimits) && step) out.push({ owner: node, step, limits });
      else if (at?.ownsLimits) out.push({ owner: node, step: at.step, limits: this.of(ex, at.step) });
    }
    return out;
  }

  /** Tool calls and LLM calls made (or checked and under way) in `owner`'s tree: a fan-out counts its sub-agents'. */
  private counts(owner: TaskCheckpoint): { toolCalls: number; calls: number } {
    let toolCalls = 0;
    let calls = 0;
    const visit = (t: TaskCheckpoint) => {
      const pending = this.pending.get(t);
      calls += t.calls + (pending?.calls === t.calls ? 1 : 0);
      toolCalls += t.toolCalls + (pending?.toolCalls === t.toolCalls ? 1 : 0);
      for (const c of t.children ?? []) visit(c);
      for (const c of t.steps ?? []) visit(c);
    };
    visit(owner);
    return { toolCalls, calls };
  }

  /** The call or tool call checked for `task` ended without being counted (refused, failed): forget it. */
  settled(task: TaskCheckpoint): void {
    this.pending.delete(task);
  }

  /** Wall time `owner` has left under `limits`, or undefined without a limit. */
  private wallLeftMs(ex: Execution, owner: TaskCheckpoint, limits: TaskLimits): number | undefined {
    if (limits.maxWallSeconds === undefined) return undefined;
    return limits.maxWallSeconds * 1000 - ex.wallMs(owner);
  }
}

/** A fan-out step's dollar limit for its sub-agents together, in µ$. */
function maxUsdMicros(step: RunnerStep | undefined): number | undefined {
  const usd = step?.subAgents?.budget?.maxUsd;
  return usd === undefined ? undefined : usdToMicros(usd);
}

function unique<T extends { key: string }>(scopes: T[]): T[] {
  return scopes.filter((s, i) => scopes.findIndex((o) => o.key === s.key) === i);
}

/** The wall-time block of `task`'s step; `stopped` says what was cut off at the deadline. */
export function wallTimeBlocked(
  step: RunnerStep,
  task: TaskCheckpoint,
  limits: TaskLimits,
  stopped?: string,
): BudgetBlockedError {
  return new BudgetBlockedError(
    `${stepName(step, task)} ran for its limit of ${limits.maxWallSeconds} s` +
      `${stopped ? `; ${stopped}` : ''}. Raise limits.task.maxWallSeconds in .agent-budget/budget.json (or the step's limits) and resume.`,
    'task.maxWallSeconds',
  );
}

/** How a limit message names the step: a fan-out's limits are its sub-agents' as a whole. */
function stepName(step: RunnerStep, owner: TaskCheckpoint): string {
  const together = !!owner.children?.length || placementOf(owner)?.ownsLimits === false;
  return `Step "${step.id}"${together ? ' (its sub-agents together)' : ''}`;
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

function clampSoft(soft: number | undefined, hard: number | undefined): { softTokens?: number; hardTokens?: number } {
  if (soft !== undefined && hard !== undefined && soft > hard)
    return { softTokens: Math.floor(hard / 2), hardTokens: hard };
  return { softTokens: soft, hardTokens: hard };
}
