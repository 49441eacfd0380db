import { withEndpointMargin } from '../providers/estimate';
import { mergeAnthropicStreamUsage, normalizeAnthropicUsage, type AnthropicUsageRaw } from '../providers/normalize';
import type { TokenUsage } from '../usage';
import {
  collectTexts,
  isObject,
  pick,
  promptShape,
  ProxyRequestError,
  tokenBound,
  type MeteredRequest,
  type UsageReader,
} from './wire';

/**
 * Anthropic Messages (`POST /v1/messages`) as the proxy meters it: the prompt is `system`, `messages` and `tools`;
 * the output bound is `max_tokens` (required by the API); usage is `usage` of the message, or in a stream
 * `message_start.message.usage` (the input side) overwritten field by field by each `message_delta.usage`
 * (cumulative, never added).
 */
export function anthropicMessages(body: Record<string, unknown>): MeteredRequest {
  const model = body.model;
  if (typeof model !== 'string' || model.trim() === '')
    throw new ProxyRequestError('badRequest', '"model" is required: the model to call, e.g. "claude-haiku-4-5".');
  if (!Array.isArray(body.messages)) throw new ProxyRequestError('badRequest', '"messages" must be an array.');
  const maxTokens = tokenBound(body, 'max_tokens');
  const fields = pick(body, ['system', 'messages', 'tools', 'tool_choice']);
  const json = JSON.stringify(fields);
  const shape = promptShape(fields);
  collectTexts(fields, shape, mediaKind);
  shape.hasTools = Array.isArray(body.tools) && body.tools.length > 0;
  shape.parts = body.messages.length + (body.system ? 1 : 0);
  for (const m of body.messages)
    if (isObject(m) && Array.isArray(m.content))
      for (const block of m.content)
        if (isObject(block) && (block.type === 'tool_use' || block.type === 'tool_result')) shape.parts += 1;
  // A prompt marked for caching is written at 1.25× input (5 minutes) or 2× (1 hour): the worst case must use it.
  const promptCaching = !json.includes('"cache_control"') ? 'none' : /"ttl":"1h"/.test(json) ? '1h' : '5m';
  return {
    provider: 'anthropic',
    api: 'messages',
    model,
    stream: body.stream === true,
    prompt: shape,
    promptOutside: false,
    maxOutputTokens: maxTokens,
    promptCaching,
    body,
    setMaxOutputTokens(n) {
      body.max_tokens = n;
    },
    prepare: () => ({ filtersEvents: false }),
    usageReader: () => new AnthropicUsage(),
    countRequest: () => ({
      path: '/v1/messages/count_tokens',
      body: { model, ...pick(body, ['system', 'messages', 'tools', 'tool_choice', 'thinking']) },
      read: (json) =>
        isObject(json) && typeof json.input_tokens === 'number' ? withEndpointMargin(json.input_tokens) : undefined,
    }),
  };
}

/** Images and documents: inline when their source is base64 data, referenced by URL or file id otherwise. */
function mediaKind(obj: Record<string, unknown>): 'inline' | 'referenced' | undefined {
  if (obj.type !== 'image' && obj.type !== 'document') return undefined;
  const source = isObject(obj.source) ? obj.source : undefined;
  if (source?.type === 'base64') return 'inline';
  // A plain-text or content-block document is text the tokenizer reads.
  if (source?.type === 'text' || source?.type === 'content') return undefined;
  return 'referenced';
}

class AnthropicUsage implements UsageReader {
  private start: AnthropicUsageRaw | undefined;
  usage: TokenUsage | undefined;
  partialInputTokens: number | undefined;
  responseId: string | undefined;

  body(json: unknown): void {
    if (!isObject(json)) return;
    if (typeof json.id === 'string') this.responseId = json.id;
    if (isObject(json.usage)) this.usage = normalized(json.usage as AnthropicUsageRaw);
  }

  // One marker, so a long answer is searched once per chunk: it also finds message_stop (a parse, nothing more).
  readonly markers = ['"message_'];

  event(_name: string | null, data: unknown): boolean {
    if (!isObject(data)) return true;
    if (data.type === 'message_start' && isObject(data.message)) {
      const message = data.message;
      if (typeof message.id === 'string') this.responseId = message.id;
      if (isObject(message.usage)) {
        this.start = message.usage as AnthropicUsageRaw;
        const u = normalized(this.start);
        if (u) this.partialInputTokens = u.input + u.cacheRead + u.cacheWrite5m + u.cacheWrite1h;
      }
    } else if (data.type === 'message_delta' && isObject(data.usage)) {
      this.usage = normalized(mergeAnthropicStreamUsage(this.start, data.usage as AnthropicUsageRaw));
    }
    return true;
  }
}

/** A usage object that does not parse is no usage (the call is then charged at its reservation). */
function normalized(raw: AnthropicUsageRaw): TokenUsage | undefined {
  try {
    return normalizeAnthropicUsage(raw);
  } catch {
    return undefined;
  }
}
