import type { Clock } from '../clock';
import type { TaskLimits } from '../policy/types';
import { newId } from '../processIdentity';
import type { StoreQueries } from '../store/queries';
import { parseItems, type RunnerStep } from './builtins';
import { stepOutputs, type RunCheckpointState, type TaskCheckpoint } from './checkpoint';
import {
  answerOf,
  awaitsToolResults,
  completeTask,
  hasAnswered,
  hasToolResult,
  openingMessages,
  renderPrompts,
  requestedToolCalls,
  sendToolResults,
} from './conversation';
import type { Execution } from './execution';
import type { StepLimits } from './limits';
import type { ModelCall } from './modelCall';
import type { ModelChoice } from './models';
import { cancelledError } from './stop';
import type { ToolCalls } from './toolCalls';
import type { WorkspaceTools } from './tools';

/**
 * Drives a run's steps in order from wherever its checkpoint left off: each step a task — one call, or an agent
 * loop while the model asks for tools — or a fan-out of sub-agents over an earlier step's items. Finished work is
 * never redone: completed tasks are skipped, a loop continues from its last message, tool results already in are
 * kept.
 */
export class StepDriver {
  constructor(
    private readonly parts: {
      clock: Clock;
      queries: () => StoreQueries;
      tools: WorkspaceTools;
      limits: StepLimits;
      models: ModelChoice;
      modelCall: ModelCall;
      toolCalls: ToolCalls;
    },
  ) {}

  async runSteps(ex: Execution): Promise<void> {
    const steps = ex.state.workflow.steps;
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      let task = ex.state.steps[i];
      if (task?.status === 'completed') continue;
      checkStillWanted(ex);
      if (!task) {
        task = await this.newTask(ex.state, step, {});
        ex.fresh.add(task.taskId);
        ex.state.steps.push(task);
        ex.queueTask(task);
      } else if (task.status !== 'running') {
        task.status = 'running';
        ex.queueTask(task);
      }
      ex.emit({
        type: 'stepStarted',
        runId: ex.runId,
        stepId: step.id,
        title: step.title ?? step.id,
        model: task.model,
      });
      if (step.subAgents) await this.runSubAgents(ex, step, task);
      else await this.runTask(ex, step, task);
      completeTask(task);
      ex.queueTask(task);
      ex.emit({ type: 'stepFinished', runId: ex.runId, stepId: step.id, status: 'completed' });
    }
  }

  /** A new task for `step`: its prompt rendered now (from finished steps' outputs) and its model chosen. */
  async newTask(
    state: RunCheckpointState,
    step: RunnerStep,
    sub: { parent?: TaskCheckpoint; item?: string },
  ): Promise<TaskCheckpoint> {
    const { prompt, system, context } = renderPrompts(state, step, sub.item);
    const text = `${system ?? ''}\n${context ?? ''}\n${prompt}`;
    const { model, provider } = await this.parts.models.choose(state, step, text);
    const now = this.parts.clock.now();
    return {
      taskId: newId(now),
      createdAt: now,
      stepId: step.id,
      status: 'running',
      provider,
      model,
      ...(system !== undefined ? { system } : {}),
      ...(context ? { contextBlock: true as const } : {}),
      messages: openingMessages(prompt, context),
      toolResults: [],
      calls: 0,
      toolCalls: 0,
      wallMs: 0,
      ...(sub.parent ? { parentTaskId: sub.parent.taskId, item: sub.item } : {}),
    };
  }

  /** One task: a single call, or an agent loop while the model asks for tools. */
  private async runTask(ex: Execution, step: RunnerStep, task: TaskCheckpoint): Promise<void> {
    const { limits: stepLimits, modelCall, toolCalls, tools } = this.parts;
    const limits = stepLimits.of(ex, step);
    const specs = step.tools?.length ? tools.specs(step.tools) : undefined;
    stepLimits.startClock(ex, task);
    try {
      for (;;) {
        if (hasAnswered(task)) {
          // The answer is in: the task is done whatever happens next (a cancel stops the run after it).
          task.output = answerOf(task);
          return;
        }
        checkStillWanted(ex);
        stepLimits.checkWallTime(ex, step, task, limits);
        if (awaitsToolResults(task)) {
          for (const call of requestedToolCalls(task)) {
            if (hasToolResult(task, call.id)) continue;
            await toolCalls.run(ex, step, task, call, limits);
          }
          sendToolResults(task);
          continue;
        }
        stepLimits.checkLoopSteps(ex, step, task, limits);
        await modelCall.run(ex, step, task, specs, limits);
      }
    } finally {
      stepLimits.stopClock(ex, task);
    }
  }

  /** Sub-agents: one child task per item of an earlier step's output, budgeted from this task's remaining tokens. */
  private async runSubAgents(ex: Execution, step: RunnerStep, parent: TaskCheckpoint): Promise<void> {
    const plan = step.subAgents!;
    const treeTokens = () => this.parts.queries().taskTreeTotals(parent.taskId).tokens;
    if (!parent.items) {
      const source = stepOutputs(ex.state)[plan.itemsFrom] ?? '';
      const items = parseItems(source, plan.max);
      parent.items = items.length ? items : [ex.state.input.input?.trim() || step.title || step.id];
      parent.children = [];
      if ('pool' in plan.budget) parent.poolFrom = treeTokens();
    }
    const children = (parent.children ??= []);
    const limits = this.parts.limits.of(ex, step);
    this.parts.limits.startClock(ex, parent);
    try {
      for (let i = 0; i < parent.items.length; i++) await this.runChild(ex, step, parent, i, limits);
    } finally {
      this.parts.limits.stopClock(ex, parent);
    }
    const items = parent.items;
    parent.output = children.map((c, i) => `### ${items[i]}\n\n${c.output ?? ''}`).join('\n\n');
  }

  /** Sub-agent `i` of `parent`; the parent's own wall-time limit bounds them all. */
  private async runChild(
    ex: Execution,
    step: RunnerStep,
    parent: TaskCheckpoint,
    i: number,
    limits: TaskLimits,
  ): Promise<void> {
    const items = parent.items!;
    const children = parent.children!;
    let child = children[i];
    if (child?.status === 'completed') return;
    checkStillWanted(ex);
    this.parts.limits.checkWallTime(ex, step, parent, limits);
    if (!child) {
      child = await this.newTask(ex.state, step, { parent, item: items[i]! });
      ex.fresh.add(child.taskId);
      if ('share' in step.subAgents!.budget)
        child.shareFrom = this.parts.queries().taskTreeTotals(parent.taskId).tokens;
      children.push(child);
    } else {
      child.status = 'running';
    }
    ex.queueTask(child);
    ex.emit({
      type: 'stepStarted',
      runId: ex.runId,
      stepId: step.id,
      title: `${step.title ?? step.id} ${i + 1}/${items.length}: ${items[i]}`,
      model: child.model,
    });
    await this.runTask(ex, step, child);
    completeTask(child);
    ex.queueTask(child);
  }
}

/** Stops before the next call or tool call when the run was cancelled, here or (see Runner) elsewhere. */
function checkStillWanted(ex: Execution): void {
  if (ex.abort.signal.aborted) throw cancelledError();
}
