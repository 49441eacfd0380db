import assert from 'node:assert/strict';
import { OpenAIAdapter } from '../../../src/core/providers/openai';
import type { ChatMessage } from '../../../src/core/providers/types';
import { startFakeOpenAI, type FakeOpenAI } from '../../fakes';
import { fastDeps, READ_FILE_TOOL, rejectsWith, request, user } from './helpers';

type Body = Record<string, unknown>;

for (const api of ['chat', 'responses'] as const) {
  const path = api === 'chat' ? '/v1/chat/completions' : '/v1/responses';

  describe(`OpenAIAdapter (${api === 'chat' ? 'Chat Completions' : 'Responses API'}) against the fake OpenAI API`, () => {
    let fake: FakeOpenAI & { close(): Promise<void> };
    let deps: ReturnType<typeof fastDeps>;
    let adapter: OpenAIAdapter;

    beforeEach(async () => {
      fake = await startFakeOpenAI();
      deps = fastDeps();
      adapter = new OpenAIAdapter({ provider: 'openai', apiKey: 'test-key', baseUrl: fake.baseUrl, api }, deps);
    });
    afterEach(() => fake.close());

    it('streams text; cached and reasoning tokens are subtracted so no token counts twice', async () => {
      // On the wire: prompt/input = 1000 + 800 cached = 1800, completion/output = 40 + 300 reasoning = 340.
      fake.enqueue({
        text: 'The README explains Agent Budget.',
        usage: { input: 1000, cacheRead: 800, output: 40, reasoning: 300 },
      });
      const deltas: string[] = [];
      const result = await adapter.chat(request('gpt-5', { onText: (d) => deltas.push(d) }));
      assert.equal(result.text, 'The README explains Agent Budget.');
      assert.equal(deltas.join(''), result.text);
      assert.deepEqual(result.usage, {
        input: 1000,
        output: 40,
        cacheRead: 800,
        cacheWrite5m: 0,
        cacheWrite1h: 0,
        reasoning: 300,
      });
      const raw = result.usageRaw as Record<string, number>;
      assert.equal(api === 'chat' ? raw.prompt_tokens : raw.input_tokens, 1800, 'the raw object is kept as sent');
      assert.equal(result.stopReason, 'end');
      const wire = fake.requests[0]!;
      assert.equal(wire.path, path);
      if (api === 'chat') {
        assert.deepEqual(
          (wire.body as Body).stream_options,
          { include_usage: true },
          'without it the stream carries no usage',
        );
        assert.equal((wire.body as Body).max_completion_tokens, 256, 'GPT-5 takes max_completion_tokens');
        assert.equal((wire.body as Body).max_tokens, undefined);
      } else {
        assert.equal((wire.body as Body).max_output_tokens, 256);
        assert.equal((wire.body as Body).store, false);
      }
    });

    it('non-streaming: the same normalized usage', async () => {
      fake.enqueue({ text: 'ok', usage: { input: 90, cacheRead: 10, output: 5, reasoning: 7 } });
      const result = await adapter.chat(request('gpt-4o', { stream: false }));
      assert.equal(result.text, 'ok');
      assert.deepEqual(result.usage, {
        input: 90,
        output: 5,
        cacheRead: 10,
        cacheWrite5m: 0,
        cacheWrite1h: 0,
        reasoning: 7,
      });
      if (api === 'chat')
        assert.equal((fake.requests[0]!.body as Body).max_tokens, 256, 'non-reasoning models get max_tokens');
    });

    it('cache writes (cache_write_tokens) come out of the prompt count as cacheWrite5m', async () => {
      // On the wire: prompt/input = 1000 + 500 read + 300 written = 1800, with both details.
      const reply = { text: 'ok', usage: { input: 1000, cacheRead: 500, cacheWrite5m: 300, output: 20 } };
      fake.enqueue(reply, reply);
      for (const stream of [true, false]) {
        const result = await adapter.chat(request('gpt-6.2-sol', { stream }));
        assert.deepEqual(result.usage, {
          input: 1000,
          output: 20,
          cacheRead: 500,
          cacheWrite5m: 300,
          cacheWrite1h: 0,
          reasoning: 0,
        });
      }
    });

    it('429 insufficient_quota is a billing error: not retried, and says to check plan and billing', async () => {
      fake.enqueue(
        {
          type: 'error',
          status: 429,
          errorType: 'insufficient_quota',
          message: 'You exceeded your current quota, please check your plan and billing details.',
        },
        { text: 'must not be asked for' },
      );
      const err = await rejectsWith(adapter.chat(request('gpt-5')), 'quota');
      assert.equal(fake.generationRequests.length, 1);
      assert.deepEqual(deps.sleeps, []);
      assert.equal(err.retryable, false);
      assert.match(err.message, /^OpenAI refused the call: the account has run out of quota or credit \(429\)/);
      assert.match(err.message, /Check your OpenAI plan and billing details/);
      assert.doesNotMatch(err.message, /rate limit/);
    });

    it('round-trips a tool call with the wire shapes the API expects', async () => {
      fake.enqueue(
        {
          toolCalls: [{ id: 'call_7', name: 'readFile', input: { path: 'README.md' } }],
          usage: { input: 60, output: 12 },
        },
        { text: 'It is a budget tool.', usage: { input: 100, output: 6 } },
      );
      const first = await adapter.chat(request('gpt-5', { tools: [READ_FILE_TOOL], system: 'Be brief.' }));
      assert.equal(first.stopReason, 'toolUse');
      assert.deepEqual(first.toolCalls, [{ id: 'call_7', name: 'readFile', input: { path: 'README.md' } }]);
      const conversation: ChatMessage[] = [
        user('Summarize the README in one line.'),
        first.message,
        {
          role: 'user',
          content: [{ type: 'toolResult', callId: 'call_7', name: 'readFile', content: '# Agent Budget' }],
        },
      ];
      const second = await adapter.chat(
        request('gpt-5', { tools: [READ_FILE_TOOL], system: 'Be brief.', messages: conversation }),
      );
      assert.equal(second.text, 'It is a budget tool.');
      const body = fake.requests[1]!.body as Body;
      if (api === 'chat') {
        assert.deepEqual(body.tools, [
          {
            type: 'function',
            function: {
              name: 'readFile',
              description: READ_FILE_TOOL.description,
              parameters: READ_FILE_TOOL.inputSchema,
            },
          },
        ]);
        assert.deepEqual(body.messages, [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Summarize the README in one line.' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'call_7', type: 'function', function: { name: 'readFile', arguments: '{"path":"README.md"}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_7', content: '# Agent Budget' },
        ]);
      } else {
        assert.equal(body.instructions, 'Be brief.');
        assert.deepEqual(body.input, [
          { role: 'user', content: 'Summarize the README in one line.' },
          { type: 'function_call', call_id: 'call_7', name: 'readFile', arguments: '{"path":"README.md"}' },
          { type: 'function_call_output', call_id: 'call_7', output: '# Agent Budget' },
        ]);
      }
    });

    it('a stream cut before the final usage is a streamCut with the partial text', async () => {
      // Chat: role chunk + 2 deltas. Responses: created, in_progress, item added, part added + 2 deltas.
      fake.enqueue({ text: 'abcdefghijklmnopqrstuvwxyz0123456789', cutAfterEvents: api === 'chat' ? 3 : 6 });
      const err = await rejectsWith(adapter.chat(request('gpt-5')), 'streamCut');
      assert.equal(err.partial?.text, 'abcdefghijklmnopqrstuvwx');
      assert.equal(err.partial?.usage, undefined, 'usage had not arrived');
      assert.equal(fake.generationRequests.length, 1);
    });

    it('401: kind auth; the masked key OpenAI echoes is not repeated', async () => {
      const strict = await startFakeOpenAI({ apiKey: 'the-right-key' });
      try {
        const wrong = new OpenAIAdapter(
          { provider: 'openai', apiKey: 'sk-wrong-key-0000', baseUrl: strict.baseUrl, api },
          deps,
        );
        const err = await rejectsWith(wrong.chat(request('gpt-5')), 'auth');
        assert.equal(
          err.message,
          "OpenAI rejected the API key (401). Set a valid key with 'Agent Budget: Set API Key…' or OPENAI_API_KEY.",
        );
        assert.equal(strict.requests.length, 1);
      } finally {
        await strict.close();
      }
    });

    it('429 with retry-after-ms is honoured, then the call succeeds', async () => {
      fake.enqueue({ type: 'error', status: 429, headers: { 'retry-after-ms': '1500' } }, { text: 'done' });
      const result = await adapter.chat(request('gpt-5'));
      assert.equal(result.text, 'done');
      assert.deepEqual(deps.sleeps, [1500]);
    });

    it('a retry-after longer than the policy allows is not waited for: rateLimit with retryAfterMs', async () => {
      fake.enqueue({ type: 'error', status: 429, headers: { 'retry-after': '3600' } });
      const err = await rejectsWith(adapter.chat(request('gpt-5')), 'rateLimit');
      assert.equal(err.retryAfterMs, 3_600_000);
      assert.deepEqual(deps.sleeps, []);
      assert.match(err.message, /asked to wait 3600s/);
    });

    it('500s are retried and bounded', async () => {
      fake.enqueue(...Array.from({ length: 5 }, () => ({ type: 'error' as const, status: 500 })));
      const err = await rejectsWith(adapter.chat(request('gpt-5')), 'server');
      assert.equal(fake.generationRequests.length, 4, 'first try + 3 retries (default)');
      assert.deepEqual(deps.sleeps, [375, 750, 1500]);
      assert.equal(err.status, 500);
    });

    it('context_length_exceeded is contextLength', async () => {
      fake.enqueue({
        type: 'error',
        status: 400,
        message: "This model's maximum context length is 128000 tokens.",
        errorType: 'invalid_request_error',
      });
      await rejectsWith(adapter.chat(request('gpt-4o')), 'contextLength');
      assert.equal(fake.generationRequests.length, 1);
    });

    it('a refusal is kind refused with the final usage', async () => {
      fake.enqueue({ text: 'I can not help with that.', stopReason: 'refused', usage: { input: 30, output: 8 } });
      const err = await rejectsWith(adapter.chat(request('gpt-5')), 'refused');
      assert.equal(err.partial?.usageFinal, true);
      assert.equal(err.partial?.usage?.input, 30);
    });

    it('times out a server that never answers', async () => {
      fake.enqueue({ type: 'hang' });
      const slow = new OpenAIAdapter(
        { provider: 'openai', apiKey: 'k', baseUrl: fake.baseUrl, api, timeoutMs: 150 },
        deps,
      );
      const started = Date.now();
      await rejectsWith(slow.chat(request('gpt-5', { stream: false })), 'timeout');
      assert.ok(Date.now() - started < 1500);
    });

    it('abort stops the stream at once', async () => {
      fake.enqueue({ text: 'y'.repeat(600), eventDelayMs: 40 });
      const controller = new AbortController();
      let abortedAt = 0;
      const err = await rejectsWith(
        adapter.chat(
          request('gpt-5', {
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
      assert.equal(err.partial?.text, 'y'.repeat(12));
    });
  });
}

describe('OpenAIAdapter with an OpenAI-compatible local server', () => {
  it('sends max_tokens for local models and works without a key', async () => {
    const fake = await startFakeOpenAI();
    try {
      fake.enqueue({ text: 'local reply', usage: { input: 12, output: 3 } });
      const local = new OpenAIAdapter({ provider: 'openai', apiKey: '', baseUrl: fake.baseUrl }, fastDeps());
      const result = await local.chat(request('llama3.1:8b'));
      assert.equal(result.text, 'local reply');
      assert.equal((fake.requests[0]!.body as Body).max_tokens, 256);
    } finally {
      await fake.close();
    }
  });

  for (const stream of [true, false]) {
    it(`a server that reports no usage (${stream ? 'ignoring stream_options.include_usage' : 'non-streaming'}): the answer is kept, its usage marked unknown with a warning`, async () => {
      const fake = await startFakeOpenAI();
      try {
        fake.enqueue({ text: 'local reply', omitUsage: true });
        const local = new OpenAIAdapter({ provider: 'openai', apiKey: '', baseUrl: fake.baseUrl }, fastDeps());
        const result = await local.chat(request('llama3.1:8b', { stream }));
        assert.equal(result.text, 'local reply');
        assert.equal(result.stopReason, 'end');
        assert.equal(result.usage, undefined, 'no guessed usage: the ledger charges the reservation, marked estimated');
        assert.equal(
          result.warning,
          `${fake.baseUrl} reported no token usage for this llama3.1:8b answer, so the call is charged at its reserved ` +
            '(estimated) cost. OpenAI-compatible servers that ignore stream_options.include_usage do this; one that ' +
            'reports usage is billed exactly.',
        );
        assert.equal(fake.generationRequests.length, 1, 'not retried');
      } finally {
        await fake.close();
      }
    });
  }

  it('a stream without usage that ends before its finish_reason is still a cut stream', async () => {
    const fake = await startFakeOpenAI();
    try {
      // role chunk + 2 deltas, then the body ends cleanly: no finish_reason, no usage.
      fake.enqueue({
        text: 'abcdefghijklmnopqrstuvwxyz0123456789',
        omitUsage: true,
        cutAfterEvents: 3,
        cutMode: 'end',
      });
      const local = new OpenAIAdapter({ provider: 'openai', apiKey: '', baseUrl: fake.baseUrl }, fastDeps());
      const err = await rejectsWith(local.chat(request('llama3.1:8b')), 'streamCut');
      assert.equal(err.partial?.text, 'abcdefghijklmnopqrstuvwx');
      assert.equal(err.mayHaveBilled, true);
    } finally {
      await fake.close();
    }
  });

  it('estimates input with the o200k tokenizer plus per-message overhead, leaning high', async () => {
    const adapter = new OpenAIAdapter({ provider: 'openai', apiKey: 'k' });
    // "hello world" is 2 o200k tokens; + 4 for the message + 3 reply priming = 9; × 1.05 = 9.45 → 10.
    const estimate = await adapter.estimateInputTokens({ model: 'gpt-4o', messages: [user('hello world')] });
    assert.deepEqual(estimate, { inputTokens: 10, method: 'tokenizer' });
  });
});
