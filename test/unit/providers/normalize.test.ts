import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  detectUsageShape,
  mergeAnthropicStreamUsage,
  normalizeAnthropicUsage,
  normalizeGeminiUsage,
  normalizeOpenAIChatUsage,
  normalizeOpenAIResponsesUsage,
  normalizeUsage,
  UsageShapeError,
} from '../../../src/core/providers/normalize';
import { totalTokens } from '../../../src/core/usage';
import { anthropicUsage, chatUsage, geminiUsage, responsesUsage } from '../../fakes';

describe('usage normalizers (no token counted twice)', () => {
  it('Anthropic: input excludes cache; cache_creation splits 5m/1h; thinking is taken out of output', () => {
    const u = normalizeAnthropicUsage({
      input_tokens: 100,
      output_tokens: 250,
      cache_read_input_tokens: 4000,
      cache_creation_input_tokens: 3000,
      cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
      output_tokens_details: { thinking_tokens: 200 },
    });
    assert.deepEqual(u, {
      input: 100,
      output: 50,
      cacheRead: 4000,
      cacheWrite5m: 1000,
      cacheWrite1h: 2000,
      reasoning: 200,
    });
  });

  it('Anthropic: without cache_creation every cache write is a 5-minute write', () => {
    const u = normalizeAnthropicUsage({
      input_tokens: 10,
      output_tokens: 5,
      cache_creation_input_tokens: 700,
      cache_read_input_tokens: null,
    });
    assert.deepEqual(u, { input: 10, output: 5, cacheRead: 0, cacheWrite5m: 700, cacheWrite1h: 0, reasoning: 0 });
  });

  it('Anthropic: a 5m/1h split that adds up to more than the total is not trusted (no over-billing)', () => {
    // 800 + 600 = 1,400 > 1,000 written: the 1,000 are billed at the (default) 5-minute rate, never 1,400.
    const over = normalizeAnthropicUsage({
      input_tokens: 10,
      output_tokens: 5,
      cache_creation_input_tokens: 1000,
      cache_creation: { ephemeral_5m_input_tokens: 800, ephemeral_1h_input_tokens: 600 },
    });
    assert.deepEqual(over, { input: 10, output: 5, cacheRead: 0, cacheWrite5m: 1000, cacheWrite1h: 0, reasoning: 0 });
    // A split that adds up to less keeps its 1-hour part; the rest is 5-minute.
    const under = normalizeAnthropicUsage({
      input_tokens: 10,
      output_tokens: 5,
      cache_creation_input_tokens: 1000,
      cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 600 },
    });
    assert.deepEqual([under.cacheWrite5m, under.cacheWrite1h], [400, 600]);
    // No total at all: the split is all there is.
    const splitOnly = normalizeAnthropicUsage({
      input_tokens: 10,
      output_tokens: 5,
      cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 600 },
    });
    assert.deepEqual([splitOnly.cacheWrite5m, splitOnly.cacheWrite1h], [100, 600]);
  });

  it('Anthropic streaming: message_delta overwrites message_start (cumulative), null fields keep the earlier value', () => {
    const start = { input_tokens: 500, output_tokens: 1, cache_read_input_tokens: 20, cache_creation_input_tokens: 0 };
    const delta = {
      input_tokens: 500,
      output_tokens: 80,
      cache_read_input_tokens: null,
      cache_creation_input_tokens: null,
    };
    const merged = mergeAnthropicStreamUsage(start, delta);
    assert.deepEqual(normalizeAnthropicUsage(merged), {
      input: 500,
      output: 80,
      cacheRead: 20,
      cacheWrite5m: 0,
      cacheWrite1h: 0,
      reasoning: 0,
    });
  });

  it('OpenAI Chat: cached_tokens out of prompt_tokens, reasoning_tokens out of completion_tokens', () => {
    const u = normalizeOpenAIChatUsage({
      prompt_tokens: 2000,
      completion_tokens: 900,
      prompt_tokens_details: { cached_tokens: 1536 },
      completion_tokens_details: { reasoning_tokens: 640 },
    });
    assert.deepEqual(u, { input: 464, output: 260, cacheRead: 1536, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 640 });
  });

  it('OpenAI: cache_write_tokens (inside prompt_tokens / input_tokens) are cache writes, taken out of input', () => {
    // 5,000 prompt tokens = 1,000 uncached + 1,500 read + 2,500 written.
    const chat = normalizeOpenAIChatUsage({
      prompt_tokens: 5000,
      completion_tokens: 100,
      prompt_tokens_details: { cached_tokens: 1500, cache_write_tokens: 2500 },
    });
    assert.deepEqual(chat, {
      input: 1000,
      output: 100,
      cacheRead: 1500,
      cacheWrite5m: 2500,
      cacheWrite1h: 0,
      reasoning: 0,
    });
    const responses = normalizeOpenAIResponsesUsage({
      input_tokens: 5000,
      output_tokens: 100,
      input_tokens_details: { cached_tokens: 1500, cache_write_tokens: 2500 },
    });
    assert.deepEqual(responses, chat);
    // A malformed report never drives input below zero: the parts are clamped to the whole.
    const bad = normalizeOpenAIChatUsage({
      prompt_tokens: 100,
      completion_tokens: 1,
      prompt_tokens_details: { cached_tokens: 60, cache_write_tokens: 90 },
    });
    assert.deepEqual([bad.input, bad.cacheRead, bad.cacheWrite5m], [0, 60, 40]);
  });

  it('OpenAI Responses: the same subtraction on input_tokens / output_tokens', () => {
    const u = normalizeOpenAIResponsesUsage({
      input_tokens: 1200,
      output_tokens: 300,
      input_tokens_details: { cached_tokens: 1024 },
      output_tokens_details: { reasoning_tokens: 256 },
    });
    assert.deepEqual(u, { input: 176, output: 44, cacheRead: 1024, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 256 });
  });

  it('Gemini: cached content out of the prompt, thoughts added beside candidates, tool-use prompt is input', () => {
    const u = normalizeGeminiUsage({
      promptTokenCount: 5000,
      cachedContentTokenCount: 4000,
      candidatesTokenCount: 120,
      thoughtsTokenCount: 800,
      toolUsePromptTokenCount: 30,
      totalTokenCount: 5950,
    });
    assert.deepEqual(u, {
      input: 1030,
      output: 120,
      cacheRead: 4000,
      cacheWrite5m: 0,
      cacheWrite1h: 0,
      reasoning: 800,
    });
    // Gemini's own total agrees with ours: nothing dropped, nothing doubled.
    assert.equal(totalTokens(u), 5950);
  });

  it('round-trips every provider shape the fakes produce (property)', () => {
    const kinds = fc.record({
      input: fc.nat(1e6),
      output: fc.nat(1e5),
      cacheRead: fc.nat(1e6),
      cacheWrite5m: fc.nat(1e5),
      cacheWrite1h: fc.nat(1e5),
      reasoning: fc.nat(1e5),
    });
    fc.assert(
      fc.property(kinds, (generated) => {
        const u = { ...generated }; // fast-check records have a null prototype
        assert.deepEqual(normalizeAnthropicUsage(anthropicUsage(u)), u);
        const oneWriteRate = { ...u, cacheWrite1h: 0 };
        assert.deepEqual(normalizeOpenAIChatUsage(chatUsage(oneWriteRate) as never), oneWriteRate);
        assert.deepEqual(normalizeOpenAIResponsesUsage(responsesUsage(oneWriteRate) as never), oneWriteRate);
        const noWrites = { ...u, cacheWrite5m: 0, cacheWrite1h: 0 };
        assert.deepEqual(normalizeGeminiUsage(geminiUsage(noWrites)), noWrites);
      }),
    );
  });

  it('detects Chat Completions vs Responses shapes and unwraps whole responses', () => {
    assert.equal(detectUsageShape('openai', { prompt_tokens: 1, completion_tokens: 1 }), 'openaiChat');
    assert.equal(detectUsageShape('openai', { input_tokens: 1, output_tokens: 1 }), 'openaiResponses');
    assert.equal(
      normalizeUsage('openai', { id: 'chatcmpl-1', usage: { prompt_tokens: 10, completion_tokens: 2 } }).shape,
      'openaiChat',
    );
    assert.equal(
      normalizeUsage('gemini', { usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1 } }).usage.input,
      3,
    );
    assert.equal(
      normalizeUsage('anthropic', {
        message_start: { message: { usage: { input_tokens: 9, output_tokens: 1 } } },
        message_delta: { usage: { output_tokens: 4 } },
      }).usage.output,
      4,
    );
  });

  it('Anthropic stream objects: each event is unwrapped however it was copied', () => {
    // `{message_start: {usage}}` (the usage without its `message`) must not read as input 0.
    const { usage } = normalizeUsage('anthropic', {
      message_start: { usage: { input_tokens: 100_000, output_tokens: 1, cache_read_input_tokens: 20 } },
      message_delta: { usage: { output_tokens: 300 } },
    });
    assert.deepEqual(usage, {
      input: 100_000,
      output: 300,
      cacheRead: 20,
      cacheWrite5m: 0,
      cacheWrite1h: 0,
      reasoning: 0,
    });
    // The bare usage objects as event values work too.
    assert.equal(
      normalizeUsage('anthropic', {
        message_start: { input_tokens: 7, output_tokens: 1 },
        message_delta: { output_tokens: 3 },
      }).usage.input,
      7,
    );
  });

  it('Anthropic stream objects missing a side are rejected, not priced at $0 for it', () => {
    // message_start alone: its output_tokens is a placeholder (1), the real count is in message_delta.
    assert.throws(
      () =>
        normalizeUsage('anthropic', { message_start: { message: { usage: { input_tokens: 100, output_tokens: 1 } } } }),
      (e: unknown) => e instanceof UsageShapeError && /message_delta/.test(e.message),
    );
    // message_delta alone (no input_tokens in it): no input side.
    assert.throws(
      () => normalizeUsage('anthropic', { message_delta: { usage: { output_tokens: 40 } } }),
      (e: unknown) => e instanceof UsageShapeError && /message_start/.test(e.message),
    );
    // A message_delta that carries input_tokens (newer API versions send them cumulatively) has both sides.
    assert.equal(
      normalizeUsage('anthropic', { message_delta: { usage: { input_tokens: 12, output_tokens: 40 } } }).usage.input,
      12,
    );
  });

  it('rejects objects of the wrong shape or with non-integer counts', () => {
    assert.throws(() => normalizeUsage('gemini', { prompt_tokens: 5 }), UsageShapeError);
    assert.throws(() => normalizeUsage('openai', [1, 2]), UsageShapeError);
    assert.throws(() => normalizeUsage('anthropic', { input_tokens: -1, output_tokens: 2 }), /non-negative integer/);
    assert.throws(
      () => normalizeUsage('openai', { prompt_tokens: '12', completion_tokens: 1 }),
      /"prompt_tokens" must be/,
    );
  });
});
