import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../../src/core/clock';
import type { OwnerProbe } from '../../../src/core/processIdentity';
import { LiveReservationError, recoverAbandoned, releaseReservations } from '../../../src/core/runner/abandoned';
import type { Reservation, RunState, StoreRecord } from '../../../src/core/store/records';
import { WorkspaceStore, type StoreOptions } from '../../../src/core/store/store';

const NOV1 = Date.UTC(2026, 10, 1);

function reservation(id: string, overrides: Partial<Reservation> = {}): Reservation {
  return {
    id,
    ts: NOV1,
    owner: 'host:1:dead',
    runId: 'run-1',
    taskId: 'task-1',
    task: 'review',
    workflow: 'code-review',
    provider: 'anthropic',
    model: 'claude-haiku-4-5',
    micros: 12_000,
    tokens: 3_000,
    inputTokens: 2_000,
    outputTokens: 1_000,
    scopes: ['workspace.daily@2026-11-01'],
    ...overrides,
  };
}

function run(id: string, owner: string): RunState {
  return {
    id,
    workflow: 'code-review',
    status: 'running',
    title: 'Review file',
    createdAt: NOV1,
    updatedAt: NOV1,
    rev: 1,
    owner,
    parentRunId: null,
    variant: null,
    data: null,
  };
}

describe('abandoned work (the runner side of dead processes)', () => {
  let root: string;
  let dir: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'ab-abandoned-'));
    dir = path.join(root, '.agent-budget');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));
  const dead: OwnerProbe = { isAlive: (owner) => !owner.includes(':dead') };
  const open = (extra: Partial<StoreOptions> = {}) => WorkspaceStore.open({ dir, pollMs: 0, probe: dead, ...extra });

  async function seed(): Promise<void> {
    const store = await open();
    const task: StoreRecord = {
      k: 'task',
      task: {
        id: 't1',
        runId: 'r-dead',
        name: 'review',
        parentTaskId: null,
        status: 'running',
        createdAt: NOV1,
        updatedAt: NOV1,
        rev: 1,
        data: null,
      },
    };
    await store.commit([
      { k: 'run', run: run('r-dead', 'host:1:dead') },
      { k: 'run', run: run('r-live', 'host:2:live') },
      task,
      {
        k: 'reserve',
        reservation: reservation('held', { runId: 'r-dead', owner: 'host:1:dead', variant: 'claude-haiku-4-5@v2' }),
      },
      { k: 'reserve', reservation: reservation('live', { runId: 'r-live', owner: 'host:2:live' }) },
    ]);
    await store.close();
  }

  it('charges reservations of dead processes as estimated and interrupts their runs, once', async () => {
    await seed();
    let store = await open();
    assert.equal(store.queries.getRun('r-dead')?.status, 'running', 'the store alone decides nothing about it');
    assert.deepEqual(await recoverAbandoned(store), { reservations: 1, runs: 1 });
    assert.equal(store.queries.getRun('r-dead')?.status, 'interrupted');
    assert.equal(store.queries.tasksOfRun('r-dead')[0]?.status, 'interrupted');
    assert.equal(store.queries.getRun('r-live')?.status, 'running');
    const charge = store.queries.ledgerEntry('est-held');
    assert.ok(charge?.estimated);
    assert.equal(charge.costMicros, 12_000);
    assert.equal(charge.variant, 'claude-haiku-4-5@v2', 'the estimated charge keeps the variant of the call');
    assert.equal(charge.heldAt, NOV1, 'the estimated charge counts in the period its reservation was held');
    assert.deepEqual(
      [charge.usage.input, charge.usage.output],
      [2_000, 1_000],
      'the estimated charge is the whole reservation: estimated input and the full output clamp',
    );
    assert.deepEqual(
      store.queries.openReservations().map((r) => r.id),
      ['live'],
    );
    assert.equal(store.queries.runTotals('r-dead').estimatedMicros, 12_000);
    await store.close();
    // A second opener finds nothing left to recover.
    store = await open();
    assert.deepEqual(await recoverAbandoned(store), { reservations: 0, runs: 0 });
    assert.equal(store.queries.ledgerCount(), 1);
    await store.close();
  });

  it('runs through the store’s sweep hook when a front end wires it (on open)', async () => {
    await seed();
    const swept: Array<{ reservations: number; runs: number }> = [];
    const store = await open({ onSweep: async (s) => swept.push(await recoverAbandoned(s)) });
    assert.deepEqual(swept, [{ reservations: 1, runs: 1 }]);
    assert.equal(store.queries.getRun('r-dead')?.status, 'interrupted');
    await store.close();
  });

  it('releases reservations by hand: charged as estimated, or without a charge; a live owner’s only with force', async () => {
    await seed();
    const clock = new ManualClock(NOV1 + 3_600_000);
    const store = await open();
    await store.commit([{ k: 'reserve', reservation: reservation('other', { owner: 'host:3:dead', micros: 5_000 }) }]);
    await assert.rejects(
      releaseReservations(store, (open) => open.filter((r) => r.id === 'live'), { charge: true }, clock),
      (err: unknown) => err instanceof LiveReservationError && /still running.*--force/s.test(err.message),
    );
    assert.equal(store.queries.reservationStatus('live'), 'open', 'refused: nothing closed');
    const charged = await releaseReservations(
      store,
      (open) => open.filter((r) => r.id === 'held'),
      { charge: true },
      clock,
    );
    assert.deepEqual(
      charged.map((r) => [r.reservation.id, r.chargedMicros]),
      [['held', 12_000]],
    );
    assert.equal(store.queries.ledgerEntry('est-held')?.costMicros, 12_000);
    assert.equal(store.queries.ledgerEntry('est-held')?.ts, NOV1 + 3_600_000);
    const free = await releaseReservations(store, (open) => open.filter((r) => r.id === 'other'), { charge: false });
    assert.deepEqual(
      free.map((r) => [r.reservation.id, r.chargedMicros]),
      [['other', 0]],
    );
    assert.equal(store.queries.reservationStatus('other'), 'released');
    assert.equal(store.queries.ledgerEntry('est-other'), undefined, 'released without a charge');
    const forced = await releaseReservations(store, (open) => open.filter((r) => r.id === 'live'), {
      charge: true,
      force: true,
    });
    assert.equal(forced.length, 1);
    assert.deepEqual(store.queries.openReservations(), []);
    await store.close();
  });
});
