// The metered-call seam end to end (src/core/metering/meter.ts): begin → the provider → settle or fail, over a real
// workspace store, with the in-memory provider and with a wire fake through the official SDK.
import assert from 'node:assert/strict';
import type { BudgetBlockedError } from '../../../src/core/budget/engine';
import { AgentBudgetError } from '../../../src/core/errors';
import { Meter, type MeteredCall } from '../../../src/core/metering';
import { priceCall } from '../../../src/core/pricing/cost';
import { createProviderAdapter } from '../../../src/core/providers';
import { callFailureOf, ProviderError } from '../../../src/core/providers/errors';
import type { ChatRequest, ProviderAdapter } from '../../../src/core/providers/types';
import type { StoreRecord } from '../../../src/core/store/records';
import { ZERO_USAGE, type TokenUsage } from '../../../src/core/usage';
import { Workspace } from '../../../src/core/workspace';
import { startFakeAnthropic, type FakeAnthropic, type Running } from '../../fakes';
import { ledgerOf, tempWorkspace, writePolicy } from '../runner/helpers';
import { MemoryProvider } from './memoryProvider';

const MODEL = 'claude-haiku-4-5';

/** The caller's checkpoint: what the runner writes with the reservation (in flight) and with the answer. */
function checkpoint(seq: number, state: string): StoreRecord {
  return { k: 'checkpoint', checkpoint: { runId: 'run-m', seq, ts: Date.now(), state: { state } } };
}

const PROMPT: Omit<ChatRequest, 'maxOutputTokens'> = {
  model: MODEL,
  messages: [{ role: 'user', content: [{ type: 'text', text: 'Explain the invoice total.' }] }],
};

function request(adapter: ProviderAdapter) {
  return {
    workflow: 'explain',
    runId: 'run-m',
    taskId: 'task-m',
    task: 'explain',
    provider: 'anthropic' as const,
    model: MODEL,
    inputTokens: 400,
    exactInputTokens: async () => (await adapter.estimateInputTokens(PROMPT)).inputTokens,
    maxOutputTokens: 500,
    tokenScopes: [{ key: 'task@task-m', kind: 'task' as const, hardTokens: 50_000 }],
  };
}

function usageOf(u: Partial<TokenUsage>): TokenUsage {
  return { ...ZERO_USAGE, ...u };
}

