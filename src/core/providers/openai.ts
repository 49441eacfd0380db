import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParamsBase,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import type {
  Response as OpenAIResponse,
  ResponseCreateParamsBase,
  ResponseInputItem,
  ResponseStreamEvent,
} from 'openai/resources/responses/responses';
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
  redactSecrets,
  type ProviderErrorKind,
} from './errors';
import { estimateByHeuristic, estimateWithTokenizer, type EstimateInput } from './estimate';
import {
  normalizeOpenAIChatUsage,
  normalizeOpenAIResponsesUsage,
  type OpenAIChatUsageRaw,
  type OpenAIResponsesUsageRaw,
} from './normalize';
import type { AttemptGuard } from './retry';
import { OFFICIAL_BASE_URLS } from '../trust/origins';
import type { TokenUsage } from '../usage';
import type {
  ChatMessage,
  ChatRequest,
  ContentPart,
  ProviderConfig,
  StopReason,
  TokenEstimate,
  ToolCall,
} from './types';

export const OPENAI_DEFAULT_BASE_URL = OFFICIAL_BASE_URLS.openai;

/**
 * OpenAI (and OpenAI-compatible local servers: Ollama, LM Studio, vLLM) through the `openai` SDK, over Chat
 * Completions (`api: 'chat'`, the default, what compatible servers speak) or the Responses API
 * (`api: 'responses'`). Streaming Chat Completions always asks for `stream_options.include_usage`, because
 * without it the API sends no usage at all. A Chat Completions answer that finished (finish_reason came) without
 * usage — a compatible server ignoring the option — is returned with no `usage` and a `warning`, so it is charged
 * at its reservation, marked estimated; a stream that ends before its finish_reason is cut.
 */
export class OpenAIAdapter extends ProviderAdapterBase {
  readonly provider = 'openai' as const;
  private readonly client: OpenAI;
  private readonly api: 'chat' | 'responses';

  constructor(config: ProviderConfig, deps?: AdapterDeps) {
    super(config, deps);
    this.api = config.api ?? 'chat';
    this.client = new OpenAI({
      // A local server (Ollama, LM Studio, vLLM) needs no key, but the SDK's constructor refuses to go without one:
      // the placeholder satisfies it and `Authorization: null` (the SDK's way to omit a header) keeps it unsent.
      apiKey: config.apiKey || 'unused',
      // Nothing from the environment: OPENAI_ORG_ID / OPENAI_PROJECT_ID (headers meant for another account),
      // OPENAI_ADMIN_KEY, OPENAI_BASE_URL and OPENAI_LOG are not read (the front ends decide: trust/origins.ts).
      organization: null,
      project: null,
      adminAPIKey: null,
      webhookSecret: null,
      baseURL: config.baseUrl ?? OPENAI_DEFAULT_BASE_URL,
      logLevel: 'warn',
      maxRetries: 0,
      timeout: SDK_TIMEOUT_MS,
      defaultHeaders: config.apiKey ? config.headers : { ...config.headers, Authorization: null },
    });
  }

  /** This attempt's client: the same settings with the guard's fetch, which knows whether the request left. */
  private clientFor(guard: AttemptGuard): OpenAI {
    return this.client.withOptions({ fetch: guard.fetch });
  }

  protected streamOnce(request: ChatRequest, guard: AttemptGuard, progress: StreamProgress): Promise<AttemptResult> {
    progress.hiddenReasoning = mayReasonUnseen(request.model);
    return this.api === 'responses'
      ? this.responsesStream(request, guard, progress)
      : this.chatStream(request, guard, progress);
  }

  protected callOnce(request: ChatRequest, guard: AttemptGuard): Promise<AttemptResult> {
    return this.api === 'responses' ? this.responsesCall(request, guard) : this.chatCall(request, guard);
  }

  // ── Chat Completions ──────────────────────────────────────────────────────────────────────────────────

