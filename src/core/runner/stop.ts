import { BudgetBlockedError } from '../budget/engine';
import { AgentBudgetError, errorKindOf, messageOf, type ErrorKind } from '../errors';
import { ProviderError } from '../providers/errors';
import type { RunStatus } from '../store/records';
import type { TaskCheckpoint } from './checkpoint';
import type { Execution } from './execution';
import type { Halt } from './fanOut';

/** How a run stopped short of `completed`: what `stop()` records, decided by the error's kind alone. */
export interface RunStop {
  status: RunStatus;
  errorKind: ErrorKind;
  message: string;
  /** The scope that blocked (a budget stop). */
  scope?: string;
  /** When a paused run may be resumed (the provider's retry-after), or a blocked one's period resets. */
  resumeAfter?: number;
}

/** A budget stop blocks the run; a rate limit pauses it; a cancel cancels it; anything else fails it. */
const STATUS: Partial<Record<ErrorKind, RunStatus>> = {
  budget: 'blocked',
  rateLimit: 'paused',
  cancelled: 'cancelled',
};

export function runStopOf(err: unknown, now: number): RunStop {
  const errorKind = errorKindOf(err);
  const stop: RunStop = {
    status: STATUS[errorKind] ?? 'failed',
    errorKind,
    message: errorKind === 'cancelled' ? 'Cancelled.' : messageOf(err),
  };
  if (err instanceof BudgetBlockedError) {
    stop.scope = err.scope;
    if (err.resetsAt !== undefined) stop.resumeAfter = err.resetsAt;
  }
  if (err instanceof ProviderError && errorKind === 'rateLimit' && err.retryAfterMs !== undefined)
    stop.resumeAfter = now + err.retryAfterMs;
  return stop;
}

/** A resumed run whose call was in flight at two crashes: it fails (resumable) rather than retry a third time. */
export function crashedTwiceError(task: Pick<TaskCheckpoint, 'stepId' | 'model'>): AgentBudgetError {
  return new AgentBudgetError(
    'crash',
    `The process stopped twice while step "${task.stepId}" was waiting for ${task.model}. Agent Budget retries an ` +
      'interrupted call once; both attempts are charged at their reserved (estimated) cost. Resume the run to try the call again.',
  );
}

/** Thrown inside the runner when the run was cancelled (here, or from another window or process). */
export function cancelledError(): AgentBudgetError {
  return new AgentBudgetError('cancelled', 'Cancelled.');
}

/**
 * Stops before the next call or tool call when the run was cancelled (here, or — see Runner — elsewhere), or when a
 * sibling sub-agent failed (`halt`: the fan-out then stops its other sub-agents at their next call and rethrows).
 */
export function checkStillWanted(ex: Pick<Execution, 'abort'>, halt?: Halt): void {
  if (ex.abort.signal.aborted) throw cancelledError();
  if (halt?.stopped) throw new SiblingStopped();
}

/** Thrown in a sub-agent that stops because a sibling failed; the fan-out rethrows the sibling's error instead. */
export class SiblingStopped extends AgentBudgetError {
  override readonly name = 'SiblingStopped';
  constructor() {
    super('internal', 'Stopped because another sub-agent of the step stopped.');
  }
}