describe('Meter: a metered call end to end', function () {
  this.timeout(20_000);
  let ws: ReturnType<typeof tempWorkspace>;
  let workspace: Workspace;
  let meter: Meter;
  let batches: StoreRecord[][];

  beforeEach(async () => {
    ws = tempWorkspace();
    writePolicy(ws.folder, { timeZone: 'UTC', limits: { workspace: { dailyUsd: 5 } } });
    workspace = await Workspace.open(ws.folder, { pollMs: 0 });
    meter = new Meter(workspace.engine);
    batches = [];
    workspace.store.onDidApply(({ records }) => batches.push(records));
  });
  afterEach(async () => {
    await workspace.close();
    ws.cleanup();
  });

  /** The one write that carried `kind` (fails unless exactly one did). */
  const writeWith = (k: StoreRecord['k']) => {
    const found = batches.filter((b) => b.some((r) => r.k === k));
    assert.equal(found.length, 1, `one write with a ${k} record`);
    return found[0]!;
  };

  it('with the in-memory provider: reserved with the in-flight checkpoint in one write, settled exactly with the answer in another', async () => {
    const provider = new MemoryProvider().enqueue({
      text: 'It adds the lines.',
      chunks: 3,
      usage: { input: 310, output: 42 },
    });
    const call = await meter.begin(request(provider), [checkpoint(1, 'in flight')]);

    const open = workspace.store.queries.openReservations();
    assert.deepEqual(
      open.map((r) => r.id),
      [call.admission.reservation.id],
    );
    assert.deepEqual(workspace.store.queries.checkpoint('run-m')?.state, { state: 'in flight' });
    assert.deepEqual(
      writeWith('reserve').map((r) => r.k),
      ['reserve', 'checkpoint'],
    );
    assert.ok(call.admission.maxOutputTokens > 0 && call.admission.maxOutputTokens <= 500);

    const streamed: string[] = [];
    const result = await provider.chat({
      ...PROMPT,
      model: call.admission.model,
      maxOutputTokens: call.admission.maxOutputTokens,
      onText: (d) => streamed.push(d),
    });
    assert.equal(streamed.join(''), 'It adds the lines.');
    assert.equal(provider.requests[0]!.maxOutputTokens, call.admission.maxOutputTokens, 'the clamp is what is sent');

    const entry = await call.settle({ usage: result.usage, requestId: result.requestId, latencyMs: result.latencyMs }, [
      checkpoint(2, 'answered'),
    ]);
    const billed = usageOf({ input: 310, output: 42 });
    assert.equal(entry.costMicros, priceCall({ provider: 'anthropic', model: MODEL, usage: billed }).costMicros);
    assert.equal(entry.estimated, false);
    assert.deepEqual(entry.usage, billed);
    assert.equal(entry.requestId, 'mem_1');
    assert.equal(entry.reservationId, call.admission.reservation.id);
    assert.deepEqual(ledgerOf(workspace), [entry]);
    assert.deepEqual(workspace.store.queries.openReservations(), []);
    assert.deepEqual(workspace.store.queries.checkpoint('run-m')?.state, { state: 'answered' });
    assert.deepEqual(
      writeWith('settle').map((r) => r.k),
      ['settle', 'checkpoint'],
    );
  });

  it('with the in-memory provider: a failure is charged by the money rule — estimated, released, or exact', async () => {
    const provider = new MemoryProvider();
    const cases = [
      {
        name: 'cut mid-stream',
        fail: provider.error('streamCut', 'cut', {
          partial: { text: 'Hal', toolCalls: [], usage: { input: 300 } },
        }),
        // The 300 prompt tokens message_start reported, and the 3 bytes that streamed + 10 % + 16 tokens.
        charged: (call: MeteredCall) => ({
          costMicros: Math.min(
            call.admission.reservation.micros,
            priceCall({ provider: 'anthropic', model: MODEL, usage: usageOf({ input: 300, output: 3 + 1 + 16 }) })
              .costMicros,
          ),
          estimated: true,
        }),
      },
      { name: 'HTTP 400', fail: provider.error('badRequest', 'bad', { status: 400 }), charged: () => undefined },
      {
        name: 'a refusal with its final usage',
        fail: provider.error('refused', 'no', {
          partial: { text: '', toolCalls: [], usage: { input: 120, output: 2 }, usageFinal: true },
        }),
        charged: () => ({
          costMicros: priceCall({ provider: 'anthropic', model: MODEL, usage: usageOf({ input: 120, output: 2 }) })
            .costMicros,
          estimated: false,
        }),
      },
    ];
    for (const [i, c] of cases.entries()) {
      provider.enqueue({ fail: c.fail });
      const call = await meter.begin(request(provider), [checkpoint(10 + 2 * i, 'in flight')]);
      const err = await provider.chat({ ...PROMPT, maxOutputTokens: call.admission.maxOutputTokens }).catch((e) => e);
      const entry = await call.fail(callFailureOf(err), [checkpoint(11 + 2 * i, `${c.name}: failed`)]);
      const expected = c.charged(call);
      assert.deepEqual(entry && { costMicros: entry.costMicros, estimated: entry.estimated }, expected, c.name);
      const rows = ledgerOf(workspace).filter((r) => r.reservationId === call.admission.reservation.id);
      assert.equal(rows.length, expected ? 1 : 0, `${c.name}: ledger rows`);
      assert.deepEqual(workspace.store.queries.openReservations(), [], `${c.name}: the reservation is closed`);
      assert.deepEqual(workspace.store.queries.checkpoint('run-m')?.state, { state: `${c.name}: failed` });
    }
  });

  it('ends exactly once: a second settle or fail throws and nothing is charged twice', async () => {
    const provider = new MemoryProvider();
    const usage = usageOf({ input: 100, output: 10 });

    const settled = await meter.begin(request(provider));
    await settled.settle({ usage });
    for (const again of [() => settled.settle({ usage }), () => settled.fail({ mayHaveBilled: true })]) {
      await assert.rejects(again(), (err: unknown) => err instanceof AgentBudgetError && err.errorKind === 'internal');
    }

    const failed = await meter.begin(request(provider));
    await failed.fail({ mayHaveBilled: true });
    await assert.rejects(failed.fail({ mayHaveBilled: true }), AgentBudgetError);
    await assert.rejects(failed.settle({ usage }), AgentBudgetError);

    // Two ends racing: the second is refused before either write lands.
    const raced = await meter.begin(request(provider));
    const ends = await Promise.allSettled([raced.settle({ usage }), raced.settle({ usage })]);
    assert.deepEqual(
      ends.map((e) => e.status),
      ['fulfilled', 'rejected'],
    );

    const rows = ledgerOf(workspace);
    for (const call of [settled, failed, raced]) {
      assert.equal(rows.filter((r) => r.reservationId === call.admission.reservation.id).length, 1);
    }
    assert.equal(rows.length, 3);
  });

  it('refused by the budget: BudgetBlockedError, and neither the reservation nor the checkpoint is written', async () => {
    writePolicy(ws.folder, { timeZone: 'UTC', limits: { workspace: { dailyUsd: 0.00001 } } });
    await workspace.reloadPolicy();
    const provider = new MemoryProvider();
    await assert.rejects(meter.begin(request(provider), [checkpoint(1, 'in flight')]), (err: BudgetBlockedError) => {
      assert.equal(err.errorKind, 'budget');
      assert.equal(err.scope, 'workspace.daily');
      return true;
    });
    assert.deepEqual(workspace.store.queries.openReservations(), []);
    assert.equal(workspace.store.queries.checkpoint('run-m'), undefined);
    assert.equal(provider.requests.length, 0);
  });

  describe('with the Anthropic wire fake through the official SDK', () => {
    let fake: Running<FakeAnthropic>;
    beforeEach(async () => {
      fake = await startFakeAnthropic();
    });
    afterEach(() => fake.close());

    const adapter = () =>
      createProviderAdapter({ provider: 'anthropic', apiKey: 'test-key', baseUrl: fake.baseUrl, maxRetries: 0 });

    it('settles to the usage the server reported', async () => {
      fake.enqueue({ text: 'Totals add up.', usage: { input: 222, output: 33, cacheRead: 11 } });
      const a = adapter();
      const call = await meter.begin(request(a));
      const result = await a.chat({
        ...PROMPT,
        model: call.admission.model,
        maxOutputTokens: call.admission.maxOutputTokens,
      });
      const entry = await call.settle({
        usage: result.usage,
        requestId: result.requestId,
        latencyMs: result.latencyMs,
      });
      const billed = usageOf({ input: 222, output: 33, cacheRead: 11 });
      assert.deepEqual(entry.usage, billed);
      assert.equal(entry.costMicros, priceCall({ provider: 'anthropic', model: MODEL, usage: billed }).costMicros);
      assert.equal(
        (fake.generationRequests[0]!.body as { max_tokens: number }).max_tokens,
        call.admission.maxOutputTokens,
      );
    });

    it('a stream cut while the model thinks is charged for the thinking that streamed', async () => {
      // message_start, the thinking block's start, then 4 thinking deltas of 12 characters: cut there.
      fake.enqueue({ thinking: 'Let me think about the totals first.', text: 'Answer', cutAfterEvents: 5 });
      const a = adapter();
      const cut = await meter.begin(request(a));
      const err = (await a
        .chat({ ...PROMPT, maxOutputTokens: cut.admission.maxOutputTokens })
        .catch((e) => e)) as ProviderError;
      assert.equal(err.partial?.text, '', 'no visible text had streamed');
      const thinking = err.partial?.otherOutputBytes ?? 0;
      assert.ok(thinking > 0, 'thinking had streamed');
      const entry = await cut.fail(callFailureOf(err));
      assert.equal(entry?.estimated, true);
      assert.equal(entry?.usage.output, thinking + Math.ceil(thinking / 10) + 16);
    });

    it('a stream cut after it began is charged what streamed plus the margin, as estimated; an HTTP error is released', async () => {
      fake.enqueue({ text: 'A long answer that never ends', cutAfterEvents: 5 }, { type: 'error', status: 400 });
      const a = adapter();
      const cut = await meter.begin(request(a));
      const cutErr = await a.chat({ ...PROMPT, maxOutputTokens: cut.admission.maxOutputTokens }).catch((e) => e);
      const estimated = await cut.fail(callFailureOf(cutErr));
      assert.equal(estimated?.estimated, true);
      // The prompt as message_start counted it; the output: the bytes that streamed, +10 % + 16 tokens.
      const streamedBytes = Buffer.byteLength((cutErr as ProviderError).partial!.text, 'utf8');
      assert.ok(streamedBytes > 0, 'the stream was cut after some text');
      assert.equal(estimated?.usage.output, streamedBytes + Math.ceil(streamedBytes / 10) + 16);
      assert.equal(estimated?.usage.input, (cutErr as ProviderError).partial!.usage!.input);
      assert.equal(
        estimated?.costMicros,
        priceCall({ provider: 'anthropic', model: MODEL, usage: estimated!.usage }).costMicros,
      );
      assert.ok(
        estimated!.costMicros < cut.admission.reservation.micros / 5,
        `${estimated!.costMicros} µ$ is far below the ${cut.admission.reservation.micros} µ$ worst case`,
      );

      const refused = await meter.begin(request(a));
      const httpErr = await a.chat({ ...PROMPT, maxOutputTokens: refused.admission.maxOutputTokens }).catch((e) => e);
      assert.equal(await refused.fail(callFailureOf(httpErr)), undefined);
      assert.deepEqual(
        ledgerOf(workspace).map((r) => r.reservationId),
        [cut.admission.reservation.id],
      );
      assert.deepEqual(workspace.store.queries.openReservations(), []);
    });
  });
});
