import Anthropic, { APIConnectionError, APIConnectionTimeoutError, APIError } from '@anthropic-ai/sdk';
import type {
  ContentBlock,
  ContentBlockParam,
  MessageCreateParamsBase,
  MessageParam,
  RawMessageStreamEvent,
  StopReason as AnthropicStopReason,
} from '@anthropic-ai/sdk/resources/messages';
import {
  ProviderAdapterBase,
  SDK_TIMEOUT_MS,
  StreamEndedEarly,
  parseToolInput,
  type AdapterDeps,
  type AttemptResult,
  type SdkErrorFacts,
  type StreamProgress,
} from './adapter';
import {
  kindForStatus,
  looksLikeContextLength,
  networkCodeOf,
  parseRetryAfter,
  type ProviderErrorKind,
} from './errors';
import { withEndpointMargin, type EstimateInput } from './estimate';
import { mergeAnthropicStreamUsage, normalizeAnthropicUsage, type AnthropicUsageRaw } from './normalize';
import type { AttemptGuard } from './retry';
import { OFFICIAL_BASE_URLS } from '../trust/origins';
import type {
  CacheBreakpoint,
  ChatMessage,
  ChatRequest,
  ContentPart,
  PromptCacheRequest,
  ProviderConfig,
  StopReason,
  TokenEstimate,
  ToolCall,
} from './types';

export const ANTHROPIC_DEFAULT_BASE_URL = OFFICIAL_BASE_URLS.anthropic;

/**
 * Claude through @anthropic-ai/sdk's Messages API. Streaming reads the raw SSE events (not the SDK's
 * MessageStream helper) so that usage is taken exactly as billed: input and cache counts from `message_start`,
 * then each cumulative `message_delta.usage` overwriting them.
 */
export class AnthropicAdapter extends ProviderAdapterBase {
  readonly provider = 'anthropic' as const;
  private readonly client: Anthropic;

  constructor(config: ProviderConfig, deps?: AdapterDeps) {
    super(config, deps);
    this.client = new Anthropic({
      apiKey: config.apiKey,
      // Everything the SDK would otherwise read from the environment is explicit: the adapter's behaviour depends on
      // its config only (the front ends decide the endpoint: trust/origins.ts). `authToken: null` keeps an
      // ANTHROPIC_AUTH_TOKEN meant for another tool from riding along as a bearer token; ANTHROPIC_BASE_URL and
      // ANTHROPIC_LOG (debug logs print requests) are not read. (ANTHROPIC_CUSTOM_HEADERS is still merged in by the
      // SDK, to the endpoint chosen here only.)
      authToken: null,
      webhookKey: null,
      baseURL: config.baseUrl ?? ANTHROPIC_DEFAULT_BASE_URL,
      logLevel: 'warn',
      maxRetries: 0,
      timeout: SDK_TIMEOUT_MS,
      defaultHeaders: config.headers,
    });
  }

  private params(request: EstimateInput & { maxOutputTokens?: number }): MessageCreateParamsBase {
    const cache = request.cache;
    const mark = (after: CacheBreakpoint['after']) =>
      cache?.breakpoints.some((b) => b.after === after) ? { cache_control: cacheControl(cache) } : {};
    const tools = request.tools ?? [];
    const systemMark = mark('system');
    return {
      model: request.model,
      max_tokens: request.maxOutputTokens ?? 1,
      messages: toAnthropicMessages(request.messages, cache),
      // A system prompt with a breakpoint is sent as a block, the only form that can carry one.
      ...(request.system
        ? {
            system:
              'cache_control' in systemMark ? [{ type: 'text', text: request.system, ...systemMark }] : request.system,
          }
        : {}),
      ...(tools.length
        ? {
            tools: tools.map((t, i) => ({
              name: t.name,
              description: t.description,
              input_schema: t.inputSchema as never,
              ...(i === tools.length - 1 ? mark('tools') : {}),
            })),
          }
        : {}),
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
    };
  }

  /** This attempt's client: the same settings with the guard's fetch, which knows whether the request left. */
  private clientFor(guard: AttemptGuard): Anthropic {
    return this.client.withOptions({ fetch: guard.fetch });
  }