  private chatParams(request: ChatRequest): ChatCompletionCreateParamsBase {
    return {
      model: request.model,
      messages: toChatMessages(request),
      // Reasoning models (o-series, GPT-5 and later) reject `max_tokens`; compatible local servers and older
      // models take it, and not all of them know `max_completion_tokens`.
      ...(usesMaxCompletionTokens(request.model)
        ? { max_completion_tokens: request.maxOutputTokens }
        : { max_tokens: request.maxOutputTokens }),
      ...(request.tools?.length
        ? {
            tools: request.tools.map((t) => ({
              type: 'function' as const,
              function: { name: t.name, description: t.description, parameters: t.inputSchema },
            })),
          }
        : {}),
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      ...cacheKey(request),
    };
  }

  private async chatStream(
    request: ChatRequest,
    guard: AttemptGuard,
    progress: StreamProgress,
  ): Promise<AttemptResult> {
    const { data: stream, response } = await this.clientFor(guard)
      .chat.completions.create(
        { ...this.chatParams(request), stream: true, stream_options: { include_usage: true } },
        { signal: guard.signal, timeout: SDK_TIMEOUT_MS, maxRetries: 0 },
      )
      .withResponse();
    guard.touch();
    const requestIdHeader = response.headers.get('x-request-id') ?? undefined;
    const calls = new Map<number, { id: string; name: string; args: string }>();
    let refusal = '';
    let finish: string | null = null;
    let usageRaw: OpenAIChatUsageRaw | undefined;
    let id: string | undefined;
    let model: string | undefined;
    for await (const chunk of stream as AsyncIterable<ChatCompletionChunk>) {
      guard.touch();
      progress.started = true;
      id ??= chunk.id;
      model ??= chunk.model;
      if (chunk.usage) {
        usageRaw = chunk.usage as OpenAIChatUsageRaw;
        progress.usage = normalizeOpenAIChatUsage(usageRaw);
        progress.usageRaw = usageRaw;
      }
      const choice = chunk.choices?.[0];
      if (!choice) continue;
      const d = choice.delta ?? {};
      if (d.content) {
        progress.text += d.content;
        request.onText?.(d.content);
      }
      if (d.refusal) refusal += d.refusal;
      for (const tc of d.tool_calls ?? []) {
        const entry = calls.get(tc.index) ?? { id: '', name: '', args: '' };
        if (tc.id) entry.id = tc.id;
        if (tc.function?.name) entry.name += tc.function.name;
        if (tc.function?.arguments) entry.args += tc.function.arguments;
        calls.set(tc.index, entry);
      }
      if (choice.finish_reason) {
        finish = choice.finish_reason;
        progress.toolCalls = [...calls.values()].map((c) => ({
          id: c.id,
          name: c.name,
          input: parseToolInput(c.args),
        }));
      }
    }
    // The usage chunk comes after the finish_reason chunk. Without a finish_reason the answer is cut; without the
    // usage chunk it is whole, only unmetered (see finish()).
    if (finish === null) throw new StreamEndedEarly();
    progress.finished = true;
    const toolCalls = [...calls.values()].map((c) => ({ id: c.id, name: c.name, input: parseToolInput(c.args) }));
    return this.finish(request, {
      text: progress.text,
      toolCalls,
      refused: finish === 'content_filter' || refusal !== '',
      stop: chatStop(finish),
      usage: usageRaw && normalizeOpenAIChatUsage(usageRaw),
      usageRaw,
      requestId: id ?? requestIdHeader,
      model,
    });
  }

  private async chatCall(request: ChatRequest, guard: AttemptGuard): Promise<AttemptResult> {
    const { data, response } = await this.clientFor(guard)
      .chat.completions.create(
        { ...this.chatParams(request), stream: false },
        { signal: guard.signal, timeout: SDK_TIMEOUT_MS, maxRetries: 0 },
      )
      .withResponse();
    const choice = data.choices?.[0];
    const text = choice?.message?.content ?? '';
    const toolCalls: ToolCall[] = (choice?.message?.tool_calls ?? []).flatMap((tc) =>
      tc.type === 'function'
        ? [{ id: tc.id, name: tc.function.name, input: parseToolInput(tc.function.arguments) }]
        : [],
    );
    if (text) request.onText?.(text);
    const usageRaw = (data.usage ?? undefined) as OpenAIChatUsageRaw | undefined;
    return this.finish(request, {
      text,
      toolCalls,
      refused: choice?.finish_reason === 'content_filter' || !!choice?.message?.refusal,
      stop: chatStop(choice?.finish_reason ?? null),
      usage: usageRaw && normalizeOpenAIChatUsage(usageRaw),
      usageRaw,
      requestId: data.id ?? response.headers.get('x-request-id') ?? undefined,
      model: data.model,
    });
  }

