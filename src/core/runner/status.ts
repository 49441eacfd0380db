import type { RunStatus, RunState, StoreRecord, TaskState } from '../store/records';
import type { PromptSample } from '../report/calibration';
import type { ProviderId } from '../usage';
import type { RunErrorKind } from './api';
import type { TaskCheckpoint } from './checkpoint';
import type { ExperimentMark } from './experiments';

/**
 * Every run and task status change the runner writes is built here: a run started, claimed by a resume, finished,
 * stopped or cancelled from outside, and each task's status as its checkpoint says.
 */

/** What the runner keeps in a run's `data` (opaque to the store). */
export interface RunData {
  provider?: ProviderId;
  model?: string;
  error?: string;
  errorKind?: RunErrorKind;
  blockedScope?: string;
  /** When a paused (rate-limited) run may be resumed (epoch ms). */
  resumeAfter?: number;
  /** The experiment that assigned the run its variant (runner/experiments.ts), kept for the run's life. */
  experiment?: ExperimentMark;
  /** The install that started or last resumed the run (trust/installId.ts): resume asks when it is another one. */
  install?: string;
  /** Its calls' prompt samples by model (report/calibration.ts), written when it stops or finishes. */
  prompts?: Record<string, PromptSample>;
}

/** Where new revisions come from (the store: `nextRev`). */
export interface Revisions {
  nextRev(): number;
}

/** A run row as stored or as queried (the store's queries add totals, which are never written back). */
type RunRow = RunState & { costMicros?: number; estimatedMicros?: number; tokens?: number; calls?: number };
type TaskRow = TaskState & { costMicros?: number; tokens?: number; calls?: number };

export function runRecord(run: RunState): StoreRecord {
  return { k: 'run', run };
}

/** A new run, `running` under `owner`. */
export function startedRun(
  fields: Pick<RunState, 'id' | 'workflow' | 'title' | 'owner' | 'variant'> & { data: RunData },
  revs: Revisions,
  now: number,
): RunState {
  return { ...fields, status: 'running', createdAt: now, updatedAt: now, rev: revs.nextRev(), parentRunId: null };
}

/**
 * `run` moved to `status` now, with a new revision; `owner` when a process claims it, `data` when what it says
 * changes.
 */
export function runInStatus(
  run: RunRow,
  status: RunStatus,
  revs: Revisions,
  now: number,
  change: { owner?: string; data?: RunData } = {},
): RunState {
  return {
    ...storedRun(run),
    status,
    updatedAt: now,
    rev: revs.nextRev(),
    ...(change.owner !== undefined ? { owner: change.owner } : {}),
    ...(change.data !== undefined ? { data: change.data } : {}),
  };
}

/** The run as stored: a queried row without the totals the queries add. */
export function storedRun(run: RunRow): RunState {
  const { costMicros: _c, estimatedMicros: _e, tokens: _t, calls: _n, ...state } = run;
  return state;
}

/** A stored task moved to `status` now (a cancel from outside, which has no checkpoint to write). */
export function taskInStatus(task: TaskRow, status: RunStatus, revs: Revisions, now: number): TaskState {
  const { costMicros: _c, tokens: _t, calls: _n, ...state } = task;
  return { ...state, status, updatedAt: now, rev: revs.nextRev() };
}

/** The task row of a checkpoint's task, with the status the checkpoint gives it. */
export function taskRecord(runId: string, task: TaskCheckpoint, revs: Revisions, now: number): StoreRecord {
  const state: TaskState = {
    id: task.taskId,
    runId,
    name: task.stepId,
    parentTaskId: task.parentTaskId ?? null,
    status: task.status,
    createdAt: task.createdAt,
    updatedAt: now,
    rev: revs.nextRev(),
    data: { model: task.model, provider: task.provider, ...(task.item !== undefined ? { item: task.item } : {}) },
  };
  return { k: 'task', task: state };
}

/** The run's data with its provider and model kept, and what `extra` says (undefined fields and no samples dropped). */
export function runData(run: RunState, extra: RunData): RunData {
  const data = (run.data ?? {}) as RunData;
  const out: RunData = { provider: data.provider, model: data.model, install: data.install };
  if (data.experiment) out.experiment = data.experiment;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  if (out.prompts && Object.keys(out.prompts).length === 0) delete out.prompts;
  return out;
}