  protected async streamOnce(
    request: ChatRequest,
    guard: AttemptGuard,
    progress: StreamProgress,
  ): Promise<AttemptResult> {
    const { data: stream, response } = await this.clientFor(guard)
      .messages.create(
        { ...this.params(request), stream: true },
        { signal: guard.signal, timeout: SDK_TIMEOUT_MS, maxRetries: 0 },
      )
      .withResponse();
    guard.touch();
    const requestId = response.headers.get('request-id') ?? undefined;
    const blocks = new Map<
      number,
      { type: string; text: string; id?: string; name?: string; signature?: string; data?: string }
    >();
    let startUsage: AnthropicUsageRaw | undefined;
    let deltaUsage: AnthropicUsageRaw | undefined;
    let stop: AnthropicStopReason | null = null;
    let model: string | undefined;
    let messageId: string | undefined;

    for await (const event of stream as AsyncIterable<RawMessageStreamEvent>) {
      guard.touch();
      progress.started = true;
      switch (event.type) {
        case 'message_start':
          startUsage = event.message.usage as unknown as AnthropicUsageRaw;
          model = event.message.model;
          messageId = event.message.id;
          // Until message_delta, only the input side is known (output_tokens here is a placeholder).
          {
            const u = normalizeAnthropicUsage({ ...startUsage, output_tokens: 0, output_tokens_details: null });
            progress.usage = {
              input: u.input,
              cacheRead: u.cacheRead,
              cacheWrite5m: u.cacheWrite5m,
              cacheWrite1h: u.cacheWrite1h,
            };
          }
          progress.usageRaw = { message_start: startUsage };
          break;
        case 'content_block_start': {
          const b = event.content_block;
          if (b.type === 'text') blocks.set(event.index, { type: 'text', text: b.text ?? '' });
          else if (b.type === 'tool_use')
            blocks.set(event.index, { type: 'tool_use', text: '', id: b.id, name: b.name });
          else if (b.type === 'thinking')
            blocks.set(event.index, { type: 'thinking', text: b.thinking ?? '', signature: b.signature });
          else if (b.type === 'redacted_thinking')
            blocks.set(event.index, { type: 'redacted_thinking', text: '', data: b.data });
          break;
        }
        case 'content_block_delta': {
          const block = blocks.get(event.index);
          if (!block) break;
          const d = event.delta;
          if (d.type === 'text_delta') {
            block.text += d.text;
            progress.text += d.text;
            request.onText?.(d.text);
          } else if (d.type === 'input_json_delta') {
            block.text += d.partial_json;
            progress.otherOutputBytes += Buffer.byteLength(d.partial_json, 'utf8');
          } else if (d.type === 'thinking_delta') {
            // Thinking bills as output: a cut during it is charged for what streamed of it too.
            block.text += d.thinking;
            progress.otherOutputBytes += Buffer.byteLength(d.thinking, 'utf8');
          } else if (d.type === 'signature_delta') block.signature = (block.signature ?? '') + d.signature;
          break;
        }
        case 'content_block_stop': {
          const block = blocks.get(event.index);
          if (block?.type === 'tool_use')
            progress.toolCalls.push({ id: block.id!, name: block.name!, input: parseToolInput(block.text) });
          break;
        }
        case 'message_delta':
          stop = event.delta.stop_reason;
          deltaUsage = event.usage as unknown as AnthropicUsageRaw;
          progress.usage = normalizeAnthropicUsage(mergeAnthropicStreamUsage(startUsage, deltaUsage));
          progress.usageRaw = { message_start: startUsage, message_delta: deltaUsage };
          break;
        case 'message_stop':
          progress.finished = true;
          break;
      }
    }
    if (!progress.finished || !deltaUsage) throw new StreamEndedEarly();

    const content: ContentPart[] = [];
    for (const index of [...blocks.keys()].sort((a, b) => a - b)) {
      const b = blocks.get(index)!;
      if (b.type === 'text' && b.text) content.push({ type: 'text', text: b.text });
      else if (b.type === 'tool_use')
        content.push({ type: 'toolCall', id: b.id!, name: b.name!, input: parseToolInput(b.text) });
      else if (b.type === 'thinking')
        content.push({ type: 'thinking', text: b.text, ...(b.signature ? { signature: b.signature } : {}) });
      else if (b.type === 'redacted_thinking') content.push({ type: 'thinking', text: '', redacted: b.data });
    }
    const usageRaw = { message_start: startUsage, message_delta: deltaUsage };
    return this.finish(
      request,
      content,
      stop,
      normalizeAnthropicUsage(mergeAnthropicStreamUsage(startUsage, deltaUsage)),
      usageRaw,
      requestId ?? messageId,
      model,
    );
  }

