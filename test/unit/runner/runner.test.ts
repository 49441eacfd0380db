import assert from 'node:assert/strict';
import { startFakeAnthropic, type Running } from '../../fakes';
import type { FakeAnthropic } from '../../fakes';
import { priceCall } from '../../../src/core/pricing/cost';
import { readCheckpoint } from '../../../src/core/runner/checkpoint';
import { ZERO_USAGE } from '../../../src/core/usage';
import { UnknownModelError } from '../../../src/core/pricing/cost';
import { MissingApiKeyError, RunInputError, WorkflowNotFoundError } from '../../../src/core/runner/runner';
import { collectEvents, CHAIN_WORKFLOW, fakeAccess, ledgerOf, openRunner, tempWorkspace, writePolicy } from './helpers';

describe('Runner: a multi-step workflow', function () {
  this.timeout(20_000);
  let fake: Running<FakeAnthropic>;
  let ws: ReturnType<typeof tempWorkspace>;
  beforeEach(async () => {
    fake = await startFakeAnthropic();
    ws = tempWorkspace({ '.agent-budget/workflows/chain.json': CHAIN_WORKFLOW });
  });
  afterEach(async () => {
    await fake.close();
    ws.cleanup();
  });

  it('completes, chains outputs, and the ledger is exactly what the server billed', async () => {
    const usages = [
      { input: 120, output: 40, cacheRead: 30, cacheWrite5m: 10 },
      { input: 200, output: 55 },
      { input: 260, output: 70, reasoning: 12 },
    ];
    fake.enqueue(
      { text: 'ALPHA findings', usage: usages[0] },
      { text: 'BETA draft', usage: usages[1] },
      { text: 'GAMMA final', usage: usages[2] },
    );
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const { events, onEvent } = collectEvents();
      const outcome = await runner.start('chain', { input: 'caching' }, { onEvent });
      assert.equal(outcome.status, 'completed', outcome.error);
      assert.equal(outcome.output, 'GAMMA final');
      assert.deepEqual(
        outcome.steps.map((s) => [s.id, s.status, s.output]),
        [
          ['one', 'completed', 'ALPHA findings'],
          ['two', 'completed', 'BETA draft'],
          ['three', 'completed', 'GAMMA final'],
        ],
      );

      // Each call was made once, with the previous step's output in its prompt and the clamp as max_tokens.
      const bodies = fake.generationRequests.map(
        (r) => r.body as { messages: Array<{ content: unknown }>; max_tokens: number; model: string },
      );
      assert.equal(bodies.length, 3);
      assert.match(JSON.stringify(bodies[0]!.messages), /Step one about caching/);
      assert.match(JSON.stringify(bodies[1]!.messages), /Step two after: ALPHA findings/);
      assert.match(JSON.stringify(bodies[2]!.messages), /Step three after: BETA draft/);
      for (const b of bodies) {
        assert.equal(b.model, 'claude-haiku-4-5');
        assert.ok(b.max_tokens > 0 && b.max_tokens <= 300, `max_tokens ${b.max_tokens} within the step's 300`);
      }

      // The ledger: one exact row per call, priced from what the server reported, with run, task, workflow, variant.
      const rows = ledgerOf(workspace, outcome.runId);
      assert.equal(rows.length, 3);
      const tasks = workspace.store.queries.tasksOfRun(outcome.runId);
      let expectedTotal = 0;
      rows.forEach((row, i) => {
        const billed = { ...ZERO_USAGE, ...usages[i] };
        const price = priceCall({ provider: 'anthropic', model: 'claude-haiku-4-5', usage: billed });
        expectedTotal += price.costMicros;
        assert.deepEqual(row.usage, billed);
        assert.equal(row.costMicros, price.costMicros);
        assert.equal(row.estimated, false);
        assert.equal(row.workflow, 'chain');
        assert.equal(row.task, ['one', 'two', 'three'][i]);
        assert.equal(row.taskId, tasks[i]!.id);
        assert.equal(row.variant, 'claude-haiku-4-5@p7');
        assert.ok(row.requestId?.startsWith('req_'));
      });
      assert.equal(outcome.costMicros, expectedTotal);
      assert.deepEqual(
        outcome.steps.map((s) => s.costMicros),
        rows.map((r) => r.costMicros),
      );
      assert.deepEqual(outcome.tokens, { input: 580, output: 165, cacheRead: 30, cacheWrite: 10, reasoning: 12 });

      // Store: run and tasks completed; the checkpoint holds every step's output and no in-flight marker.
      const run = workspace.store.queries.getRun(outcome.runId)!;
      assert.equal(run.status, 'completed');
      assert.equal(run.variant, 'claude-haiku-4-5@p7');
      assert.equal(run.title, 'Chain: caching');
      assert.deepEqual(
        tasks.map((t) => [t.name, t.status]),
        [
          ['one', 'completed'],
          ['two', 'completed'],
          ['three', 'completed'],
        ],
      );
      const state = readCheckpoint(workspace.store.queries.checkpoint(outcome.runId)!.state);
      assert.deepEqual(
        state.steps.map((s) => [s.stepId, s.status, s.output, s.inFlight]),
        [
          ['one', 'completed', 'ALPHA findings', undefined],
          ['two', 'completed', 'BETA draft', undefined],
          ['three', 'completed', 'GAMMA final', undefined],
        ],
      );

      // Events in order: started, three steps each streaming text and one call, finished.
      const kinds = events
        .filter((e) => e.type !== 'text')
        .map((e) => `${e.type}${'stepId' in e ? `:${e.stepId}` : ''}`);
      assert.deepEqual(kinds, [
        'runStarted',
        'stepStarted:one',
        'call:one',
        'stepFinished:one',
        'stepStarted:two',
        'call:two',
        'stepFinished:two',
        'stepStarted:three',
        'call:three',
        'stepFinished:three',
        'runFinished',
      ]);
      const text = events
        .filter((e) => e.type === 'text' && e.stepId === 'two')
        .map((e) => (e as { delta: string }).delta)
        .join('');
      assert.equal(text, 'BETA draft');
      const calls = events.filter((e) => e.type === 'call') as Array<{ costMicros: number; tokens: number }>;
      assert.deepEqual(
        calls.map((c) => c.costMicros),
        rows.map((r) => r.costMicros),
      );
      assert.deepEqual(runner.active(), []);
    } finally {
      await close();
    }
  });

  it('runs several workflows at once, each with its own session', async () => {
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      fake.enqueue(
        ...Array.from({ length: 6 }, (_, i) => ({
          text: `answer ${i}`,
          usage: { input: 50, output: 10 },
          eventDelayMs: 2,
        })),
      );
      const [a, b] = await Promise.all([
        runner.start('chain', { input: 'first' }),
        runner.start('chain', { input: 'second' }),
      ]);
      assert.equal(a.status, 'completed');
      assert.equal(b.status, 'completed');
      assert.notEqual(a.runId, b.runId);
      assert.equal(ledgerOf(workspace, a.runId).length, 3);
      assert.equal(ledgerOf(workspace, b.runId).length, 3);
      const reservations = ledgerOf(workspace).map((r) => r.reservationId);
      assert.equal(new Set(reservations).size, 6);
    } finally {
      await close();
    }
  });

  it("routes models: the policy's model, its complex model on a keyword, an explicit --model, and a degrade rule", async () => {
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    const model = () => (fake.generationRequests[fake.generationRequests.length - 1]!.body as { model: string }).model;
    try {
      writePolicy(ws.folder, {
        workflows: {
          explain: {
            model: 'claude-sonnet-5',
            complexModel: 'claude-opus-5',
            degradeModel: 'claude-haiku-4-5',
            complexity: { keywords: ['security'] },
          },
        },
      });
      await workspace.reloadPolicy();
      assert.equal((await runner.start('explain', { selection: 'let x = 1;' })).status, 'completed');
      assert.equal(model(), 'claude-sonnet-5');
      assert.equal(
        (await runner.start('explain', { selection: 'let x = 1;', input: 'Is this a security problem?' })).status,
        'completed',
      );
      assert.equal(model(), 'claude-opus-5');
      assert.equal(
        (await runner.start('explain', { selection: 'let x = 1;', model: 'claude-haiku-4-5' })).status,
        'completed',
      );
      assert.equal(model(), 'claude-haiku-4-5');

      writePolicy(ws.folder, {
        workflows: { explain: { model: 'claude-sonnet-5', degradeModel: 'claude-haiku-4-5' } },
        rules: [{ when: { scope: 'workspace.daily', atLeastPct: 0 }, action: 'degrade' }],
      });
      await workspace.reloadPolicy();
      const { events, onEvent } = collectEvents();
      const degraded = await runner.start('explain', { selection: 'let x = 1;' }, { onEvent });
      assert.equal(degraded.status, 'completed');
      assert.equal(model(), 'claude-haiku-4-5');
      const [row] = ledgerOf(workspace, degraded.runId);
      assert.equal(row!.model, 'claude-haiku-4-5');
      assert.equal(row!.variant, 'claude-haiku-4-5@v2');
      assert.ok(
        events.some((e) => e.type === 'warning' && /Degraded from claude-sonnet-5 to claude-haiku-4-5/.test(e.message)),
      );
    } finally {
      await close();
    }
  });

  it('refuses to start, recording nothing, on an unknown workflow, missing input, an unpriced model or a missing key', async () => {
    const noKey = {
      adapter: async () => Promise.reject(new MissingApiKeyError('anthropic', 'no key')),
      hasKey: () => false,
    };
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    const keyless = await openRunner(ws.folder, noKey);
    try {
      await assert.rejects(
        runner.start('nope', {}),
        (e: unknown) =>
          e instanceof WorkflowNotFoundError &&
          /code-review, explain, test-gen, draft-requirements, research, chain/.test(e.message),
      );
      await assert.rejects(
        runner.start('code-review', {}),
        (e: unknown) => e instanceof RunInputError && /needs input: text or a file/.test(e.message),
      );
      await assert.rejects(runner.start('explain', { selection: 'x', model: 'gpt-99-ultra' }), UnknownModelError);
      await assert.rejects(keyless.runner.start('explain', { selection: 'x' }), MissingApiKeyError);
      await assert.rejects(
        runner.start('explain', { file: '../etc/passwd' }),
        (e: unknown) => e instanceof RunInputError && /outside the workspace/.test(e.message),
      );
      assert.deepEqual(workspace.store.queries.listRuns(), []);
      assert.equal(fake.requests.length, 0);
    } finally {
      await keyless.close();
      await close();
    }
  });
});
