import type { Clock } from '../clock';
import type { WorkspaceStore } from '../store/store';
import { recoverAbandoned } from './abandoned';
import { readCheckpoint, type RunCheckpointState } from './checkpoint';
import { RunLookupError } from './errors';
import type { Execution } from './execution';
import { runRecord } from './status';

/**
 * Taking a stopped run from the store to go on with it in this process: a resume, or a follow-up (followUp.ts).
 * First the run as every process left it — one that died since the store's last sweep has its runs interrupted and
 * its open reservations charged now (abandoned.ts) — and its checkpoint; then, once the caller has prepared its
 * Execution, the claim, written under the store's lock after reading every other process's records, so two windows
 * or two `agent-budget` processes cannot both go on with the same run. (Two calls in this process are kept apart by
 * the Runner itself, before either gets here.)
 */

export type Continuation = 'resume' | 'continue';

type StoredRunRow = NonNullable<ReturnType<WorkspaceStore['queries']['getRun']>>;

/** The run, its checkpoint's state and the checkpoint's sequence number. */
export interface StoppedRun {
  run: StoredRunRow;
  state: RunCheckpointState;
  seq: number;
}

const MESSAGES: Record<Continuation, { elsewhere: string; from: string; changed: string }> = {
  resume: {
    elsewhere: 'cancel it there, or wait for it to stop',
    from: 'resume from',
    changed: 'changed while resuming (another window or process resumed or cancelled it)',
  },
  continue: {
    elsewhere: 'wait for it to stop',
    from: 'continue from',
    changed: 'changed while continuing it (another window or process)',
  },
};

/**
 * Run `id` (which exists) and its checkpoint, refused with a RunLookupError when another process is running it, it
 * has no checkpoint, or the checkpoint cannot be read.
 */
export async function stoppedRun(
  store: WorkspaceStore,
  clock: Clock,
  id: string,
  purpose: Continuation,
): Promise<StoppedRun> {
  await recoverAbandoned(store, clock);
  const run = store.queries.getRun(id)!;
  if (run.status === 'running' || run.status === 'pending') {
    throw new RunLookupError(
      `Run ${id} is running in another process (${run.owner}); ${MESSAGES[purpose].elsewhere}.`,
      'conflict',
    );
  }
  const stored = store.queries.checkpoint(id);
  if (!stored) throw new RunLookupError(`Run ${id} has no checkpoint to ${MESSAGES[purpose].from}.`);
  try {
    return { run, state: readCheckpoint(stored.state), seq: stored.seq };
  } catch (err) {
    throw new RunLookupError(`Run ${id}: ${(err as Error).message}`, 'store');
  }
}

/**
 * Claims the run for `ex` (its run record, now `running`, with what it queued) in one durable write, refused when the
 * run's row changed since `seen` was read; then tells the listeners it started.
 */
export async function claimRun(
  ex: Execution,
  store: WorkspaceStore,
  seen: StoredRunRow,
  purpose: Continuation,
): Promise<void> {
  const id = seen.id;
  await ex.durably((records) =>
    store.transact((q) => {
      if (q.getRun(id)?.rev !== seen.rev)
        throw new RunLookupError(`Run ${id} ${MESSAGES[purpose].changed}.`, 'conflict');
      return { records: [runRecord(ex.run), ...records], result: undefined };
    }),
  );
  ex.emit({ type: 'runStarted', runId: id, workflow: seen.workflow, title: seen.title });
}