  protected async callOnce(request: ChatRequest, guard: AttemptGuard): Promise<AttemptResult> {
    const { data: message, response } = await this.clientFor(guard)
      .messages.create(
        { ...this.params(request), stream: false },
        { signal: guard.signal, timeout: SDK_TIMEOUT_MS, maxRetries: 0 },
      )
      .withResponse();
    const content = fromAnthropicContent(message.content);
    const text = content.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join('');
    if (text) request.onText?.(text);
    const usageRaw = message.usage as unknown as AnthropicUsageRaw;
    return this.finish(
      request,
      content,
      message.stop_reason,
      normalizeAnthropicUsage(usageRaw),
      usageRaw,
      response.headers.get('request-id') ?? message.id,
      message.model,
    );
  }

  private finish(
    request: ChatRequest,
    content: ContentPart[],
    stop: AnthropicStopReason | null,
    usage: ReturnType<typeof normalizeAnthropicUsage>,
    usageRaw: unknown,
    requestId: string | undefined,
    responseModel: string | undefined,
  ): AttemptResult {
    const text = content.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join('');
    const toolCalls: ToolCall[] = content.flatMap((p) =>
      p.type === 'toolCall' ? [{ id: p.id, name: p.name, input: p.input }] : [],
    );
    if (stop === 'refusal') {
      // The call completed and is billed in full: the error carries the final usage so it is charged exactly.
      throw this.error({ kind: 'refused', requestId }, request, undefined, {
        text,
        toolCalls,
        usage,
        usageRaw,
        usageFinal: true,
      });
    }
    return {
      message: { role: 'assistant', content },
      text,
      toolCalls,
      stopReason: mapStop(stop),
      usage,
      usageRaw,
      requestId,
      responseModel,
    };
  }

  protected readSdkError(err: unknown): SdkErrorFacts {
    if (err instanceof APIConnectionTimeoutError) return { kind: 'timeout' };
    if (err instanceof APIConnectionError) return { kind: 'network', networkCode: networkCodeOf(err) };
    if (err instanceof APIError) {
      const apiMessage = err.apiMessage ?? undefined;
      const type = err.type ?? undefined;
      const retryAfterMs = err.headers ? parseRetryAfter((h) => err.headers!.get(h), this.now) : undefined;
      const requestId = err.requestID ?? undefined;
      let kind: ProviderErrorKind;
      if (err.status !== undefined) {
        kind =
          err.status === 400 && looksLikeContextLength(apiMessage)
            ? 'contextLength'
            : kindForStatus(err.status, apiMessage);
      } else {
        // An `event: error` inside a stream has a type but no status.
        kind = ANTHROPIC_ERROR_KINDS[type ?? ''] ?? 'server';
        if (kind === 'badRequest' && looksLikeContextLength(apiMessage)) kind = 'contextLength';
      }
      return { kind, status: err.status, retryAfterMs, apiMessage, requestId };
    }
    return { kind: 'network', networkCode: networkCodeOf(err) };
  }

  protected override async countWithEndpoint(request: EstimateInput, signal: AbortSignal): Promise<number> {
    const { model, messages, system, tools } = this.params(request);
    const counted = await this.client.messages.countTokens(
      { model, messages, ...(system ? { system } : {}), ...(tools ? { tools } : {}) },
      { signal, timeout: 5_000, maxRetries: 0 },
    );
    return counted.input_tokens;
  }

  async estimateInputTokens(request: EstimateInput): Promise<TokenEstimate> {
    return this.estimateViaEndpoint(request, withEndpointMargin);
  }
}

