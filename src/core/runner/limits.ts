import { BudgetBlockedError, type SpendScopeSpec, type TokenScopeSpec } from '../budget/engine';
import { usdToMicros } from '../money';
import type { Clock } from '../clock';
import { effectiveLimits, stepTaskLimits } from '../policy/effective';
import type { BudgetPolicy, TaskLimits } from '../policy/types';
import type { StoreQueries } from '../store/queries';
import type { RunnerStep } from './builtins';
import { allTasks, type TaskCheckpoint } from './checkpoint';
import type { Execution } from './execution';

/**
 * A step's limits: its token scopes (the task's tree, a sub-agent's parent and its siblings' pool or share, the
 * session), its agent-loop steps and tool calls, and its wall time. A sub-agent's loop, tool-call and wall-time
 * limits are its step's as a whole, so each child gets what its siblings left, as with tokens.
 */
export class StepLimits {
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
   * The token scopes a task's call counts against: the task (its tree: a parent's children count against it), a
   * sub-agent's parent and the siblings' pool, and the session. Each reads its use from the store the first time
   * this process sees it (a resumed run), then the engine keeps it current.
   */
  tokenScopes(ex: Execution, step: RunnerStep, task: TaskCheckpoint, limits: TaskLimits): TokenScopeSpec[] {
    const q = this.queries();
    const budget = step.subAgents?.budget;
    let hard = limits.hardTokens;
    if (budget && 'share' in budget && task.shareFrom !== undefined && limits.hardTokens !== undefined) {
      hard = minDefined(hard, Math.floor(budget.share * Math.max(0, limits.hardTokens - task.shareFrom)));
    }
    const own: TokenScopeSpec = { key: `task@${task.taskId}`, kind: 'task', ...clampSoft(limits.softTokens, hard) };
    if (!ex.fresh.has(task.taskId)) own.initialUsed = () => q.taskTreeTotals(task.taskId).tokens;
    const scopes: TokenScopeSpec[] = [own];
    if (task.parentTaskId) {
      const parentId = task.parentTaskId;
      // The children's calls count against the parent's limit too (its counter starts from its whole tree's use).
      scopes.push({
        key: `task@${parentId}`,
        kind: 'task',
        softTokens: limits.softTokens,
        hardTokens: limits.hardTokens,
        initialUsed: () => q.taskTreeTotals(parentId).tokens,
      });
      const parent = allTasks(ex.state).find((t) => t.taskId === parentId);
      if (budget && 'pool' in budget && parent?.poolFrom !== undefined && limits.hardTokens !== undefined) {
        scopes.push({
          key: `pool@${parentId}`,
          kind: 'pool',
          hardTokens: Math.floor(budget.pool * Math.max(0, limits.hardTokens - parent.poolFrom)),
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
    return scopes;
  }

  /**
   * The dollar scopes a task's call or tool charge counts against: the task (its tree, like its tokens), a
   * sub-agent's parent, and the run. Each reads what it spent from the store the first time this process sees it.
   */
  spendScopes(ex: Execution, task: TaskCheckpoint, limits: TaskLimits): SpendScopeSpec[] {
    const q = this.queries();
    const micros = (usd: number | undefined) => (usd === undefined ? undefined : usdToMicros(usd));
    const taskScope = (taskId: string, fresh: boolean): SpendScopeSpec => ({
      key: `task.usd@${taskId}`,
      kind: 'task.usd',
      softMicros: micros(limits.softUsd),
      hardMicros: micros(limits.hardUsd),
      ...(fresh ? {} : { initialUsed: () => q.taskTreeTotals(taskId).costMicros }),
    });
    const scopes = [taskScope(task.taskId, ex.fresh.has(task.taskId))];
    if (task.parentTaskId) scopes.push(taskScope(task.parentTaskId, false));
    const session = effectiveLimits(this.policy(), ex.state.workflow.id).session;
    scopes.push({
      key: `session.usd@${ex.runId}`,
      kind: 'session.usd',
      softMicros: micros(session.softUsd),
      hardMicros: micros(session.hardUsd),
      initialUsed: () => q.runTotals(ex.runId).costMicros,
    });
    return scopes;
  }

  /** Blocks the next LLM call once the step made `maxSteps` of them. */
  checkLoopSteps(ex: Execution, step: RunnerStep, task: TaskCheckpoint, limits: TaskLimits): void {
    if (limits.maxSteps !== undefined && this.counts(ex, task).calls >= limits.maxSteps) {
      throw new BudgetBlockedError(
        `${stepName(step, task)} reached its limit of ${limits.maxSteps} ` +
          "agent-loop steps. Raise limits.task.maxSteps in .agent-budget/budget.json (or the step's limits) and resume.",
        'task.maxSteps',
      );
    }
  }

  /** Blocks the next tool call once the step made `maxToolCalls` of them. */
  checkToolCalls(ex: Execution, step: RunnerStep, task: TaskCheckpoint, limits: TaskLimits): void {
    if (limits.maxToolCalls !== undefined && this.counts(ex, task).toolCalls >= limits.maxToolCalls) {
      throw new BudgetBlockedError(
        `${stepName(step, task)} reached its limit of ${limits.maxToolCalls} ` +
          "tool calls. Raise limits.task.maxToolCalls in .agent-budget/budget.json (or the step's limits) and resume.",
        'task.maxToolCalls',
      );
    }
  }

  checkWallTime(ex: Execution, step: RunnerStep, task: TaskCheckpoint, limits: TaskLimits): void {
    const left = this.wallLeftMs(ex, task, limits);
    if (left !== undefined && left <= 0) throw wallTimeBlocked(step, task, limits);
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
   * at the step's wall-time deadline, so neither a stream nor a command outlives the limit.
   */
  signal(ex: Execution, task: TaskCheckpoint, limits: TaskLimits): { signal: AbortSignal; dispose(): void } {
    const controller = new AbortController();
    const onAbort = () => controller.abort(ex.abort.signal.reason);
    ex.abort.signal.addEventListener('abort', onAbort, { once: true });
    if (ex.abort.signal.aborted) controller.abort(ex.abort.signal.reason);
    const left = this.wallLeftMs(ex, task, limits);
    const timer = left === undefined ? undefined : setTimeout(() => controller.abort('wall'), Math.max(0, left));
    return {
      signal: controller.signal,
      dispose: () => {
        clearTimeout(timer);
        ex.abort.signal.removeEventListener('abort', onAbort);
      },
    };
  }

  /** Tool calls and LLM calls made so far against `task`'s limits: its step's, sub-agents together. */
  private counts(ex: Execution, task: TaskCheckpoint): { toolCalls: number; calls: number } {
    const owner = limitedBy(ex, task);
    let { toolCalls, calls } = owner;
    for (const child of owner.children ?? []) {
      toolCalls += child.toolCalls;
      calls += child.calls;
    }
    return { toolCalls, calls };
  }

  /** Wall time the step of `task` has left (its sub-agents share the parent's), or undefined without a limit. */
  private wallLeftMs(ex: Execution, task: TaskCheckpoint, limits: TaskLimits): number | undefined {
    if (limits.maxWallSeconds === undefined) return undefined;
    return limits.maxWallSeconds * 1000 - ex.wallMs(limitedBy(ex, task));
  }
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

/** The task whose tool-call, loop-step and wall-time limits bound `task`: a sub-agent's parent, else the task. */
function limitedBy(ex: Execution, task: TaskCheckpoint): TaskCheckpoint {
  if (!task.parentTaskId) return task;
  return ex.state.steps.find((t) => t.taskId === task.parentTaskId) ?? task;
}

/** How a limit message names the step: a sub-agent's limits are its step's as a whole. */
function stepName(step: RunnerStep, task: TaskCheckpoint): string {
  return `Step "${step.id}"${task.parentTaskId ? ' (its sub-agents together)' : ''}`;
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

function clampSoft(soft: number | undefined, hard: number | undefined): { softTokens?: number; hardTokens?: number } {
  if (soft !== undefined && hard !== undefined && soft > hard)
    return { softTokens: Math.floor(hard / 2), hardTokens: hard };
  return { softTokens: soft, hardTokens: hard };
}
