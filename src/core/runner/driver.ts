import type { Clock } from '../clock';
import { newId } from '../processIdentity';
import type { StoreQueries } from '../store/queries';
import type { RunnerStep } from './builtins';
import type { RunCheckpointState, TaskCheckpoint } from './checkpoint';
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
import { FanOut, outputsFor, type Halt } from './fanOut';
import { place } from './lineage';
import type { StepLimits } from './limits';
import type { ModelCall } from './modelCall';
import type { ModelChoice } from './models';
import { checkStillWanted } from './stop';
import type { ToolCalls } from './toolCalls';
import type { WorkspaceTools } from './tools';

/** One list of steps being driven: the run's own, or the `steps` a sub-agent runs. */
export interface StepList {
  steps: readonly RunnerStep[];
  /** Their tasks so far, in order (the checkpoint's array: new tasks are appended to it). */
  tasks: TaskCheckpoint[];
  /** The sub-agent whose steps these are; undefined for the run's. */
  owner?: TaskCheckpoint;
  /** Outputs of the enclosing lists' finished steps: a sub-agent's steps see them under their own. */
  outer: Record<string, string>;
  /** The sub-agent's item, and its text when it is a file. */
  item?: string;
  itemContent?: string;
  /** How the titles of these steps begin in progress events (a sub-agent's: "Research 2/4: item › "). */
  titlePrefix: string;
  /** Set when a sibling sub-agent failed: stop before the next call. */
  halt?: Halt;
}

/**
 * Drives a run's steps in order from wherever its checkpoint left off: each step a task — one call, or an agent
 * loop while the model asks for tools — or a fan-out of sub-agents (fanOut.ts), whose sub-agents may run steps of
 * their own. Finished work is never redone: completed tasks are skipped, a loop continues from its last message,
 * tool results already in are kept.
 */
export class StepDriver {
  private readonly fanOut: FanOut;

  constructor(
    private readonly parts: {
      clock: Clock;
      queries: () => StoreQueries;
      tools: WorkspaceTools;
      limits: StepLimits;
      models: ModelChoice;
      modelCall: ModelCall;
      toolCalls: ToolCalls;
      /** Whether the policy lets agents read files without asking (a fan-out over files reads them). */
      readAllowed: () => boolean;
    },
  ) {
    this.fanOut = new FanOut(this, parts);
  }

  runSteps(ex: Execution): Promise<void> {
    return this.runList(ex, { steps: ex.state.workflow.steps, tasks: ex.state.steps, outer: {}, titlePrefix: '' });
  }

  /** The steps of `list` in order, from the first one not completed. */
  async runList(ex: Execution, list: StepList): Promise<void> {
    for (let i = 0; i < list.steps.length; i++) {
      const step = list.steps[i]!;
      let task = list.tasks[i];
      if (task?.status === 'completed') continue;
      checkStillWanted(ex, list.halt);
      if (!task) {
        task = await this.newTask(ex.state, step, {
          parent: list.owner,
          render: { item: list.item, itemContent: list.itemContent, outputs: outputsFor(list) },
        });
        ex.fresh.add(task.taskId);
        list.tasks.push(task);
        ex.queueTask(task);
      } else if (task.status !== 'running') {
        task.status = 'running';
        ex.queueTask(task);
      }
      place(task, { step, parent: list.owner, ownsLimits: true });
      ex.emit({
        type: 'stepStarted',
        runId: ex.runId,
        stepId: step.id,
        title: `${list.titlePrefix}${step.title ?? step.id}`,
        model: task.model,
      });
      if (step.subAgents) await this.fanOut.run(ex, list, step, task);
      else await this.runTask(ex, step, task, list.halt);
      completeTask(task);
      ex.queueTask(task);
      ex.emit({ type: 'stepFinished', runId: ex.runId, stepId: step.id, status: 'completed' });
    }
  }

  /**
   * A new task for `step`: its prompt rendered now (from finished steps' outputs and, in a sub-agent, its item)
   * and its model chosen. `parent`: the task above it; `child`: the item it works on, when it is a sub-agent.
   */
  async newTask(
    state: RunCheckpointState,
    step: RunnerStep,
    sub: {
      parent?: TaskCheckpoint;
      child?: { item: string; itemContent?: string };
      render?: { item?: string; itemContent?: string; outputs?: Record<string, string> };
    },
  ): Promise<TaskCheckpoint> {
    const render = sub.child ? { ...sub.render, ...sub.child } : sub.render;
    const { prompt, system, context } = renderPrompts(state, step, render);
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
      ...(sub.parent ? { parentTaskId: sub.parent.taskId } : {}),
      ...(sub.child ? { item: sub.child.item } : {}),
      ...(sub.child?.itemContent !== undefined ? { itemContent: sub.child.itemContent } : {}),
    };
  }

  /** One task: a single call, or an agent loop while the model asks for tools. */
  async runTask(ex: Execution, step: RunnerStep, task: TaskCheckpoint, halt?: Halt): Promise<void> {
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
        checkStillWanted(ex, halt);
        stepLimits.checkWallTime(ex, step, task, limits);
        if (awaitsToolResults(task)) {
          for (const call of requestedToolCalls(task)) {
            if (hasToolResult(task, call.id)) continue;
            checkStillWanted(ex, halt);
            try {
              await toolCalls.run(ex, step, task, call, limits);
            } finally {
              stepLimits.settled(task);
            }
          }
          sendToolResults(task);
          continue;
        }
        stepLimits.checkLoopSteps(ex, step, task, limits);
        try {
          await modelCall.run(ex, step, task, specs, limits);
        } finally {
          stepLimits.settled(task);
        }
      }
    } finally {
      stepLimits.stopClock(ex, task);
    }
  }
}
