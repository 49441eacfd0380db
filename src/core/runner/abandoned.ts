import { AgentBudgetError } from '../errors';
import { systemClock, type Clock } from '../clock';
import type { Reservation, RunState, StoreRecord, TaskState } from '../store/records';
import { estimatedEntry } from '../budget/ledgerRows';
import type { WorkspaceStore } from '../store/store';

/**
 * Work left by processes that died: their open reservations are charged as estimated (the call may have been
 * billed; the ledger never under-counts), and their running runs and tasks become `interrupted`, resumable from
 * their checkpoint. Who is dead is the store's liveness (heartbeats, see store/liveness.ts); what that costs and how
 * a run stops is decided here. The front ends run this when a workspace opens and every 30 s (the store's
 * `onSweep`), and before a resume.
 */
export async function recoverAbandoned(
  store: WorkspaceStore,
  clock: Clock = systemClock,
): Promise<{ reservations: number; runs: number }> {
  const deadReservation = (r: Reservation) => !store.owners.isAlive(r.owner);
  const deadRun = (r: RunState) => !store.owners.isAlive(r.owner);
  if (
    !store.queries.openReservations().some(deadReservation) &&
    !store.queries.listRuns({ status: ['running', 'pending'] }).some(deadRun)
  ) {
    return { reservations: 0, runs: 0 };
  }
  return store.transact((q) => {
    const records: StoreRecord[] = [];
    const now = clock.now();
    const reservations = q.openReservations().filter(deadReservation);
    for (const r of reservations)
      records.push({ k: 'settle', reservationId: r.id, ts: now, entry: estimatedEntry(r, now) });
    const runs = q.listRuns({ status: ['running', 'pending'] }).filter(deadRun);
    for (const run of runs) {
      const { costMicros: _c, estimatedMicros: _e, tokens: _t, calls: _n, ...state } = run;
      records.push({ k: 'run', run: { ...state, status: 'interrupted', updatedAt: now, rev: store.nextRev() } });
      for (const task of q.tasksOfRun(run.id).filter((t) => t.status === 'running' || t.status === 'pending')) {
        const { costMicros: _tc, tokens: _tt, calls: _tn, ...taskState } = task;
        const next: TaskState = { ...taskState, status: 'interrupted', updatedAt: now, rev: store.nextRev() };
        records.push({ k: 'task', task: next });
      }
    }
    return { records, result: { reservations: reservations.length, runs: runs.length } };
  });
}

export interface ReleasedReservation {
  reservation: Reservation;
  /** What the ledger was charged for it: the whole reservation, estimated, or 0 with `charge: false`. */
  chargedMicros: number;
}

/**
 * Closes open reservations by hand (`agent-budget reservations release`): charged as estimated by default — the
 * call may have been billed, and the ledger never under-counts — or released without a charge when the user says
 * the call never happened. Under the store's lock, so a reservation settled meanwhile is left alone. A reservation
 * whose owner is alive is refused unless `force`: its own settlement would then count the call a second time.
 */
export async function releaseReservations(
  store: WorkspaceStore,
  pick: (open: Reservation[]) => Reservation[],
  options: { charge: boolean; force?: boolean },
  clock: Clock = systemClock,
): Promise<ReleasedReservation[]> {
  return store.transact((q) => {
    const chosen = pick(q.openReservations());
    const live = chosen.filter((r) => store.owners.judge(r.owner) === 'alive');
    if (live.length > 0 && !options.force) {
      throw new LiveReservationError(live);
    }
    const now = clock.now();
    const released = chosen.map((r) => ({ reservation: r, chargedMicros: options.charge ? r.micros : 0 }));
    const records: StoreRecord[] = chosen.map((r) => ({
      k: 'settle',
      reservationId: r.id,
      ts: now,
      entry: options.charge ? estimatedEntry(r, now) : null,
    }));
    return { records, result: released };
  });
}

/** A release asked for a reservation whose owner is running: its call may still settle. */
export class LiveReservationError extends AgentBudgetError {
  override readonly name = 'LiveReservationError';
  constructor(readonly live: Reservation[]) {
    super(
      'conflict',
      `${live.map((r) => r.id).join(', ')} ${live.length === 1 ? 'is' : 'are'} held by a process that is still ` +
        `running (${[...new Set(live.map((r) => r.owner))].join(', ')}): its call may still settle, and releasing ` +
        'it now would count that call twice. Stop that process first, or pass --force.',
    );
  }
}
