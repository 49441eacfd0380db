import { AgentBudgetError } from '../errors';
import type { ProviderId, TokenUsage } from '../usage';

/**
 * Pure converters from each provider's usage object to our disjoint `TokenUsage` (docs/product.md "Billing facts to get right").
 * The one rule that matters: every token lands in exactly one field, so the price of a call is a plain sum.
 * - Anthropic `input_tokens` already EXCLUDES cache reads and writes; `output_tokens` INCLUDES thinking
 *   (`output_tokens_details.thinking_tokens`), so thinking is split out of output, not added to it.
 * - OpenAI `prompt_tokens` / `input_tokens` INCLUDE `cached_tokens` and `cache_write_tokens` (GPT-5.6 and later
 *   report writes, billed at their own rate); `completion_tokens` / `output_tokens` INCLUDE `reasoning_tokens`:
 *   all are subtracted.
 * - Gemini `promptTokenCount` INCLUDES `cachedContentTokenCount`; `candidatesTokenCount` EXCLUDES
 *   `thoughtsTokenCount`; `toolUsePromptTokenCount` is extra prompt input.
 * Used by the adapters and by `agent-budget cost`, which gets a raw object from the user.
 */

/** A usage object that is not of the expected shape (`agent-budget cost` reports it as an input error). */
export class UsageShapeError extends AgentBudgetError {
  override readonly name = 'UsageShapeError';
  constructor(message: string) {
    super('input', message);
  }
}

export interface AnthropicUsageRaw {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation?: { ephemeral_5m_input_tokens?: number | null; ephemeral_1h_input_tokens?: number | null } | null;
  output_tokens_details?: { thinking_tokens?: number | null } | null;
  [key: string]: unknown;
}

export interface OpenAIChatUsageRaw {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens?: number;
  prompt_tokens_details?: {
    cached_tokens?: number | null;
    cache_write_tokens?: number | null;
    [key: string]: unknown;
  } | null;
  completion_tokens_details?: { reasoning_tokens?: number | null; [key: string]: unknown } | null;
}

export interface OpenAIResponsesUsageRaw {
  input_tokens: number;
  output_tokens: number;
  total_tokens?: number;
  input_tokens_details?: { cached_tokens?: number | null; cache_write_tokens?: number | null } | null;
  output_tokens_details?: { reasoning_tokens?: number | null } | null;
}

export interface GeminiUsageRaw {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  cachedContentTokenCount?: number;
  thoughtsTokenCount?: number;
  toolUsePromptTokenCount?: number;
  totalTokenCount?: number;
  [key: string]: unknown;
}

/** Reads a token count: absent/null is 0; anything but a non-negative integer is a shape error. */
function count(value: unknown, field: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new UsageShapeError(`"${field}" must be a non-negative integer token count, got ${JSON.stringify(value)}`);
  }
  return value;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function normalizeAnthropicUsage(raw: AnthropicUsageRaw): TokenUsage {
  const input = count(raw.input_tokens, 'input_tokens');
  const outputAll = count(raw.output_tokens, 'output_tokens');
  const cacheRead = count(raw.cache_read_input_tokens, 'cache_read_input_tokens');
  const creationTotal = count(raw.cache_creation_input_tokens, 'cache_creation_input_tokens');
  let cacheWrite5m = creationTotal;
  let cacheWrite1h = 0;
  if (isObject(raw.cache_creation)) {
    const w5 = count(raw.cache_creation.ephemeral_5m_input_tokens, 'cache_creation.ephemeral_5m_input_tokens');
    const w1 = count(raw.cache_creation.ephemeral_1h_input_tokens, 'cache_creation.ephemeral_1h_input_tokens');
    // The split should add up to the total. A split that adds up to more is inconsistent (a proxy's bug): bill
    // the total at the 5-minute rate rather than tokens that were never written. One that adds up to less
    // (a proxy reporting part of it) bills the rest as 5-minute writes rather than dropping it. Without a total,
    // the split is all there is.
    if (raw.cache_creation_input_tokens == null) {
      cacheWrite5m = w5;
      cacheWrite1h = w1;
    } else if (w5 + w1 <= creationTotal) {
      cacheWrite1h = w1;
      cacheWrite5m = creationTotal - w1;
    }
  }
  const thinking = Math.min(
    outputAll,
    isObject(raw.output_tokens_details)
      ? count(raw.output_tokens_details.thinking_tokens, 'output_tokens_details.thinking_tokens')
      : 0,
  );
  return { input, output: outputAll - thinking, cacheRead, cacheWrite5m, cacheWrite1h, reasoning: thinking };
}

