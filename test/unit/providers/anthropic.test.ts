import assert from 'node:assert/strict';
import { AnthropicAdapter } from '../../../src/core/providers/anthropic';
import type { ChatMessage } from '../../../src/core/providers/types';
import { startFakeAnthropic, type FakeAnthropic } from '../../fakes';
import { fastDeps, READ_FILE_TOOL, rejectsWith, request, user } from './helpers';

const MODEL = 'claude-haiku-4-5';

describe('AnthropicAdapter against the fake Anthropic API', () => {
  let fake: FakeAnthropic & { close(): Promise<void> };
  let deps: ReturnType<typeof fastDeps>;
  let adapter: AnthropicAdapter;

  beforeEach(async () => {
    fake = await startFakeAnthropic();
    deps = fastDeps();
    adapter = new AnthropicAdapter({ provider: 'anthropic', apiKey: 'test-key', baseUrl: fake.baseUrl }, deps);
  });
  afterEach(() => fake.close());

  it('streams text and takes usage from message_start + the cumulative message_delta (overwrite, not add)', async () => {
    fake.enqueue({ text: 'The README explains Agent Budget.', usage: { input: 120, output: 9 } });
    const deltas: string[] = [];
    const result = await adapter.chat(request(MODEL, { onText: (d) => deltas.push(d) }));
    assert.equal(result.text, 'The README explains Agent Budget.');
    assert.equal(deltas.join(''), result.text);
    assert.ok(deltas.length > 1, 'text arrives in several deltas');
    // The fake repeats input_tokens in message_delta like the real API: adding would give 240.
    assert.deepEqual(result.usage, {
      input: 120,
      output: 9,
      cacheRead: 0,
      cacheWrite5m: 0,
      cacheWrite1h: 0,
      reasoning: 0,
    });
    const raw = result.usageRaw as {
      message_start: { input_tokens: number };
      message_delta: { output_tokens: number };
    };
    assert.equal(raw.message_start.input_tokens, 120);
    assert.equal(raw.message_delta.output_tokens, 9);
    assert.equal(result.stopReason, 'end');
    assert.match(result.requestId ?? '', /^req_/);
    const wire = fake.requests[0]!;
    assert.equal(wire.path, '/v1/messages');
    assert.equal((wire.body as { stream: boolean }).stream, true);
    assert.equal((wire.body as { max_tokens: number }).max_tokens, 256);
    assert.equal(wire.headers['x-stainless-retry-count'], '0');
  });

  it('non-streaming: one JSON response, the same usage normalization', async () => {
    fake.enqueue({ text: 'ok', usage: { input: 50, output: 2, cacheRead: 10 } });
    const result = await adapter.chat(request(MODEL, { stream: false }));
    assert.equal(result.text, 'ok');
    assert.deepEqual(result.usage, {
      input: 50,
      output: 2,
      cacheRead: 10,
      cacheWrite5m: 0,
      cacheWrite1h: 0,
      reasoning: 0,
    });
    assert.equal((fake.requests[0]!.body as { stream: boolean }).stream, false);
  });

  it('splits cache writes into 5-minute and 1-hour from usage.cache_creation', async () => {
    fake.enqueue({
      text: 'cached',
      usage: { input: 30, output: 4, cacheRead: 1000, cacheWrite5m: 200, cacheWrite1h: 300 },
    });
    const result = await adapter.chat(request(MODEL));
    assert.deepEqual(result.usage, {
      input: 30,
      output: 4,
      cacheRead: 1000,
      cacheWrite5m: 200,
      cacheWrite1h: 300,
      reasoning: 0,
    });
  });

  it('takes thinking tokens out of output_tokens (billed once, as reasoning) and keeps the signed thinking block', async () => {
    fake.enqueue({
      text: 'answer',
      thinking: 'Let me think about the README.',
      usage: { input: 40, output: 5, reasoning: 60 },
    });
    const result = await adapter.chat(request(MODEL));
    // The wire says output_tokens = 65 including thinking_tokens = 60.
    assert.equal(result.usage?.output, 5);
    assert.equal(result.usage?.reasoning, 60);
    assert.deepEqual(result.message.content[0], {
      type: 'thinking',
      text: 'Let me think about the README.',
      signature: 'sig-fake',
    });
  });

  it('round-trips a tool call: tool_use comes back as toolCall, the result goes out as tool_result', async () => {
    fake.enqueue(
      {
        toolCalls: [{ id: 'toolu_01', name: 'readFile', input: { path: 'README.md' } }],
        thinking: 'I should read it.',
        usage: { input: 80, output: 20 },
      },
      { text: 'It is a budget tool.', usage: { input: 140, output: 7 } },
    );
    const first = await adapter.chat(request(MODEL, { tools: [READ_FILE_TOOL] }));
    assert.equal(first.stopReason, 'toolUse');
    assert.deepEqual(first.toolCalls, [{ id: 'toolu_01', name: 'readFile', input: { path: 'README.md' } }]);

    const conversation: ChatMessage[] = [
      user('Summarize the README in one line.'),
      first.message,
      {
        role: 'user',
        content: [{ type: 'toolResult', callId: 'toolu_01', name: 'readFile', content: '# Agent Budget' }],
      },
    ];
    const second = await adapter.chat(request(MODEL, { tools: [READ_FILE_TOOL], messages: conversation }));
    assert.equal(second.text, 'It is a budget tool.');

    const body = fake.requests[1]!.body as {
      messages: Array<{ role: string; content: Array<Record<string, unknown>> }>;
      tools: unknown[];
    };
    assert.deepEqual(body.tools, [
      { name: 'readFile', description: READ_FILE_TOOL.description, input_schema: READ_FILE_TOOL.inputSchema },
    ]);
    assert.deepEqual(body.messages[1], {
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: 'I should read it.', signature: 'sig-fake' },
        { type: 'tool_use', id: 'toolu_01', name: 'readFile', input: { path: 'README.md' } },
      ],
    });
    assert.deepEqual(body.messages[2], {
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: '# Agent Budget' }],
    });
  });

  for (const cutMode of ['reset', 'end'] as const) {
    it(`a stream cut mid-way (${cutMode}) is a streamCut carrying the text and input usage seen so far`, async () => {
      // Events: message_start, ping, content_block_start, then deltas of 12 characters.
      fake.enqueue({
        text: 'abcdefghijklmnopqrstuvwxyz0123456789',
        usage: { input: 77, output: 12, cacheRead: 5 },
        cutAfterEvents: 5,
        cutMode,
      });
      const err = await rejectsWith(adapter.chat(request(MODEL)), 'streamCut');
      assert.equal(err.partial?.text, 'abcdefghijklmnopqrstuvwx');
      assert.deepEqual(err.partial?.usage, { input: 77, cacheRead: 5, cacheWrite5m: 0, cacheWrite1h: 0 });
      assert.equal(err.retryable, false);
      assert.equal(fake.generationRequests.length, 1, 'a started stream is never retried');
    });
  }

  it('401: kind auth, not retried, with a message naming the command and the variable', async () => {
    fake.enqueue({ type: 'error', status: 401 });
    const err = await rejectsWith(adapter.chat(request(MODEL)), 'auth');
    assert.equal(
      err.message,
      "Anthropic rejected the API key (401). Set a valid key with 'Agent Budget: Set API Key…' or ANTHROPIC_API_KEY.",
    );
    assert.equal(fake.generationRequests.length, 1);
  });

  it('429 with retry-after: waits exactly that long, retries, succeeds', async () => {
    fake.enqueue(
      { type: 'error', status: 429, headers: { 'retry-after': '2' } },
      { text: 'after the wait', usage: { input: 10, output: 3 } },
    );
    const result = await adapter.chat(request(MODEL));
    assert.equal(result.text, 'after the wait');
    assert.deepEqual(deps.sleeps, [2000]);
    assert.equal(fake.generationRequests.length, 2);
  });

  it('529 overloaded: retried with jittered exponential backoff, then succeeds', async () => {
    fake.enqueue({ type: 'error', status: 529 }, { type: 'error', status: 529 }, { text: 'finally' });
    const result = await adapter.chat(request(MODEL));
    assert.equal(result.text, 'finally');
    // random() = 0.5: step/2 + 0.5·step/2 = 0.75·step, steps 500 and 1000 ms.
    assert.deepEqual(deps.sleeps, [375, 750]);
  });

  it('500 on every attempt: bounded at maxRetries, then a server error', async () => {
    fake.enqueue(...Array.from({ length: 6 }, () => ({ type: 'error' as const, status: 500 })));
    const bounded = new AnthropicAdapter(
      { provider: 'anthropic', apiKey: 'k', baseUrl: fake.baseUrl, maxRetries: 2 },
      deps,
    );
    const err = await rejectsWith(bounded.chat(request(MODEL)), 'server');
    assert.equal(err.status, 500);
    assert.equal(fake.generationRequests.length, 3, 'first try + 2 retries');
    assert.deepEqual(deps.sleeps, [375, 750]);
  });

  it('400 prompt too long is contextLength and is not retried', async () => {
    fake.enqueue({ type: 'error', status: 400, message: 'prompt is too long: 208310 tokens > 200000 maximum' });
    const err = await rejectsWith(adapter.chat(request(MODEL)), 'contextLength');
    assert.match(err.message, /too long for claude-haiku-4-5's context window/);
    assert.equal(fake.generationRequests.length, 1);
  });

  it('a refusal stop is kind refused, with the final usage so it is charged exactly', async () => {
    fake.enqueue({ text: 'I can not', stopReason: 'refused', usage: { input: 20, output: 3 } });
    const err = await rejectsWith(adapter.chat(request(MODEL)), 'refused');
    assert.equal(err.partial?.usageFinal, true);
    assert.deepEqual(err.partial?.usage, {
      input: 20,
      output: 3,
      cacheRead: 0,
      cacheWrite5m: 0,
      cacheWrite1h: 0,
      reasoning: 0,
    });
  });

  it('a response slower than timeoutMs fails as timeout, promptly', async () => {
    fake.enqueue({ text: 'late', delayMs: 3000 });
    const slow = new AnthropicAdapter(
      { provider: 'anthropic', apiKey: 'k', baseUrl: fake.baseUrl, timeoutMs: 150 },
      deps,
    );
    const started = Date.now();
    await rejectsWith(slow.chat(request(MODEL)), 'timeout');
    assert.ok(Date.now() - started < 1500, 'the timeout fired, not the server');
    assert.equal(fake.generationRequests.length, 1, 'a timeout is not retried');
  });

  it('a stream that stalls is a timeout carrying what arrived', async () => {
    fake.enqueue({ text: 'abcdefghijklmnopqrstuvwxyz', hangAfterEvents: 4 });
    const slow = new AnthropicAdapter(
      { provider: 'anthropic', apiKey: 'k', baseUrl: fake.baseUrl, timeoutMs: 150 },
      deps,
    );
    const err = await rejectsWith(slow.chat(request(MODEL)), 'timeout');
    assert.equal(err.partial?.text, 'abcdefghijkl');
  });

  it('abort stops the stream at once and keeps the partial text', async () => {
    fake.enqueue({ text: 'x'.repeat(600), eventDelayMs: 40 });
    const controller = new AbortController();
    let abortedAt = 0;
    const call = adapter.chat(
      request(MODEL, {
        signal: controller.signal,
        onText: () => {
          if (!abortedAt) {
            abortedAt = Date.now();
            controller.abort();
          }
        },
      }),
    );
    const err = await rejectsWith(call, 'aborted');
    // The whole stream would take 50 events × 40 ms = 2 s.
    assert.ok(Date.now() - abortedAt < 300, `stopped ${Date.now() - abortedAt} ms after the abort`);
    assert.equal(err.partial?.text, 'x'.repeat(12));
  });

  it('abort during a retry wait ends the wait at once', async () => {
    fake.enqueue({ type: 'error', status: 429, headers: { 'retry-after': '30' } });
    const realSleeping = new AnthropicAdapter({ provider: 'anthropic', apiKey: 'k', baseUrl: fake.baseUrl });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    await rejectsWith(realSleeping.chat(request(MODEL, { signal: controller.signal })), 'aborted');
    assert.ok(Date.now() - started < 1000);
    assert.equal(fake.generationRequests.length, 1);
  });

  it('estimates input with messages.countTokens (+2 %), and falls back to the heuristic on failure', async () => {
    fake.enqueueCount(1000, { type: 'error', status: 500 });
    const byEndpoint = await adapter.estimateInputTokens(request(MODEL));
    assert.deepEqual(byEndpoint, { inputTokens: 1020, method: 'endpoint' });
    assert.equal(fake.requests[0]!.path, '/v1/messages/count_tokens');
    const fallback = await adapter.estimateInputTokens(request(MODEL));
    assert.equal(fallback.method, 'heuristic');
    assert.match(fallback.fallbackReason ?? '', /count-tokens endpoint failed/);
    assert.equal(fake.requests.length, 2, 'the count endpoint is not retried');
  });
});