  // ── Responses ─────────────────────────────────────────────────────────────────────────────────────────

  private responsesParams(request: ChatRequest): ResponseCreateParamsBase {
    return {
      model: request.model,
      input: toResponsesInput(request.messages),
      ...(request.system ? { instructions: request.system } : {}),
      max_output_tokens: request.maxOutputTokens,
      // The whole conversation is sent every time (it lives in our checkpoints), so nothing is kept at OpenAI.
      store: false,
      ...(request.tools?.length
        ? {
            tools: request.tools.map((t) => ({
              type: 'function' as const,
              name: t.name,
              description: t.description,
              parameters: t.inputSchema,
              strict: false,
            })),
          }
        : {}),
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      ...cacheKey(request),
    };
  }

  private async responsesStream(
    request: ChatRequest,
    guard: AttemptGuard,
    progress: StreamProgress,
  ): Promise<AttemptResult> {
    const stream = await this.clientFor(guard).responses.create(
      { ...this.responsesParams(request), stream: true },
      { signal: guard.signal, timeout: SDK_TIMEOUT_MS, maxRetries: 0 },
    );
    guard.touch();
    let final: OpenAIResponse | undefined;
    let refusal = '';
    for await (const event of stream as AsyncIterable<ResponseStreamEvent>) {
      guard.touch();
      progress.started = true;
      switch (event.type) {
        case 'response.output_text.delta':
          progress.text += event.delta;
          request.onText?.(event.delta);
          break;
        case 'response.refusal.delta':
          refusal += event.delta;
          break;
        case 'response.output_item.done':
          if (event.item.type === 'function_call') {
            progress.toolCalls.push({
              id: event.item.call_id,
              name: event.item.name,
              input: parseToolInput(event.item.arguments),
            });
          }
          break;
        case 'response.completed':
        case 'response.incomplete':
          final = event.response;
          if (final.usage) {
            progress.usage = normalizeOpenAIResponsesUsage(final.usage as OpenAIResponsesUsageRaw);
            progress.usageRaw = final.usage;
          }
          break;
        case 'response.failed': {
          const e = event.response.error;
          throw this.error({ kind: responsesErrorKind(e?.code), apiMessage: e?.message }, request);
        }
        case 'error':
          throw this.error({ kind: responsesErrorKind(event.code ?? undefined), apiMessage: event.message }, request);
      }
    }
    if (!final?.usage) throw new StreamEndedEarly();
    progress.finished = true;
    return this.fromResponse(request, final, refusal);
  }

  private async responsesCall(request: ChatRequest, guard: AttemptGuard): Promise<AttemptResult> {
    const response = await this.clientFor(guard).responses.create(
      { ...this.responsesParams(request), stream: false },
      { signal: guard.signal, timeout: SDK_TIMEOUT_MS, maxRetries: 0 },
    );
    if (!response.usage) throw new StreamEndedEarly();
    const text = responseText(response);
    if (text) request.onText?.(text);
    return this.fromResponse(request, response, '');
  }