/**
 * Streaming: `message_start.message.usage` has the input side; each `message_delta.usage` is CUMULATIVE, so its
 * non-null fields overwrite (never add to) what came before.
 */
export function mergeAnthropicStreamUsage(
  start: AnthropicUsageRaw | undefined,
  delta: AnthropicUsageRaw | undefined,
): AnthropicUsageRaw {
  const merged: AnthropicUsageRaw = { ...(start ?? {}) };
  for (const [key, value] of Object.entries(delta ?? {})) {
    if (value !== null && value !== undefined) merged[key] = value;
  }
  return merged;
}

export function normalizeOpenAIChatUsage(raw: OpenAIChatUsageRaw): TokenUsage {
  const details = raw.prompt_tokens_details;
  return openAIUsage(
    count(raw.prompt_tokens, 'prompt_tokens'),
    count(details?.cached_tokens, 'prompt_tokens_details.cached_tokens'),
    count(details?.cache_write_tokens, 'prompt_tokens_details.cache_write_tokens'),
    count(raw.completion_tokens, 'completion_tokens'),
    count(raw.completion_tokens_details?.reasoning_tokens, 'completion_tokens_details.reasoning_tokens'),
  );
}

export function normalizeOpenAIResponsesUsage(raw: OpenAIResponsesUsageRaw): TokenUsage {
  const details = raw.input_tokens_details;
  return openAIUsage(
    count(raw.input_tokens, 'input_tokens'),
    count(details?.cached_tokens, 'input_tokens_details.cached_tokens'),
    count(details?.cache_write_tokens, 'input_tokens_details.cache_write_tokens'),
    count(raw.output_tokens, 'output_tokens'),
    count(raw.output_tokens_details?.reasoning_tokens, 'output_tokens_details.reasoning_tokens'),
  );
}

/**
 * Both OpenAI APIs: the prompt count includes cache reads and writes, the completion count includes reasoning.
 * The parts are clamped to their whole, so a malformed report can never produce a negative input.
 */
function openAIUsage(
  prompt: number,
  cachedAll: number,
  writtenAll: number,
  completion: number,
  reasoningAll: number,
): TokenUsage {
  const cacheRead = Math.min(prompt, cachedAll);
  const written = Math.min(prompt - cacheRead, writtenAll);
  const reasoning = Math.min(completion, reasoningAll);
  return {
    input: prompt - cacheRead - written,
    output: completion - reasoning,
    cacheRead,
    // OpenAI has one write rate (30-minute retention, the default we never change): priced as `cacheWrite5m`.
    cacheWrite5m: written,
    cacheWrite1h: 0,
    reasoning,
  };
}

export function normalizeGeminiUsage(raw: GeminiUsageRaw): TokenUsage {
  const prompt = count(raw.promptTokenCount, 'promptTokenCount');
  const cached = Math.min(prompt, count(raw.cachedContentTokenCount, 'cachedContentTokenCount'));
  const toolPrompt = count(raw.toolUsePromptTokenCount, 'toolUsePromptTokenCount');
  return {
    input: prompt - cached + toolPrompt,
    output: count(raw.candidatesTokenCount, 'candidatesTokenCount'),
    cacheRead: cached,
    cacheWrite5m: 0,
    cacheWrite1h: 0,
    reasoning: count(raw.thoughtsTokenCount, 'thoughtsTokenCount'),
  };
}

export type UsageShape = 'anthropic' | 'anthropicStream' | 'openaiChat' | 'openaiResponses' | 'gemini';

