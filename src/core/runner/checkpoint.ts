import type { ChatMessage, ContentPart } from '../providers/types';
import type { RunStatus } from '../store/records';
import type { ProviderId } from '../usage';
import type { RunnerWorkflow } from './builtins';

/**
 * The checkpoint of a run: `Checkpoint.state` in the store, written after every LLM call and every tool call
 * (the store keeps the highest `seq` per run). It holds everything needed to continue without redoing finished
 * work or paying twice:
 *
 * - the workflow as it was when the run started (a later edit of the file does not change a run half-way) and the
 *   run's input (file content included, so a resumed review reviews what it started on);
 * - per step, in order: its task id, the conversation so far in the provider-neutral form, the results of the
 *   tool calls of the last assistant message as each finishes, counters for the loop limits, the output once done,
 *   and sub-agent children;
 * - the in-flight marker: `inFlight` is set in the same durable write as the call's reservation and cleared in the
 *   same write as its settlement. A run found `interrupted` with a marker had a call in flight when its process
 *   died: the store's recovery charged that attempt as estimated, and resume retries it once (attempt 2); a second
 *   crash on the same call fails the run. `toolInFlight` does the same for a writing tool, which is never re-run
 *   blind: the model is told its effect is unknown.
 *   `toolCharged` makes a tool's fixed cost charged once across a crash.
 *
 * Pending steps are the workflow's steps after the last one in `steps`.
 */
export const CHECKPOINT_VERSION = 1;

export interface TaskCheckpoint {
  /** The store's task id. */
  taskId: string;
  createdAt: number;
  /** The workflow step this task runs. */
  stepId: string;
  status: RunStatus;
  provider: ProviderId;
  /** The model routing chose for the task (an admission may still degrade a call). */
  model: string;
  /** The rendered system prompt. */
  system?: string;
  /** The opening message starts with the step's context block (runner/caching.ts). */
  contextBlock?: true;
  /** How many times older turns were summarised (compaction.ts); the summary is the opening message's last block. */
  compactions?: number;
  /** The conversation so far; starts with the rendered prompt. Emptied when the task completes (its output stays). */
  messages: ChatMessage[];
  /** Results of the last assistant message's tool calls, as they finish; sent back as one message when all are in. */
  toolResults: ContentPart[];
  /** LLM calls completed (agent-loop iterations, against `maxSteps`). */
  calls: number;
  /** Tool calls made (against `maxToolCalls`). */
  toolCalls: number;
  /** Wall time spent in this task, over all the processes that ran it (against `maxWallSeconds`). */
  wallMs: number;
  /** The answer, once the task completed. */
  output?: string;
  /** A call was in flight (or about to be) when this was written: which attempt of it. */
  inFlight?: { attempt: number };
  /** A writing tool call (its id) had been approved and started when this was written. */
  toolInFlight?: string;
  /** The tool call whose fixed cost is charged: written in the same durable write as the charge, so never twice. */
  toolCharged?: string;
  /**
   * Sub-agents: the parent task's id and the item this child works on (`itemContent`: the file's text when the
   * fan-out is over files, read when the child was created, so a resumed child works on what it started on).
   */
  parentTaskId?: string;
  item?: string;
  itemContent?: string;
  /**
   * Sub-agents budgeted by share: the parent's tokens used (its tree) when this child started. The child's limit is
   * `share × (parent's hard limit − this)`, computed with the policy in force at each call, so raising the parent's
   * limit and resuming gives a blocked child more room.
   */
  shareFrom?: number;
  /** The same in µ$, for a dollar share (the fan-out has `maxUsd`). */
  shareFromMicros?: number;
  /** Sub-agent parents: the items (fixed when the fan-out began) and the children, one per item, in item order. */
  items?: string[];
  /** Sub-agent parents budgeted by pool: tokens the parent had used when the pool began (pool = fraction × the rest). */
  poolFrom?: number;
  /** The same in µ$, for a dollar pool. */
  poolFromMicros?: number;
  children?: TaskCheckpoint[];
  /** A sub-agent that runs its plan's `steps`: one task per step started, in order (as the run's `steps`). */
  steps?: TaskCheckpoint[];
}

export interface RunCheckpointState {
  v: typeof CHECKPOINT_VERSION;
  workflow: RunnerWorkflow;
  /** The prompt version recorded in variants (`<model>@<version>`). */
  promptVersion: string;
  input: {
    input?: string;
    file?: string;
    fileContent?: string;
    selection?: string;
    model?: string;
    complex?: boolean;
  };
  /** One entry per step started, in workflow order. */
  steps: TaskCheckpoint[];
}

/** Reads a stored checkpoint state, or says why it cannot be used. */
export function readCheckpoint(state: unknown): RunCheckpointState {
  const s = state as Partial<RunCheckpointState> | null;
  if (!s || typeof s !== 'object' || s.v !== CHECKPOINT_VERSION || !s.workflow || !Array.isArray(s.steps)) {
    throw new Error(
      `this run's checkpoint was written by another version of Agent Budget (format ${String((s as { v?: unknown } | null)?.v)}, expected ${CHECKPOINT_VERSION}) and cannot be resumed.`,
    );
  }
  return s as RunCheckpointState;
}

/** Every task of the run, parents before their children (a sub-agent's steps after it). */
export function allTasks(state: RunCheckpointState): TaskCheckpoint[] {
  const out: TaskCheckpoint[] = [];
  const visit = (t: TaskCheckpoint) => {
    out.push(t);
    for (const c of t.children ?? []) visit(c);
    for (const c of t.steps ?? []) visit(c);
  };
  for (const t of state.steps) visit(t);
  return out;
}

/** Outputs of the completed steps, for `{{steps.<id>.output}}`. */
export function stepOutputs(state: RunCheckpointState): Record<string, string> {
  return outputsOf(state.steps);
}

/** Outputs of the completed tasks of one list of steps (the run's, or a sub-agent's), by step id. */
export function outputsOf(tasks: readonly TaskCheckpoint[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tasks) if (t.status === 'completed' && t.output !== undefined) out[t.stepId] = t.output;
  return out;
}
