import assert from 'node:assert/strict';
import { GeminiAdapter } from '../../../src/core/providers/gemini';
import type { ChatMessage } from '../../../src/core/providers/types';
import { startFakeGemini, type FakeGemini } from '../../fakes';
import { fastDeps, READ_FILE_TOOL, rejectsWith, request, user } from './helpers';

const MODEL = 'gemini-2.5-flash';
type Body = Record<string, unknown>;

describe('GeminiAdapter against the fake Gemini API', () => {
  let fake: FakeGemini & { close(): Promise<void> };
  let deps: ReturnType<typeof fastDeps>;
  let adapter: GeminiAdapter;

  beforeEach(async () => {
    fake = await startFakeGemini();
    deps = fastDeps();
    adapter = new GeminiAdapter({ provider: 'gemini', apiKey: 'test-key', baseUrl: fake.baseUrl }, deps);
  });
  afterEach(() => fake.close());

  it('streams over SSE; cached tokens come out of promptTokenCount, thoughts are added (not inside candidates)', async () => {
    // Wire: promptTokenCount 1500 incl. cachedContentTokenCount 1000; candidates 30; thoughts 200.
    fake.enqueue({
      text: 'The README explains Agent Budget.',
      thinking: 'Plan the answer.',
      usage: { input: 500, cacheRead: 1000, output: 30, reasoning: 200 },
    });
    const deltas: string[] = [];
    const result = await adapter.chat(request(MODEL, { onText: (d) => deltas.push(d) }));
    assert.equal(result.text, 'The README explains Agent Budget.');
    assert.equal(deltas.join(''), result.text, 'thought text is not streamed as answer text');
    assert.deepEqual(result.usage, {
      input: 500,
      output: 30,
      cacheRead: 1000,
      cacheWrite5m: 0,
      cacheWrite1h: 0,
      reasoning: 200,
    });
    assert.equal((result.usageRaw as { promptTokenCount: number }).promptTokenCount, 1500);
    assert.equal(result.stopReason, 'end');
    assert.equal(fake.requests[0]!.path, `/v1beta/models/${MODEL}:streamGenerateContent`);
    assert.equal(fake.requests[0]!.query.alt, 'sse');
    assert.deepEqual((fake.requests[0]!.body as Body).generationConfig, { maxOutputTokens: 256 });
  });

  it('non-streaming generateContent', async () => {
    fake.enqueue({ text: 'ok', usage: { input: 40, output: 2 } });
    const result = await adapter.chat(request(MODEL, { stream: false }));
    assert.equal(result.text, 'ok');
    assert.deepEqual(result.usage, {
      input: 40,
      output: 2,
      cacheRead: 0,
      cacheWrite5m: 0,
      cacheWrite1h: 0,
      reasoning: 0,
    });
    assert.equal(fake.requests[0]!.path, `/v1beta/models/${MODEL}:generateContent`);
  });

  it('round-trips a function call, sending back its thought signature and a functionResponse', async () => {
    fake.enqueue(
      { toolCalls: [{ name: 'readFile', input: { path: 'README.md' } }], usage: { input: 70, output: 9 } },
      { text: 'It is a budget tool.', usage: { input: 120, output: 6 } },
    );
    const first = await adapter.chat(request(MODEL, { tools: [READ_FILE_TOOL], system: 'Be brief.' }));
    assert.equal(first.stopReason, 'toolUse');
    assert.equal(first.toolCalls.length, 1);
    const call = first.toolCalls[0]!;
    assert.deepEqual({ name: call.name, input: call.input }, { name: 'readFile', input: { path: 'README.md' } });
    const conversation: ChatMessage[] = [
      user('Summarize the README in one line.'),
      first.message,
      { role: 'user', content: [{ type: 'toolResult', callId: call.id, name: 'readFile', content: '# Agent Budget' }] },
    ];
    const second = await adapter.chat(
      request(MODEL, { tools: [READ_FILE_TOOL], system: 'Be brief.', messages: conversation }),
    );
    assert.equal(second.text, 'It is a budget tool.');
    const body = fake.requests[1]!.body as Body;
    assert.deepEqual(body.systemInstruction, { parts: [{ text: 'Be brief.' }], role: 'user' });
    assert.deepEqual(body.tools, [
      {
        functionDeclarations: [
          {
            name: 'readFile',
            description: READ_FILE_TOOL.description,
            parametersJsonSchema: READ_FILE_TOOL.inputSchema,
          },
        ],
      },
    ]);
    assert.deepEqual(body.contents, [
      { role: 'user', parts: [{ text: 'Summarize the README in one line.' }] },
      {
        role: 'model',
        parts: [{ functionCall: { name: 'readFile', args: { path: 'README.md' } }, thoughtSignature: 'sig-readFile' }],
      },
      { role: 'user', parts: [{ functionResponse: { name: 'readFile', response: { output: '# Agent Budget' } } }] },
    ]);
  });

  it('a stream cut before the final chunk is a streamCut with the text and prompt usage seen so far', async () => {
    fake.enqueue({ text: 'abcdefghijklmnopqrstuvwxyz0123456789', usage: { input: 64 }, cutAfterEvents: 2 });
    const err = await rejectsWith(adapter.chat(request(MODEL)), 'streamCut');
    assert.equal(err.partial?.text, 'abcdefghijklmnopqrstuvwx');
    assert.equal(err.partial?.usage?.input, 64);
    assert.equal(fake.generationRequests.length, 1);
  });

  it('a bad key (400 API_KEY_INVALID, as Gemini answers it) is kind auth', async () => {
    const strict = await startFakeGemini({ apiKey: 'right' });
    try {
      const wrong = new GeminiAdapter({ provider: 'gemini', apiKey: 'wrong-key-123', baseUrl: strict.baseUrl }, deps);
      const err = await rejectsWith(wrong.chat(request(MODEL)), 'auth');
      assert.match(err.message, /GEMINI_API_KEY/);
      assert.equal(strict.requests.length, 1);
    } finally {
      await strict.close();
    }
  });

  it('429 waits for the RetryInfo delay in the body, then succeeds', async () => {
    fake.enqueue(
      {
        type: 'error',
        status: 429,
        body: {
          error: {
            code: 429,
            message: 'Quota exceeded',
            status: 'RESOURCE_EXHAUSTED',
            details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '7s' }],
          },
        },
      },
      { text: 'after the wait' },
    );
    const result = await adapter.chat(request(MODEL));
    assert.equal(result.text, 'after the wait');
    assert.deepEqual(deps.sleeps, [7000]);
  });

  it('429 with a retry-after header (read through the recording fetch) is honoured too', async () => {
    fake.enqueue({ type: 'error', status: 429, headers: { 'retry-after': '3' } }, { text: 'ok' });
    await adapter.chat(request(MODEL));
    assert.deepEqual(deps.sleeps, [3000]);
  });

  it('500/503 are retried with backoff and bounded; the SDK itself never retries', async () => {
    fake.enqueue(
      { type: 'error', status: 503 },
      { type: 'error', status: 500 },
      { type: 'error', status: 500 },
      { type: 'error', status: 500 },
      { text: 'never' },
    );
    const err = await rejectsWith(adapter.chat(request(MODEL)), 'server');
    assert.equal(fake.generationRequests.length, 4);
    assert.deepEqual(deps.sleeps, [375, 750, 1500]);
    assert.equal(fake.pendingReplies(), 1);
    assert.equal(err.status, 500);
  });

  it('a safety block is kind refused, with the final usage', async () => {
    fake.enqueue({ stopReason: 'refused', usage: { input: 25, output: 0 } });
    const err = await rejectsWith(adapter.chat(request(MODEL, { stream: false })), 'refused');
    assert.equal(err.partial?.usageFinal, true);
    assert.equal(err.partial?.usage?.input, 25);
  });

  it('times out a stalled stream', async () => {
    fake.enqueue({ text: 'abcdefghijklmnopqrstuvwxyz', hangAfterEvents: 1 });
    const slow = new GeminiAdapter({ provider: 'gemini', apiKey: 'k', baseUrl: fake.baseUrl, timeoutMs: 150 }, deps);
    const err = await rejectsWith(slow.chat(request(MODEL)), 'timeout');
    assert.equal(err.partial?.text, 'abcdefghijkl');
  });

  it('abort stops the stream at once', async () => {
    fake.enqueue({ text: 'z'.repeat(600), eventDelayMs: 40 });
    const controller = new AbortController();
    let abortedAt = 0;
    const err = await rejectsWith(
      adapter.chat(
        request(MODEL, {
          signal: controller.signal,
          onText: () => {
            if (!abortedAt) {
              abortedAt = Date.now();
              controller.abort();
            }
          },
        }),
      ),
      'aborted',
    );
    assert.ok(Date.now() - abortedAt < 300);
    assert.equal(err.partial?.text, 'z'.repeat(12));
  });

  it('estimates with models.countTokens (+2 %); without a key it uses the heuristic and calls nothing', async () => {
    fake.enqueueCount(500);
    assert.deepEqual(await adapter.estimateInputTokens(request(MODEL)), { inputTokens: 510, method: 'endpoint' });
    assert.equal(fake.requests[0]!.path, `/v1beta/models/${MODEL}:countTokens`);
    const keyless = new GeminiAdapter({ provider: 'gemini', apiKey: '', baseUrl: fake.baseUrl }, deps);
    const estimate = await keyless.estimateInputTokens(request(MODEL));
    assert.equal(estimate.method, 'heuristic');
    assert.equal(fake.requests.length, 1);
  });
});
