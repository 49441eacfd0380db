// Prompt caching on the wire: what each adapter asks for (Anthropic cache_control, OpenAI prompt_cache_key), and
// what the fake servers bill back the providers' way (prefix hashes, minimums, lives on an injectable clock, the
// write premium and reads in each provider's own usage fields) — the ground the runner's tests and the cost
// benchmark stand on.
import assert from 'node:assert/strict';
import { AnthropicAdapter } from '../../../src/core/providers/anthropic';
import { GeminiAdapter } from '../../../src/core/providers/gemini';
import { OpenAIAdapter } from '../../../src/core/providers/openai';
import type { ChatRequest, PromptCacheRequest } from '../../../src/core/providers/types';
import { startFakeAnthropic, startFakeGemini, startFakeOpenAI } from '../../fakes';
import { fastDeps, READ_FILE_TOOL } from './helpers';
import { prose } from '../../support/prose';

const MINUTE = 60_000;

function clock(): { now: () => number; advance(ms: number): void } {
  let t = Date.UTC(2026, 11, 3, 12);
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('prompt caching on the wire and in the fakes', function () {
  this.timeout(20_000);

  describe('Anthropic', () => {
    const time = clock();
    let fake: Awaited<ReturnType<typeof startFakeAnthropic>>;
    let adapter: AnthropicAdapter;
    beforeEach(async () => {
      fake = await startFakeAnthropic({ now: time.now });
      adapter = new AnthropicAdapter({ provider: 'anthropic', apiKey: 'k', baseUrl: fake.baseUrl }, fastDeps());
    });
    afterEach(() => fake.close());

    const SYSTEM = prose(1_500, 's');
    const request = (cache?: PromptCacheRequest, question = 'What does it say?'): ChatRequest => ({
      model: 'claude-sonnet-5',
      maxOutputTokens: 100,
      system: SYSTEM,
      tools: [READ_FILE_TOOL],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: prose(2_000, 'f') },
            { type: 'text', text: question },
          ],
        },
      ],
      ...(cache ? { cache } : {}),
    });

    it('puts cache_control where the request asks: the last tool, the system prompt as a block, a message part', async () => {
      await adapter.chat(
        request({
          ttl: '1h',
          breakpoints: [{ after: 'tools' }, { after: 'system' }, { after: 'message', index: 0, part: 0 }],
        }),
      );
      const body = fake.generationRequests[0]!.body as {
        tools: Array<{ cache_control?: unknown }>;
        system: Array<{ type: string; text: string; cache_control?: unknown }>;
        messages: Array<{ content: Array<{ cache_control?: unknown }> }>;
      };
      assert.deepEqual(body.tools.at(-1)!.cache_control, { type: 'ephemeral', ttl: '1h' });
      assert.deepEqual(body.system, [{ type: 'text', text: SYSTEM, cache_control: { type: 'ephemeral', ttl: '1h' } }]);
      assert.deepEqual(body.messages[0]!.content[0]!.cache_control, { type: 'ephemeral', ttl: '1h' });
      assert.equal(body.messages[0]!.content[1]!.cache_control, undefined);
      // Without a cache request the body is as before: a plain system string, no cache_control anywhere.
      await adapter.chat(request());
      const plain = fake.generationRequests[1]!.body as Record<string, unknown>;
      assert.equal(typeof plain.system, 'string');
      assert.doesNotMatch(JSON.stringify(plain), /cache_control/);
    });

    it('writes a prefix at the 1.25× kind, reads it back on the next call, and lets it expire after five minutes', async () => {
      const cache: PromptCacheRequest = {
        ttl: '5m',
        breakpoints: [{ after: 'system' }, { after: 'message', index: 0, part: 0 }],
      };
      const first = await adapter.chat(request(cache));
      assert.equal(first.usage!.cacheRead, 0);
      assert.ok(
        first.usage!.cacheWrite5m > 3_000,
        `wrote the system prompt and the document: ${first.usage!.cacheWrite5m}`,
      );
      assert.equal(first.usage!.cacheWrite1h, 0);
      const raw = (first.usageRaw as { message_delta: Record<string, unknown> }).message_delta;
      assert.equal(raw.cache_creation_input_tokens, first.usage!.cacheWrite5m, 'reported in Anthropic’s own field');

      time.advance(4 * MINUTE);
      const second = await adapter.chat(request(cache, 'And the second point?'));
      assert.equal(second.usage!.cacheRead, first.usage!.cacheWrite5m, 'the whole prefix is read');
      assert.equal(second.usage!.cacheWrite5m, 0);
      assert.ok(second.usage!.input < 50, 'only the new question is billed as input');
      // A read renews the life: four more minutes later it still hits; six after that it is gone.
      time.advance(4 * MINUTE);
      assert.equal((await adapter.chat(request(cache))).usage!.cacheRead, first.usage!.cacheWrite5m);
      time.advance(6 * MINUTE);
      const expired = await adapter.chat(request(cache));
      assert.equal(expired.usage!.cacheRead, 0);
      assert.equal(expired.usage!.cacheWrite5m, first.usage!.cacheWrite5m);
    });

    it('a one-hour breakpoint is billed as a 1-hour write and lives past five minutes', async () => {
      const cache: PromptCacheRequest = { ttl: '1h', breakpoints: [{ after: 'system' }] };
      const first = await adapter.chat(request(cache));
      assert.ok(first.usage!.cacheWrite1h > 1_000);
      assert.equal(first.usage!.cacheWrite5m, 0);
      time.advance(50 * MINUTE);
      assert.equal((await adapter.chat(request(cache))).usage!.cacheRead, first.usage!.cacheWrite1h);
    });

    it('below the model’s minimum nothing is written or read, and the prompt bills as input', async () => {
      // claude-haiku-4-5 caches from 4,096 tokens; this prefix is about 3,500.
      const small = { ...request({ ttl: '5m', breakpoints: [{ after: 'system' }, { after: 'message', index: 0 }] }) };
      small.model = 'claude-haiku-4-5';
      const a = await adapter.chat(small);
      const b = await adapter.chat(small);
      for (const u of [a.usage!, b.usage!]) assert.deepEqual([u.cacheRead, u.cacheWrite5m, u.cacheWrite1h], [0, 0, 0]);
      assert.equal(b.usage!.input, a.usage!.input);
      // The same prefix on claude-sonnet-5 (1,024 minimum) is cached: a cache is per model, too.
      const sonnet = await adapter.chat({ ...small, model: 'claude-sonnet-5' });
      assert.ok(sonnet.usage!.cacheWrite5m > 0);
      assert.equal(sonnet.usage!.cacheRead, 0);
    });

    it('a breakpoint finds a prefix cached up to 20 blocks before it, and five breakpoints are refused as the API does', async () => {
      const turns = (n: number): ChatRequest['messages'] => {
        const out: ChatRequest['messages'] = [{ role: 'user', content: [{ type: 'text', text: prose(1_200, 'q') }] }];
        for (let i = 0; i < n; i++) {
          out.push({
            role: 'assistant',
            content: [{ type: 'toolCall', id: `t${i}`, name: 'readFile', input: { path: `f${i}` } }],
          });
          out.push({
            role: 'user',
            content: [{ type: 'toolResult', callId: `t${i}`, name: 'readFile', content: prose(100, `r${i}`) }],
          });
        }
        return out;
      };
      const base = { model: 'claude-sonnet-5', maxOutputTokens: 50, tools: [READ_FILE_TOOL] };
      const first = await adapter.chat({
        ...base,
        messages: turns(2),
        cache: { ttl: '5m', breakpoints: [{ after: 'message', index: 4 }] },
      });
      // Two turns later (4 blocks on) the new last-message breakpoint reads what the previous one wrote.
      const next = await adapter.chat({
        ...base,
        messages: turns(4),
        cache: { ttl: '5m', breakpoints: [{ after: 'message', index: 8 }] },
      });
      assert.equal(next.usage!.cacheRead, first.usage!.cacheWrite5m);
      // Eleven turns later (22 blocks on) it is out of reach: a fresh write.
      const far = await adapter.chat({
        ...base,
        messages: turns(15),
        cache: { ttl: '5m', breakpoints: [{ after: 'message', index: 30 }] },
      });
      assert.equal(far.usage!.cacheRead, 0);
      await assert.rejects(
        adapter.chat({
          ...base,
          messages: turns(2),
          cache: {
            ttl: '5m',
            breakpoints: [
              { after: 'tools' },
              { after: 'message', index: 0 },
              { after: 'message', index: 1 },
              { after: 'message', index: 2 },
              { after: 'message', index: 3 },
            ],
          },
        }),
        /maximum of 4 blocks with cache_control/,
      );
    });

    it('count_tokens answers what the prompt will bill', async () => {
      const r = request();
      const counted = await adapter.estimateInputTokens(r);
      const billed = await adapter.chat(r);
      assert.equal(counted.method, 'endpoint');
      assert.equal(counted.inputTokens, Math.ceil(billed.usage!.input * 1.02));
    });
  });

  describe('OpenAI', () => {
    const time = clock();
    let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
    beforeEach(async () => {
      fake = await startFakeOpenAI({ now: time.now });
    });
    afterEach(() => fake.close());

    for (const api of ['chat', 'responses'] as const) {
      it(`${api}: sends prompt_cache_key and caches prefixes of 1,024 tokens and more by itself, in steps of 128`, async () => {
        const adapter = new OpenAIAdapter({ provider: 'openai', apiKey: 'k', baseUrl: fake.baseUrl, api }, fastDeps());
        const req = (question: string, key?: string): ChatRequest => ({
          model: 'gpt-4.1-mini',
          maxOutputTokens: 50,
          system: prose(900, 's'),
          messages: [{ role: 'user', content: [{ type: 'text', text: `${prose(900, 'd')}\n${question}` }] }],
          ...(key ? { cache: { ttl: '5m', breakpoints: [], key } } : {}),
        });
        const first = await adapter.chat(req('first?', 'run-1'));
        assert.equal((fake.generationRequests[0]!.body as { prompt_cache_key?: string }).prompt_cache_key, 'run-1');
        assert.equal(first.usage!.cacheRead, 0);
        const again = await adapter.chat(req('second?', 'run-1'));
        assert.ok(again.usage!.cacheRead >= 1_024, `read ${again.usage!.cacheRead}`);
        assert.equal(again.usage!.cacheRead % 128, 0);
        assert.equal(again.usage!.cacheWrite5m, 0, 'gpt-4.1-mini reports no writes');
        // Another key is another cache.
        assert.equal((await adapter.chat(req('third?', 'run-2'))).usage!.cacheRead, 0);
        // The prompt's tokens are o200k's: the adapter's own tokenizer estimate is within its 5 % margin.
        const estimate = await adapter.estimateInputTokens(req('fourth?'));
        const billed = await adapter.chat(req('fourth?'));
        const prompt = billed.usage!.input + billed.usage!.cacheRead;
        assert.ok(
          estimate.inputTokens >= prompt && estimate.inputTokens <= Math.ceil(prompt * 1.06),
          `${estimate.inputTokens} vs ${prompt}`,
        );
      });
    }

    it('GPT-5.6 and later report cache writes; below 1,024 tokens nothing is cached', async () => {
      const adapter = new OpenAIAdapter({ provider: 'openai', apiKey: 'k', baseUrl: fake.baseUrl }, fastDeps());
      const big: ChatRequest = {
        model: 'gpt-6.2-sol',
        maxOutputTokens: 50,
        messages: [{ role: 'user', content: [{ type: 'text', text: prose(3_000, 'big') }] }],
      };
      const first = await adapter.chat(big);
      assert.ok(first.usage!.cacheWrite5m >= 1_024);
      const raw = first.usageRaw as { prompt_tokens_details: { cache_write_tokens: number } };
      assert.equal(raw.prompt_tokens_details.cache_write_tokens, first.usage!.cacheWrite5m);
      time.advance(6 * MINUTE);
      assert.equal((await adapter.chat(big)).usage!.cacheRead, 0, 'expired after five idle minutes');
      const small: ChatRequest = {
        ...big,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'hello there' }] }],
      };
      await adapter.chat(small);
      const u = (await adapter.chat(small)).usage!;
      assert.deepEqual([u.cacheRead, u.cacheWrite5m], [0, 0]);
    });
  });

  describe('Gemini', () => {
    it('caches implicitly from the model’s minimum, with no write charge', async () => {
      const time = clock();
      const fake = await startFakeGemini({ now: time.now });
      try {
        const adapter = new GeminiAdapter({ provider: 'gemini', apiKey: 'k', baseUrl: fake.baseUrl }, fastDeps());
        const req = (question: string, size: number): ChatRequest => ({
          model: 'gemini-2.5-flash',
          maxOutputTokens: 50,
          system: 'You answer briefly.',
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: prose(size, 'g') },
                { type: 'text', text: question },
              ],
            },
          ],
        });
        const first = await adapter.chat(req('one?', 3_000));
        assert.deepEqual([first.usage!.cacheRead, first.usage!.cacheWrite5m], [0, 0]);
        const second = await adapter.chat(req('two?', 3_000));
        assert.ok(second.usage!.cacheRead > 2_048, `read ${second.usage!.cacheRead}`);
        assert.equal(second.usage!.cacheWrite5m, 0);
        assert.equal(
          (second.usageRaw as { cachedContentTokenCount?: number }).cachedContentTokenCount,
          second.usage!.cacheRead,
        );
        // Under gemini-2.5-flash's 2,048-token minimum nothing is cached.
        await adapter.chat(req('three?', 500));
        assert.equal((await adapter.chat(req('four?', 500))).usage!.cacheRead, 0);
      } finally {
        await fake.close();
      }
    });
  });
});