const ANTHROPIC_ERROR_KINDS: Record<string, ProviderErrorKind> = {
  overloaded_error: 'overloaded',
  rate_limit_error: 'rateLimit',
  api_error: 'server',
  authentication_error: 'auth',
  permission_error: 'auth',
  invalid_request_error: 'badRequest',
  request_too_large: 'contextLength',
  not_found_error: 'badRequest',
  // Anthropic's own 504: the server gave up, not our timer.
  timeout_error: 'server',
};

function mapStop(stop: AnthropicStopReason | null): StopReason {
  switch (stop) {
    case 'end_turn':
    case 'stop_sequence':
      return 'end';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'maxTokens';
    case 'tool_use':
      return 'toolUse';
    case 'refusal':
      return 'refused';
    default:
      return 'other';
  }
}

/** `{type: 'ephemeral'}` for Anthropic's default 5-minute life, with `ttl: '1h'` for the hour. */
function cacheControl(cache: PromptCacheRequest): { type: 'ephemeral'; ttl?: '1h' } {
  return cache.ttl === '1h' ? { type: 'ephemeral', ttl: '1h' } : { type: 'ephemeral' };
}

/**
 * Our conversation as Anthropic messages, with `cache_control` on the blocks where `cache` puts a breakpoint: on the
 * block made from the named part, else (a part the API cannot take, an empty text) on the message's last block.
 */
export function toAnthropicMessages(messages: ChatMessage[], cache?: PromptCacheRequest): MessageParam[] {
  return messages.map((m, index) => {
    const blocks: ContentBlockParam[] = [];
    const fromPart = new Map<number, ContentBlockParam>();
    m.content.forEach((part, i) => {
      const before = blocks.length;
      switch (part.type) {
        case 'text':
          // The API rejects empty text blocks.
          if (part.text) blocks.push({ type: 'text', text: part.text });
          break;
        case 'toolCall':
          blocks.push({
            type: 'tool_use',
            id: part.id,
            name: part.name,
            input: typeof part.input === 'object' && part.input !== null ? (part.input as Record<string, unknown>) : {},
          });
          break;
        case 'toolResult':
          blocks.push({
            type: 'tool_result',
            tool_use_id: part.callId,
            content: part.content,
            ...(part.isError ? { is_error: true } : {}),
          });
          break;
        case 'thinking':
          // Only signed (or redacted) thinking can be sent back; an unsigned one came from another provider.
          if (part.redacted) blocks.push({ type: 'redacted_thinking', data: part.redacted });
          else if (part.signature) blocks.push({ type: 'thinking', thinking: part.text, signature: part.signature });
          break;
      }
      if (blocks.length > before) fromPart.set(i, blocks[blocks.length - 1]!);
    });
    // Tool results must open the user turn that answers the tool calls.
    blocks.sort((a, b) => Number(b.type === 'tool_result') - Number(a.type === 'tool_result'));
    for (const b of cache?.breakpoints ?? []) {
      if (b.after !== 'message' || b.index !== index) continue;
      // Thinking blocks cannot carry cache_control; the last block that can is marked.
      const named = b.part === undefined ? undefined : fromPart.get(b.part);
      const target = named && cacheable(named) ? named : [...blocks].reverse().find(cacheable);
      if (target) (target as { cache_control?: unknown }).cache_control = cacheControl(cache!);
    }
    return { role: m.role, content: blocks };
  });
}

function cacheable(block: ContentBlockParam): boolean {
  return block.type !== 'thinking' && block.type !== 'redacted_thinking';
}

function fromAnthropicContent(content: ContentBlock[]): ContentPart[] {
  const parts: ContentPart[] = [];
  for (const b of content) {
    if (b.type === 'text') parts.push({ type: 'text', text: b.text });
    else if (b.type === 'tool_use') parts.push({ type: 'toolCall', id: b.id, name: b.name, input: b.input });
    else if (b.type === 'thinking') parts.push({ type: 'thinking', text: b.thinking, signature: b.signature });
    else if (b.type === 'redacted_thinking') parts.push({ type: 'thinking', text: '', redacted: b.data });
  }
  return parts;
}