  private fromResponse(request: ChatRequest, response: OpenAIResponse, streamedRefusal: string): AttemptResult {
    const toolCalls: ToolCall[] = [];
    let refusal = streamedRefusal;
    for (const item of response.output ?? []) {
      if (item.type === 'function_call')
        toolCalls.push({ id: item.call_id, name: item.name, input: parseToolInput(item.arguments) });
      if (item.type === 'message') for (const c of item.content) if (c.type === 'refusal') refusal += c.refusal;
    }
    const reason = response.incomplete_details?.reason;
    return this.finish(request, {
      text: responseText(response),
      toolCalls,
      refused: refusal !== '' || reason === 'content_filter',
      stop:
        reason === 'max_output_tokens'
          ? 'maxTokens'
          : toolCalls.length
            ? 'toolUse'
            : response.status === 'completed'
              ? 'end'
              : 'other',
      usage: normalizeOpenAIResponsesUsage(response.usage as OpenAIResponsesUsageRaw),
      usageRaw: response.usage,
      requestId: response.id,
      model: response.model,
    });
  }

  // ── Shared ────────────────────────────────────────────────────────────────────────────────────────────

  private finish(
    request: ChatRequest,
    r: {
      text: string;
      toolCalls: ToolCall[];
      refused: boolean;
      stop: StopReason;
      /** Undefined when the server reported none (a compatible server): charged at the reservation. */
      usage: TokenUsage | undefined;
      usageRaw: unknown;
      requestId?: string;
      model?: string;
    },
  ): AttemptResult {
    const usage = r.usage;
    if (r.refused) {
      throw this.error({ kind: 'refused', requestId: r.requestId }, request, undefined, {
        text: r.text,
        toolCalls: r.toolCalls,
        ...(usage ? { usage, usageRaw: r.usageRaw, usageFinal: true } : {}),
      });
    }
    const content: ContentPart[] = [];
    if (r.text) content.push({ type: 'text', text: r.text });
    for (const t of r.toolCalls) content.push({ type: 'toolCall', id: t.id, name: t.name, input: t.input });
    return {
      message: { role: 'assistant', content },
      text: r.text,
      toolCalls: r.toolCalls,
      stopReason: r.stop,
      usage,
      usageRaw: r.usageRaw,
      requestId: r.requestId,
      responseModel: r.model,
      ...(usage
        ? {}
        : {
            warning: redactSecrets(
              `${this.config.baseUrl ?? OPENAI_DEFAULT_BASE_URL} reported no token usage for this ${request.model} answer, so ` +
                'the call is charged at its reserved (estimated) cost. OpenAI-compatible servers that ignore ' +
                'stream_options.include_usage do this; one that reports usage is billed exactly.',
              this.secrets,
            ),
          }),
    };
  }

  protected readSdkError(err: unknown): SdkErrorFacts {
    if (err instanceof APIConnectionTimeoutError) return { kind: 'timeout' };
    if (err instanceof APIConnectionError) return { kind: 'network', networkCode: networkCodeOf(err) };
    if (err instanceof APIError) {
      const body = err.error as { message?: unknown } | undefined;
      const apiMessage = typeof body?.message === 'string' ? body.message : undefined;
      const code = typeof err.code === 'string' ? err.code : undefined;
      const retryAfterMs = err.headers ? parseRetryAfter((h) => err.headers!.get(h), this.now) : undefined;
      let kind: ProviderErrorKind;
      // A 429 that is not a rate: the account is out of credit, and waiting will not refill it.
      if (code === 'insufficient_quota' || err.type === 'insufficient_quota') kind = 'quota';
      else if (code === 'context_length_exceeded' || (err.status === 400 && looksLikeContextLength(apiMessage)))
        kind = 'contextLength';
      else if (code === 'content_policy_violation' || code === 'content_filter') kind = 'refused';
      else if (err.status !== undefined) kind = kindForStatus(err.status, apiMessage);
      else kind = responsesErrorKind(code ?? (typeof err.type === 'string' ? err.type : undefined));
      return { kind, status: err.status, retryAfterMs, apiMessage, requestId: err.requestID ?? undefined };
    }
    return { kind: 'network', networkCode: networkCodeOf(err) };
  }

  async estimateInputTokens(request: EstimateInput): Promise<TokenEstimate> {
    try {
      return estimateWithTokenizer(request);
    } catch (err) {
      return {
        ...estimateByHeuristic(request),
        fallbackReason: `o200k tokenizer unavailable: ${(err as Error).message}`,
      };
    }
  }
}

