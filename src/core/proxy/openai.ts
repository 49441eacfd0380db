import {
  normalizeOpenAIChatUsage,
  normalizeOpenAIResponsesUsage,
  type OpenAIChatUsageRaw,
  type OpenAIResponsesUsageRaw,
} from '../providers/normalize';
import type { TokenUsage } from '../usage';
import {
  collectTexts,
  isObject,
  pick,
  promptShape,
  ProxyRequestError,
  singleAnswer,
  tokenBound,
  type MeteredRequest,
  type UsageReader,
} from './wire';

/**
 * OpenAI Chat Completions (`POST /v1/chat/completions`) and Responses (`POST /v1/responses`) as the proxy meters
 * them. Chat streams report usage only when asked (`stream_options.include_usage`): the proxy asks when the client
 * did not, and drops that extra chunk (empty `choices`, a `usage`) from what the client sees. Responses streams
 * carry it in `response.completed` (or `.incomplete` / `.failed`).
 */
export function openaiChat(body: Record<string, unknown>): MeteredRequest {
  const model = requireModel(body);
  if (!Array.isArray(body.messages)) throw new ProxyRequestError('badRequest', '"messages" must be an array.');
  singleAnswer(body.n, 'n');
  const legacy = tokenBound(body, 'max_tokens');
  const current = tokenBound(body, 'max_completion_tokens');
  const fields = pick(body, ['messages', 'tools', 'functions', 'tool_choice', 'response_format', 'prediction']);
  const shape = promptShape(fields);
  collectTexts(fields, shape, chatMedia);
  shape.hasTools = (Array.isArray(body.tools) && body.tools.length > 0) || Array.isArray(body.functions);
  shape.parts = body.messages.length;
  for (const m of body.messages) if (isObject(m) && Array.isArray(m.tool_calls)) shape.parts += m.tool_calls.length;
  const stream = body.stream === true;
  let askedForUsage = false;
  return {
    provider: 'openai',
    api: 'chat.completions',
    model,
    stream,
    prompt: shape,
    promptOutside: false,
    maxOutputTokens: min(legacy, current),
    promptCaching: '5m',
    body,
    setMaxOutputTokens(n) {
      // The field the client used: OpenAI-compatible servers may know only `max_tokens`; reasoning models only the other.
      if ('max_tokens' in body && body.max_tokens !== null) body.max_tokens = n;
      if (!('max_tokens' in body) || body.max_tokens === null || 'max_completion_tokens' in body)
        body.max_completion_tokens = n;
    },
    prepare() {
      if (!stream) return { filtersEvents: false };
      const options = isObject(body.stream_options) ? body.stream_options : {};
      if (options.include_usage === true) return { filtersEvents: false };
      body.stream_options = { ...options, include_usage: true };
      askedForUsage = true;
      return { filtersEvents: true };
    },
    usageReader: () => new ChatUsage(askedForUsage),
  };
}

export function openaiResponses(body: Record<string, unknown>): MeteredRequest {
  const model = requireModel(body);
  if (body.input === undefined && body.previous_response_id === undefined && body.prompt === undefined)
    throw new ProxyRequestError('badRequest', '"input" is required.');
  const fields = pick(body, ['instructions', 'input', 'tools', 'tool_choice', 'text', 'prompt']);
  const shape = promptShape(fields);
  collectTexts(fields, shape, responsesMedia);
  shape.hasTools = Array.isArray(body.tools) && body.tools.length > 0;
  shape.parts = (Array.isArray(body.input) ? body.input.length : 1) + (body.instructions ? 1 : 0);
  return {
    provider: 'openai',
    api: 'responses',
    model,
    stream: body.stream === true,
    prompt: shape,
    // Earlier turns kept by OpenAI bill as prompt, and their size is not in this request.
    promptOutside: body.previous_response_id != null || body.conversation != null,
    maxOutputTokens: tokenBound(body, 'max_output_tokens'),
    promptCaching: '5m',
    body,
    setMaxOutputTokens(n) {
      body.max_output_tokens = n;
    },
    prepare: () => ({ filtersEvents: false }),
    usageReader: () => new ResponsesUsage(),
  };
}