/** Which provider usage shape an object is, given the provider it came from; undefined when it is none of them. */
export function detectUsageShape(provider: ProviderId, raw: unknown): UsageShape | undefined {
  if (!isObject(raw)) return undefined;
  switch (provider) {
    case 'anthropic':
      if (isObject(raw.message_start) || isObject(raw.message_delta)) return 'anthropicStream';
      return 'input_tokens' in raw || 'output_tokens' in raw || 'cache_read_input_tokens' in raw
        ? 'anthropic'
        : undefined;
    case 'openai':
      if ('prompt_tokens' in raw || 'completion_tokens' in raw) return 'openaiChat';
      if ('input_tokens' in raw || 'output_tokens' in raw) return 'openaiResponses';
      return undefined;
    case 'gemini':
      return 'promptTokenCount' in raw || 'candidatesTokenCount' in raw ? 'gemini' : undefined;
  }
}

const EXPECTED: Record<ProviderId, string> = {
  anthropic: 'an Anthropic `usage` object ({"input_tokens", "output_tokens", "cache_read_input_tokens", …})',
  openai:
    'an OpenAI `usage` object: Chat Completions ({"prompt_tokens", "completion_tokens", …}) or Responses ({"input_tokens", "output_tokens", …})',
  gemini: 'a Gemini `usageMetadata` object ({"promptTokenCount", "candidatesTokenCount", …})',
};

/**
 * Normalizes a raw usage object of any supported shape. Also accepts a whole response or stream event that wraps
 * it (`{usage: …}`, `{usageMetadata: …}`, Anthropic `{message: {usage}}`), since that is what people copy from logs.
 */
export function normalizeUsage(provider: ProviderId, raw: unknown): { usage: TokenUsage; shape: UsageShape } {
  let obj = raw;
  if (isObject(obj) && detectUsageShape(provider, obj) === undefined) {
    if (isObject(obj.usage)) obj = obj.usage;
    else if (isObject(obj.usageMetadata)) obj = obj.usageMetadata;
    else if (isObject(obj.message) && isObject(obj.message.usage)) obj = obj.message.usage;
    else if (isObject(obj.response) && isObject(obj.response.usage)) obj = obj.response.usage;
  }
  const shape = detectUsageShape(provider, obj);
  if (!shape || !isObject(obj)) {
    throw new UsageShapeError(`expected ${EXPECTED[provider]}, got ${describe(raw)}`);
  }
  switch (shape) {
    case 'anthropic':
      return { usage: normalizeAnthropicUsage(obj as AnthropicUsageRaw), shape };
    case 'anthropicStream': {
      const start = streamEventUsage(obj.message_start);
      const delta = streamEventUsage(obj.message_delta);
      // message_start's output_tokens is a placeholder and message_delta may lack the input side: pricing either
      // alone would bill the other side at $0.
      if (start?.input_tokens == null && delta?.input_tokens == null) {
        throw new UsageShapeError(
          'an Anthropic stream usage needs message_start (with its usage.input_tokens) for the input side; pass both ' +
            'events, {"message_start": …, "message_delta": …}, or the final usage object',
        );
      }
      if (delta?.output_tokens == null) {
        throw new UsageShapeError(
          'an Anthropic stream usage needs the last message_delta (with its usage.output_tokens): message_start ' +
            'only carries a placeholder output count; pass both events, or the final usage object',
        );
      }
      return { usage: normalizeAnthropicUsage(mergeAnthropicStreamUsage(start, delta)), shape };
    }
    case 'openaiChat':
      return { usage: normalizeOpenAIChatUsage(obj as unknown as OpenAIChatUsageRaw), shape };
    case 'openaiResponses':
      return { usage: normalizeOpenAIResponsesUsage(obj as unknown as OpenAIResponsesUsageRaw), shape };
    case 'gemini':
      return { usage: normalizeGeminiUsage(obj as GeminiUsageRaw), shape };
  }
}

/** A stream event's usage, however it was copied: `{message: {usage}}` (message_start), `{usage}`, or the usage itself. */
function streamEventUsage(event: unknown): AnthropicUsageRaw | undefined {
  if (!isObject(event)) return undefined;
  if (isObject(event.message) && isObject(event.message.usage)) return event.message.usage as AnthropicUsageRaw;
  if (isObject(event.usage)) return event.usage as AnthropicUsageRaw;
  return event as AnthropicUsageRaw;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (isObject(v)) {
    const keys = Object.keys(v).slice(0, 6);
    return keys.length ? `an object with keys ${keys.map((k) => `"${k}"`).join(', ')}` : 'an empty object';
  }
  return typeof v;
}