/**
 * OpenAI caches prompts of 1,024 tokens and more by itself; `prompt_cache_key` keeps the calls of one run (which
 * share their prefix) on the same cache, so the automatic prefix cache hits. Nothing else is asked for: OpenAI has no
 * breakpoints, and its cache life is its own.
 */
function cacheKey(request: ChatRequest): { prompt_cache_key?: string } {
  return request.cache?.key ? { prompt_cache_key: request.cache.key } : {};
}

/** o1/o3/o4… and GPT-5 and later only accept `max_completion_tokens`. */
export function usesMaxCompletionTokens(model: string): boolean {
  return /^(o\d|gpt-(5|6|7|8|9))/i.test(model);
}

function chatStop(finish: string | null): StopReason {
  switch (finish) {
    case 'stop':
      return 'end';
    case 'length':
      return 'maxTokens';
    case 'tool_calls':
    case 'function_call':
      return 'toolUse';
    case 'content_filter':
      return 'refused';
    default:
      return 'other';
  }
}

function responsesErrorKind(code: string | undefined): ProviderErrorKind {
  switch (code) {
    case 'rate_limit_exceeded':
      return 'rateLimit';
    case 'server_error':
    case 'vector_store_timeout':
      return 'server';
    case 'context_length_exceeded':
      return 'contextLength';
    case 'invalid_prompt':
    case 'content_filter':
    case 'content_policy_violation':
      return 'refused';
    case 'invalid_api_key':
      return 'auth';
    default:
      return code && /invalid|unsupported|not_found/.test(code) ? 'badRequest' : 'server';
  }
}

function responseText(response: OpenAIResponse): string {
  let text = '';
  for (const item of response.output ?? []) {
    if (item.type === 'message') for (const c of item.content) if (c.type === 'output_text') text += c.text;
  }
  return text;
}

function textOf(parts: ContentPart[]): string {
  return parts.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join('');
}

export function toChatMessages(request: Pick<ChatRequest, 'system' | 'messages'>): ChatCompletionMessageParam[] {
  const out: ChatCompletionMessageParam[] = [];
  if (request.system) out.push({ role: 'system', content: request.system });
  for (const m of request.messages) {
    if (m.role === 'user') {
      // Tool results are their own `tool` messages and must directly follow the assistant's tool calls.
      for (const p of m.content)
        if (p.type === 'toolResult') out.push({ role: 'tool', tool_call_id: p.callId, content: p.content });
      const text = textOf(m.content);
      if (text) out.push({ role: 'user', content: text });
    } else {
      const calls = m.content.flatMap((p) =>
        p.type === 'toolCall'
          ? [
              {
                id: p.id,
                type: 'function' as const,
                function: { name: p.name, arguments: JSON.stringify(p.input ?? {}) },
              },
            ]
          : [],
      );
      const text = textOf(m.content);
      out.push({ role: 'assistant', content: text || null, ...(calls.length ? { tool_calls: calls } : {}) });
    }
  }
  return out;
}

export function toResponsesInput(messages: ChatMessage[]): ResponseInputItem[] {
  const out: ResponseInputItem[] = [];
  for (const m of messages) {
    if (m.role === 'user') {
      for (const p of m.content)
        if (p.type === 'toolResult') out.push({ type: 'function_call_output', call_id: p.callId, output: p.content });
      const text = textOf(m.content);
      if (text) out.push({ role: 'user', content: text });
    } else {
      const text = textOf(m.content);
      if (text) out.push({ role: 'assistant', content: text });
      for (const p of m.content) {
        if (p.type === 'toolCall')
          out.push({ type: 'function_call', call_id: p.id, name: p.name, arguments: JSON.stringify(p.input ?? {}) });
      }
    }
  }
  return out;
}

/**
 * OpenAI's reasoning models (o1, o3, o4-mini, gpt-5 …) think before they write and stream none of it; their usage
 * comes only at the end. A cut stream of one says nothing of the reasoning tokens billed (see failedCallCharge).
 */
export function mayReasonUnseen(model: string): boolean {
  return /^(o\d|gpt-5|codex)/i.test(model.replace(/^openai\//i, ''));
}
