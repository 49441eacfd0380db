// The runner's paid calls go through the meter: whole runs against the in-memory provider, where every call's
// ledger row, reservation and checkpoint can be checked without a server in between.
import assert from 'node:assert/strict';
import { priceCall } from '../../../src/core/pricing/cost';
import { readCheckpoint } from '../../../src/core/runner/checkpoint';
import { ZERO_USAGE } from '../../../src/core/usage';
import { collectEvents, ledgerOf, openRunner, tempWorkspace } from '../runner/helpers';
import { memoryAccess, MemoryProvider } from './memoryProvider';

const MODEL = 'claude-haiku-4-5';
const WORKFLOW = {
  id: 'inspect',
  title: 'Inspect',
  model: MODEL,
  version: 'm1',
  steps: [
    { id: 'look', prompt: 'Look at {{input}}', tools: ['readFile'], maxOutputTokens: 400 },
    { id: 'sum', prompt: 'Sum up: {{steps.look.output}}', maxOutputTokens: 300 },
  ],
};

const cost = (u: { input: number; output: number }) =>
  priceCall({ provider: 'anthropic', model: MODEL, usage: { ...ZERO_USAGE, ...u } }).costMicros;

describe('Runner over the meter, with the in-memory provider', function () {
  this.timeout(20_000);
  let ws: ReturnType<typeof tempWorkspace>;
  beforeEach(() => {
    ws = tempWorkspace({ '.agent-budget/workflows/inspect.json': WORKFLOW, 'notes.txt': 'Total: 42' });
  });
  afterEach(() => ws.cleanup());

  it('an agent loop and a second step: every call is one exact ledger row, and no reservation stays open', async () => {
    const provider = new MemoryProvider().enqueue(
      { toolCalls: [{ id: 'c1', name: 'readFile', input: { path: 'notes.txt' } }], usage: { input: 200, output: 20 } },
      { text: 'The total is 42.', chunks: 4, usage: { input: 260, output: 12 } },
      { text: '42.', usage: { input: 90, output: 3 } },
    );
    const { runner, workspace, close } = await openRunner(ws.folder, memoryAccess({ anthropic: provider }));
    try {
      const { events, onEvent } = collectEvents();
      const outcome = await runner.start('inspect', { input: 'notes.txt' }, { onEvent });
      assert.equal(outcome.status, 'completed', outcome.error);
      assert.equal(outcome.output, '42.');
      // The tool's result went back to the model in the loop's second call.
      assert.match(JSON.stringify(provider.requests[1]!.messages), /Total: 42/);
      const rows = ledgerOf(workspace, outcome.runId);
      assert.deepEqual(
        rows.map((r) => [r.task, r.costMicros, r.estimated, r.requestId, r.variant]),
        [
          ['look', cost({ input: 200, output: 20 }), false, 'mem_1', `${MODEL}@m1`],
          ['look', cost({ input: 260, output: 12 }), false, 'mem_2', `${MODEL}@m1`],
          ['sum', cost({ input: 90, output: 3 }), false, 'mem_3', `${MODEL}@m1`],
        ],
      );
      assert.equal(
        outcome.costMicros,
        rows.reduce((a, r) => a + r.costMicros, 0),
      );
      assert.deepEqual(workspace.store.queries.openReservations(), []);
      // Each call's `call` event carries its ledger row's cost; the streamed text arrived in pieces first.
      const calls = events.filter((e) => e.type === 'call');
      assert.deepEqual(
        calls.map((e) => e.costMicros),
        rows.map((r) => r.costMicros),
      );
      assert.equal(events.filter((e) => e.type === 'text' && e.stepId === 'look').length, 4);
    } finally {
      await close();
    }
  });

  it('a stream cut is charged as estimated and the run fails resumable; resume pays only for the cut call', async () => {
    const provider = new MemoryProvider();
    provider.enqueue(
      { text: 'Looked.', usage: { input: 100, output: 5 } },
      {
        fail: provider.error('streamCut', 'The Anthropic response stream ended before its final event.', {
          partial: { text: 'Su', toolCalls: [], usage: { input: 80 } },
        }),
        streamed: 'Su',
      },
    );
    const { runner, workspace, close } = await openRunner(ws.folder, memoryAccess({ anthropic: provider }));
    try {
      const failed = await runner.start('inspect', { input: 'notes.txt' });
      assert.equal(failed.status, 'failed');
      assert.equal(failed.errorKind, 'provider');
      const [first, cut] = ledgerOf(workspace, failed.runId);
      assert.equal(first?.estimated, false);
      assert.equal(cut?.estimated, true, 'the cut call is charged');
      // What is known: message_start's 80 prompt tokens and "Su" (2 bytes) + 10 % + 16 tokens; far below the worst case.
      assert.deepEqual([cut?.usage.input, cut?.usage.output], [80, 2 + 1 + 16]);
      assert.equal(
        cut?.costMicros,
        priceCall({ provider: 'anthropic', model: cut!.model, usage: cut!.usage }).costMicros,
      );
      assert.ok(cut!.costMicros < cut!.reservedMicros!, 'less than its reservation');
      assert.deepEqual(workspace.store.queries.openReservations(), []);
      const state = readCheckpoint(workspace.store.queries.checkpoint(failed.runId)!.state);
      assert.equal(state.steps[1]!.inFlight, undefined, 'the checkpoint no longer marks the call in flight');

      provider.enqueue({ text: 'Sum: 42.', usage: { input: 90, output: 4 } });
      const done = await runner.resume(failed.runId);
      assert.equal(done.status, 'completed', done.error);
      assert.equal(provider.requests.length, 3, 'the finished step was not asked again');
      assert.equal(ledgerOf(workspace, failed.runId).length, 3);
    } finally {
      await close();
    }
  });

  it('an HTTP error before any output is released: no ledger row, the run fails with the provider’s reason', async () => {
    const provider = new MemoryProvider();
    provider.enqueue({ fail: provider.error('badRequest', 'Anthropic rejected the request (400).', { status: 400 }) });
    const { runner, workspace, close } = await openRunner(ws.folder, memoryAccess({ anthropic: provider }));
    try {
      const outcome = await runner.start('inspect', { input: 'notes.txt' });
      assert.equal(outcome.status, 'failed');
      assert.equal(outcome.errorKind, 'provider');
      assert.match(outcome.error ?? '', /rejected the request/);
      assert.deepEqual(ledgerOf(workspace, outcome.runId), []);
      assert.deepEqual(workspace.store.queries.openReservations(), []);
      assert.equal(outcome.costMicros, 0);
    } finally {
      await close();
    }
  });
});
