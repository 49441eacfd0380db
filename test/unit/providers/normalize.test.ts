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
    assert.deepEqual(u, { input: 100, output: 50, cacheRead: 4000, cacheWrite5m: 1000, cacheWrite1h: 2000, reasoning: 200 });
  });

  it('Anthropic: without cache_creation every cache write is a 5-minute write', () => {
    const u = normalizeAnthropicUsage({ input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 700, cache_read_input_tokens: null });
    assert.deepEqual(u, { input: 10, output: 5, cacheRead: 0, cacheWrite5m: 700, cacheWrite1h: 0, reasoning: 0 });
  });

  it('Anthropic streaming: message_delta overwrites message_start (cumulative), null fields keep the earlier value', () => {
    const start = { input_tokens: 500, output_tokens: 1, cache_read_input_tokens: 20, cache_creation_input_tokens: 0 };
    const delta = { input_tokens: 500, output_tokens: 80, cache_read_input_tokens: null, cache_creation_input_tokens: null };
    const merged = mergeAnthropicStreamUsage(start, delta);
    assert.deepEqual(normalizeAnthropicUsage(merged), { input: 500, output: 80, cacheRead: 20, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 });
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
    assert.deepEqual(u, { input: 1030, output: 120, cacheRead: 4000, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 800 });
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
        const noWrites = { ...u, cacheWrite5m: 0, cacheWrite1h: 0 };
        assert.deepEqual(normalizeOpenAIChatUsage(chatUsage(noWrites) as never), noWrites);
        assert.deepEqual(normalizeOpenAIResponsesUsage(responsesUsage(noWrites) as never), noWrites);
        assert.deepEqual(normalizeGeminiUsage(geminiUsage(noWrites)), noWrites);
      }),
    );
  });

  it('detects Chat Completions vs Responses shapes and unwraps whole responses', () => {
    assert.equal(detectUsageShape('openai', { prompt_tokens: 1, completion_tokens: 1 }), 'openaiChat');
    assert.equal(detectUsageShape('openai', { input_tokens: 1, output_tokens: 1 }), 'openaiResponses');
    assert.equal(normalizeUsage('openai', { id: 'chatcmpl-1', usage: { prompt_tokens: 10, completion_tokens: 2 } }).shape, 'openaiChat');
    assert.equal(normalizeUsage('gemini', { usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1 } }).usage.input, 3);
    assert.equal(
      normalizeUsage('anthropic', { message_start: { message: { usage: { input_tokens: 9, output_tokens: 1 } } }, message_delta: { usage: { output_tokens: 4 } } }).usage.output,
      4,
    );
  });

  it('rejects objects of the wrong shape or with non-integer counts', () => {
    assert.throws(() => normalizeUsage('gemini', { prompt_tokens: 5 }), UsageShapeError);
    assert.throws(() => normalizeUsage('openai', [1, 2]), UsageShapeError);
    assert.throws(() => normalizeUsage('anthropic', { input_tokens: -1, output_tokens: 2 }), /non-negative integer/);
    assert.throws(() => normalizeUsage('openai', { prompt_tokens: '12', completion_tokens: 1 }), /"prompt_tokens" must be/);
  });
});
