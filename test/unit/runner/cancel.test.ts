import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { bundleChild } from '../../support/childBundle';
import { startFakeAnthropic, type FakeAnthropic, type Running } from '../../fakes';
import { readCheckpoint } from '../../../src/core/runner/checkpoint';
import { collectEvents, CHAIN_WORKFLOW, fakeAccess, ledgerOf, openRunner, tempWorkspace, writePolicy } from './helpers';

describe('Runner: cancellation', function () {
  this.timeout(20_000);
  let fake: Running<FakeAnthropic>;
  let ws: ReturnType<typeof tempWorkspace>;
  beforeEach(async () => {
    fake = await startFakeAnthropic();
    ws = tempWorkspace({ '.agent-budget/workflows/chain.json': CHAIN_WORKFLOW });
  });
  afterEach(async () => {
    fake.destroyOpen();
    await fake.close();
    ws.cleanup();
  });

  it('aborting mid-stream stops the stream at once; the run is cancelled with its finished steps; resume continues after them', async () => {
    fake.enqueue(
      { text: 'FIRST', usage: { input: 40, output: 10 } },
      { text: 'streaming slowly '.repeat(40), eventDelayMs: 30 },
    );
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const controller = new AbortController();
      const { events, onEvent } = collectEvents();
      let abortedAt = 0;
      const outcome = await runner.start(
        'chain',
        { input: 'x' },
        {
          signal: controller.signal,
          onEvent: (e) => {
            onEvent(e);
            // A few deltas into step two's stream.
            if (
              e.type === 'text' &&
              e.stepId === 'two' &&
              events.filter((x) => x.type === 'text' && x.stepId === 'two').length === 3
            ) {
              abortedAt = Date.now();
              controller.abort();
            }
          },
        },
      );
      assert.ok(abortedAt > 0);
      assert.ok(Date.now() - abortedAt < 500, 'the stream stopped at once, not at its end (~1.4 s)');
      assert.equal(outcome.status, 'cancelled');
      assert.equal(outcome.errorKind, 'cancelled');
      assert.deepEqual(
        outcome.steps.map((s) => [s.id, s.status, s.output]),
        [
          ['one', 'completed', 'FIRST'],
          ['two', 'cancelled', undefined],
          ['three', 'pending', undefined],
        ],
      );
      assert.equal(outcome.output, 'FIRST');
      assert.deepEqual(events[events.length - 1], {
        type: 'runFinished',
        runId: outcome.runId,
        status: 'cancelled',
        error: 'Cancelled.',
      });
      const rows = ledgerOf(workspace, outcome.runId);
      assert.deepEqual(
        rows.map((r) => [r.task, r.estimated]),
        [
          ['one', false],
          ['two', true],
        ],
        'the cut call is charged as estimated',
      );
      assert.equal(workspace.store.queries.getRun(outcome.runId)!.status, 'cancelled');
      assert.deepEqual(
        workspace.store.queries.tasksOfRun(outcome.runId).map((t) => t.status),
        ['completed', 'cancelled'],
      );
      assert.deepEqual(runner.active(), []);

      fake.enqueue(
        { text: 'SECOND', usage: { input: 40, output: 10 } },
        { text: 'THIRD', usage: { input: 40, output: 10 } },
      );
      const done = await runner.resume(outcome.runId);
      assert.equal(done.status, 'completed', done.error);
      assert.deepEqual(
        done.steps.map((s) => s.output),
        ['FIRST', 'SECOND', 'THIRD'],
      );
      assert.equal(fake.generationRequests.filter((r) => JSON.stringify(r.body).includes('Step one about')).length, 1);
    } finally {
      await close();
    }
  });

  it('cancel(runId) of an active run stops it and resolves once it is recorded cancelled', async () => {
    fake.enqueue({ text: 'slow '.repeat(100), eventDelayMs: 30 });
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      let runId = '';
      const running = runner.start(
        'chain',
        { input: 'x' },
        { onEvent: (e) => e.type === 'runStarted' && (runId = e.runId) },
      );
      while (!runId || fake.generationRequests.length === 0) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(runner.active(), [runId]);
      await runner.cancel(runId);
      assert.equal(workspace.store.queries.getRun(runId)!.status, 'cancelled');
      assert.equal((await running).status, 'cancelled');
    } finally {
      await close();
    }
  });

  it('a call cancelled before any of its answer arrived is charged as estimated, not released: the provider may bill it', async () => {
    fake.enqueue({ type: 'hang' });
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const controller = new AbortController();
      const running = runner.start('chain', { input: 'x' }, { signal: controller.signal });
      while (fake.generationRequests.length === 0) await new Promise((r) => setTimeout(r, 5));
      controller.abort();
      const outcome = await running;
      assert.equal(outcome.status, 'cancelled');
      const rows = ledgerOf(workspace, outcome.runId);
      assert.deepEqual(
        rows.map((r) => [r.task, r.estimated]),
        [['one', true]],
      );
      assert.ok(rows[0]!.costMicros > 0);
      assert.equal(rows[0]!.costMicros, rows[0]!.reservedMicros, 'charged at its reservation');
      assert.equal(outcome.costMicros, rows[0]!.costMicros);
      assert.equal(workspace.store.queries.openReservations().length, 0);
    } finally {
      await close();
    }
  });

  it('cancel(runId) of a run not active here marks it cancelled and keeps its finished steps', async () => {
    writePolicy(ws.folder, { limits: { task: { hardTokens: 250 } } });
    fake.enqueue({ text: 'B'.repeat(1500), usage: { input: 20, output: 100 } });
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const blocked = await runner.start('chain', { input: 'x' });
      assert.equal(blocked.status, 'blocked');
      await runner.cancel(blocked.runId.slice(0, 10));
      const run = workspace.store.queries.getRun(blocked.runId)!;
      assert.equal(run.status, 'cancelled');
      assert.deepEqual(
        workspace.store.queries.tasksOfRun(blocked.runId).map((t) => t.status),
        ['completed', 'cancelled'],
      );
      const state = readCheckpoint(workspace.store.queries.checkpoint(blocked.runId)!.state);
      assert.equal(state.steps[0]!.output, 'B'.repeat(1500));
    } finally {
      await close();
    }
  });

  it('a run cancelled from another process stops before its next call', async () => {
    const script = await bundleChild('test/unit/runner/runChild.ts');
    // The call streams until the other process has cancelled and exited (a process may take seconds to start).
    let cancelled!: () => void;
    const holdUntil = new Promise<void>((resolve) => (cancelled = resolve));
    fake.enqueue({ text: 'one '.repeat(300), usage: { input: 10, output: 5 }, holdUntil });
    const { runner, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      let runId = '';
      const running = runner.start(
        'chain',
        { input: 'x' },
        { onEvent: (e) => e.type === 'runStarted' && (runId = e.runId) },
      );
      while (!runId || fake.generationRequests.length === 0) await new Promise((r) => setTimeout(r, 5));
      const child = spawn(process.execPath, [script, ws.folder, fake.baseUrl, 'cancel', runId], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      assert.equal(await new Promise((r) => child.on('exit', r)), 0, out);
      cancelled();
      const outcome = await running;
      assert.equal(outcome.status, 'cancelled');
      assert.equal(fake.generationRequests.length, 1, 'no call after the cancel was seen');
      assert.deepEqual(
        outcome.steps.map((s) => s.status),
        ['completed', 'pending', 'pending'],
      );
      assert.equal(outcome.steps[0]!.output, 'one '.repeat(300).trim());
    } finally {
      await close();
    }
  });
});
