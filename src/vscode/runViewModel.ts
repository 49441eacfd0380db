// What the run view shows of a run, built from the store (its checkpoint, task rollups and totals) and what this
// window saw live (streamed text, tool calls, warnings). Plain TypeScript (no vscode import): the unit tests build
// it from a real store.
import { readCheckpoint, type RunCheckpointState, type TaskCheckpoint } from '../core/runner/checkpoint';
import { isFollowUp } from '../core/runner/followUp';
import type { StoreQueries } from '../core/store/queries';
import type { ApprovalView, RunStepView, RunViewModel } from '../webview/runProtocol';
import { RESUMABLE } from './panelSnapshot';

/** What this window saw of a run while it ran here: the text streaming into each step, its tool calls, warnings. */
export interface LiveRunView {
  /** Text streamed per step id since the step's current task began (replaced by the stored output once it ends). */
  texts: Map<string, string>;
  tools: Map<string, string[]>;
  warnings: string[];
  running: boolean;
}

/**
 * A tool event as one line: its summary names the tool already ("runCommand npm test"); a refusal's does not
 * ("refused: …"), so the tool is put in front of it.
 */
export function toolLine(event: { tool: string; summary: string }): string {
  return event.summary.startsWith(`${event.tool} `) ? event.summary : `${event.tool} ${event.summary}`;
}

export function emptyLive(): LiveRunView {
  return { texts: new Map(), tools: new Map(), warnings: [], running: false };
}

/** The view of `runId`, or undefined when the store has no such run. */
export function runViewModel(args: {
  queries: StoreQueries;
  runId: string;
  live: LiveRunView | undefined;
  approval: ApprovalView | null;
  canRun: boolean;
}): RunViewModel | undefined {
  const { queries: q, runId, live } = args;
  const run = q.getRun(runId);
  if (!run) return undefined;
  let state: RunCheckpointState | undefined;
  const stored = q.checkpoint(runId);
  try {
    state = stored ? readCheckpoint(stored.state) : undefined;
  } catch {
    state = undefined; // a checkpoint of another version: totals and status still show
  }
  const steps: RunStepView[] = [];
  const followUps: RunStepView[] = [];
  if (state) {
    const lastOriginal = state.workflow.steps.filter((s) => !isFollowUp(s)).length - 1;
    for (const [i, step] of state.workflow.steps.entries()) {
      const task = state.steps[i];
      if (!task) continue;
      const view = stepView(q, task, step.title ?? step.id, live, i === lastOriginal);
      if (isFollowUp(step)) followUps.push({ ...view, question: step.prompt });
      else steps.push(view);
    }
  }
  const running = live?.running ?? false;
  const originalsDone = steps.length > 0 && steps.every((s) => s.status === 'completed') && !!state;
  const allStepsStarted = state ? state.steps.length >= state.workflow.steps.length : false;
  const data = (run.data ?? {}) as { error?: unknown; resumeAfter?: unknown };
  const error = data.error;
  const stopped = !running && (run.status === 'blocked' || run.status === 'paused');
  const totals = q.runTotals(runId);
  return {
    runId,
    workflow: run.workflow,
    title: run.title,
    status: running ? 'running' : run.status,
    costMicros: totals.costMicros,
    estimatedMicros: totals.estimatedMicros,
    tokens: totals.tokens,
    createdAt: run.createdAt,
    error: !running && run.status !== 'completed' && typeof error === 'string' && error ? error : null,
    resumeAfter: stopped && typeof data.resumeAfter === 'number' ? data.resumeAfter : null,
    steps,
    followUps,
    warnings: live?.warnings ?? [],
    running,
    canResume: args.canRun && !running && RESUMABLE.includes(run.status),
    canCancel: running || RESUMABLE.includes(run.status) || run.status === 'pending',
    canFollowUp:
      args.canRun &&
      !running &&
      run.status !== 'running' &&
      run.status !== 'pending' &&
      originalsDone &&
      allStepsStarted,
    approval: args.approval,
  };
}

function stepView(
  q: StoreQueries,
  task: TaskCheckpoint,
  title: string,
  live: LiveRunView | undefined,
  final: boolean,
): RunStepView {
  const totals = q.taskTreeTotals(task.taskId);
  const streamed = live?.running && task.status !== 'completed' ? live.texts.get(task.stepId) : undefined;
  return {
    key: task.taskId,
    stepId: task.stepId,
    title,
    model: task.model,
    status: task.status,
    costMicros: totals.costMicros,
    tokens: totals.tokens,
    calls: totals.calls,
    output: task.output ?? streamed ?? '',
    tools: live?.tools.get(task.stepId) ?? [],
    final,
  };
}