function requireModel(body: Record<string, unknown>): string {
  if (typeof body.model !== 'string' || body.model.trim() === '')
    throw new ProxyRequestError('badRequest', '"model" is required: the model to call, e.g. "gpt-5-mini".');
  return body.model;
}

function min(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

function isDataUrl(v: unknown): boolean {
  return typeof v === 'string' && v.startsWith('data:');
}

function chatMedia(obj: Record<string, unknown>): 'inline' | 'referenced' | undefined {
  if (obj.type === 'image_url') {
    const image = isObject(obj.image_url) ? obj.image_url.url : obj.image_url;
    return isDataUrl(image) ? 'inline' : 'referenced';
  }
  if (obj.type === 'input_audio') return 'inline';
  if (obj.type === 'file') return isObject(obj.file) && obj.file.file_data !== undefined ? 'inline' : 'referenced';
  return undefined;
}

function responsesMedia(obj: Record<string, unknown>): 'inline' | 'referenced' | undefined {
  if (obj.type === 'input_image') return isDataUrl(obj.image_url) ? 'inline' : 'referenced';
  if (obj.type === 'input_file') return obj.file_data !== undefined ? 'inline' : 'referenced';
  if (obj.type === 'input_audio') return 'inline';
  return undefined;
}

class ChatUsage implements UsageReader {
  usage: TokenUsage | undefined;
  partialInputTokens: number | undefined;
  responseId: string | undefined;

  constructor(private readonly hideUsageChunk: boolean) {}

  // Every chunk has `"usage":null` once usage is asked for; only the last has an object.
  readonly markers = ['"usage":{', '"usage": {'];

  body(json: unknown): void {
    if (!isObject(json)) return;
    if (typeof json.id === 'string') this.responseId = json.id;
    if (isObject(json.usage)) this.usage = chatUsage(json.usage);
  }

  event(_name: string | null, data: unknown): boolean {
    if (!isObject(data)) return true;
    if (typeof data.id === 'string') this.responseId = data.id;
    if (!isObject(data.usage)) return true;
    this.usage = chatUsage(data.usage);
    // The usage chunk the client did not ask for: choices empty, usage set. Anything else in it still goes through.
    return !(this.hideUsageChunk && Array.isArray(data.choices) && data.choices.length === 0);
  }
}

class ResponsesUsage implements UsageReader {
  usage: TokenUsage | undefined;
  partialInputTokens: number | undefined;
  responseId: string | undefined;

  readonly markers = FINAL_EVENTS.map((type) => `"${type}"`);

  body(json: unknown): void {
    if (!isObject(json)) return;
    if (typeof json.id === 'string') this.responseId = json.id;
    if (isObject(json.usage)) this.usage = responsesUsage(json.usage);
  }

  event(_name: string | null, data: unknown): boolean {
    if (!isObject(data) || !isObject(data.response)) return true;
    const response = data.response;
    if (typeof response.id === 'string') this.responseId = response.id;
    const final =
      data.type === 'response.completed' || data.type === 'response.incomplete' || data.type === 'response.failed';
    if (final && isObject(response.usage)) this.usage = responsesUsage(response.usage);
    return true;
  }
}

/** The Responses stream events that carry the response's usage. */
const FINAL_EVENTS = ['response.completed', 'response.incomplete', 'response.failed'];

function chatUsage(raw: Record<string, unknown>): TokenUsage | undefined {
  try {
    return normalizeOpenAIChatUsage(raw as unknown as OpenAIChatUsageRaw);
  } catch {
    return undefined;
  }
}

function responsesUsage(raw: Record<string, unknown>): TokenUsage | undefined {
  try {
    return normalizeOpenAIResponsesUsage(raw as unknown as OpenAIResponsesUsageRaw);
  } catch {
    return undefined;
  }
}
