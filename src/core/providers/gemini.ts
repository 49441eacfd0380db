import {
  ApiError,
  GoogleGenAI,
  type Content,
  type GenerateContentConfig,
  type GenerateContentResponse,
  type Part,
} from '@google/genai';
import {
  ProviderAdapterBase,
  StreamEndedEarly,
  type AdapterDeps,
  type AttemptResult,
  type SdkErrorFacts,
  type StreamProgress,
} from './adapter';
import {
  kindForStatus,
  looksLikeContextLength,
  networkCodeOf,
  parseGoogleRetryDelay,
  parseRetryAfter,
  type ProviderErrorKind,
} from './errors';
import { withEndpointMargin, type EstimateInput } from './estimate';
import { normalizeGeminiUsage, type GeminiUsageRaw } from './normalize';
import type { AttemptGuard } from './retry';
import { OFFICIAL_BASE_URLS } from '../trust/origins';
import type {
  ChatMessage,
  ChatRequest,
  ContentPart,
  ProviderConfig,
  StopReason,
  TokenEstimate,
  ToolCall,
} from './types';

export const GEMINI_DEFAULT_BASE_URL = OFFICIAL_BASE_URLS.gemini;

/** Ids we invent for function calls that came without one (Gemini 2.x); never sent back as Gemini ids. */
const LOCAL_CALL_ID = 'gcall_';

/**
 * Gemini (Developer API) through @google/genai. The SDK's own retries (`retryOptions`), automatic function calling
 * and automatic continuation are all off: one SDK call is one HTTP request, retried only by retry.ts.
 * The SDK's errors carry no headers, so each attempt passes a fetch that records the response headers
 * (for `retry-after`); Gemini usually puts the wait in the body's RetryInfo instead, which is read too.
 */
export class GeminiAdapter extends ProviderAdapterBase {
  readonly provider = 'gemini' as const;
  private sdk?: GoogleGenAI;
  private callCounter = 0;

  constructor(config: ProviderConfig, deps?: AdapterDeps) {
    super(config, deps);
  }

  /** Made on first use: the SDK warns on the console when constructed without a key (a keyless estimate). */
  private get client(): GoogleGenAI {
    this.sdk ??= new GoogleGenAI({
      // Always a string: without one the SDK takes GOOGLE_API_KEY / GEMINI_API_KEY from the environment, or with
      // none of them Google's default credentials (GOOGLE_APPLICATION_CREDENTIALS) as a bearer token.
      apiKey: this.config.apiKey ?? '',
      // Explicit, so GOOGLE_GENAI_USE_VERTEXAI / _ENTERPRISE in the environment cannot switch the backend (and its
      // GOOGLE_CLOUD_PROJECT / LOCATION, only used by Vertex) under us; an explicit baseUrl below means
      // GOOGLE_GEMINI_BASE_URL is not read.
      vertexai: false,
      httpOptions: {
        baseUrl: this.config.baseUrl ?? GEMINI_DEFAULT_BASE_URL,
        ...(this.config.headers ? { headers: this.config.headers } : {}),
      },
    });
    return this.sdk;
  }

  private generationConfig(request: ChatRequest, guard: AttemptGuard, fetchFn: typeof fetch): GenerateContentConfig {
    return {
      maxOutputTokens: request.maxOutputTokens,
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      ...(request.system ? { systemInstruction: request.system } : {}),
      ...(request.tools?.length
        ? {
            tools: [
              {
                functionDeclarations: request.tools.map((t) => ({
                  name: t.name,
                  description: t.description,
                  parametersJsonSchema: t.inputSchema,
                })),
              },
            ],
          }
        : {}),
      abortSignal: guard.signal,
      automaticFunctionCalling: { disable: true },
      automaticContinuation: false,
      httpOptions: { fetch: fetchFn },
    };
  }

  protected async streamOnce(
    request: ChatRequest,
    guard: AttemptGuard,
    progress: StreamProgress,
  ): Promise<AttemptResult> {
    const capture = new HeaderCapture(guard);
    const stream = await capture.run(() =>
      this.client.models.generateContentStream({
        model: request.model,
        contents: toGeminiContents(request.messages),
        config: this.generationConfig(request, guard, capture.fetch),
      }),
    );
    guard.touch();
    const acc = new ResponseAccumulator(() => this.newCallId());
    for await (const chunk of capture.iterate(stream)) {
      guard.touch();
      progress.started = true;
      const delta = acc.add(chunk);
      if (delta) {
        progress.text += delta;
        request.onText?.(delta);
      }
      progress.toolCalls = acc.toolCalls();
      if (acc.usageRaw) {
        progress.usage = normalizeGeminiUsage(acc.usageRaw);
        progress.usageRaw = acc.usageRaw;
      }
    }
    // The last chunk carries finishReason and the final usageMetadata; a blocked prompt has only promptFeedback.
    if ((!acc.finishReason && !acc.blockReason) || !acc.usageRaw) throw new StreamEndedEarly();
    progress.finished = true;
    return this.finish(request, acc);
  }

  protected async callOnce(request: ChatRequest, guard: AttemptGuard): Promise<AttemptResult> {
    const capture = new HeaderCapture(guard);
    const response = await capture.run(() =>
      this.client.models.generateContent({
        model: request.model,
        contents: toGeminiContents(request.messages),
        config: this.generationConfig(request, guard, capture.fetch),
      }),
    );
    const acc = new ResponseAccumulator(() => this.newCallId());
    acc.add(response);
    if (!acc.usageRaw) throw new StreamEndedEarly();
    const result = this.finish(request, acc);
    if (result.text) request.onText?.(result.text);
    return result;
  }

  private newCallId(): string {
    this.callCounter += 1;
    return `${LOCAL_CALL_ID}${this.callCounter}`;
  }

  private finish(request: ChatRequest, acc: ResponseAccumulator): AttemptResult {
    const usageRaw = acc.usageRaw!;
    const usage = normalizeGeminiUsage(usageRaw);
    const toolCalls = acc.toolCalls();
    if (acc.blockReason || REFUSAL_REASONS.has(acc.finishReason ?? '')) {
      throw this.error({ kind: 'refused', requestId: acc.responseId }, request, undefined, {
        text: acc.text,
        toolCalls: toolCalls.map(({ id, name, input }) => ({ id, name, input })),
        usage,
        usageRaw,
        usageFinal: true,
      });
    }
    const content: ContentPart[] = [];
    if (acc.thoughts) content.push({ type: 'thinking', text: acc.thoughts });
    if (acc.text) content.push({ type: 'text', text: acc.text });
    for (const t of toolCalls) content.push({ type: 'toolCall', ...t });
    return {
      message: { role: 'assistant', content },
      text: acc.text,
      toolCalls: toolCalls.map(({ id, name, input }) => ({ id, name, input })),
      stopReason: toolCalls.length ? 'toolUse' : geminiStop(acc.finishReason),
      usage,
      usageRaw,
      requestId: acc.responseId,
      responseModel: acc.modelVersion,
    };
  }

  protected readSdkError(err: unknown): SdkErrorFacts {
    if (err instanceof ApiError || (err as { name?: string })?.name === 'ApiError') {
      const status = (err as ApiError).status;
      const body = parseGoogleErrorBody((err as Error).message);
      const apiMessage = body?.error?.message;
      const headers = (err as { responseHeaders?: Headers }).responseHeaders;
      const retryAfterMs =
        parseGoogleRetryDelay(body) ?? (headers ? parseRetryAfter((h) => headers.get(h), this.now) : undefined);
      const keyInvalid =
        JSON.stringify(body ?? '').includes('API_KEY_INVALID') || /api key not valid/i.test(apiMessage ?? '');
      let kind: ProviderErrorKind;
      if (keyInvalid) kind = 'auth';
      else if (status === 400 && looksLikeContextLength(apiMessage)) kind = 'contextLength';
      else kind = kindForStatus(status, apiMessage);
      return { kind, status, retryAfterMs, apiMessage };
    }
    return { kind: 'network', networkCode: networkCodeOf(err) };
  }

  protected override async countWithEndpoint(request: EstimateInput, signal: AbortSignal): Promise<number> {
    // The Developer API's countTokens takes no systemInstruction or tools, so they are counted as extra text
    // (a few tokens more than the real framing: the estimate leans high, as it should).
    const contents = toGeminiContents(request.messages);
    const extra = [request.system ?? '', ...(request.tools ?? []).map((t) => JSON.stringify(t))]
      .filter(Boolean)
      .join('\n');
    if (extra) contents.unshift({ role: 'user', parts: [{ text: extra }] });
    const counted = await this.client.models.countTokens({
      model: request.model,
      contents,
      config: { abortSignal: signal },
    });
    return counted.totalTokens ?? 0;
  }

  async estimateInputTokens(request: EstimateInput): Promise<TokenEstimate> {
    return this.estimateViaEndpoint(request, withEndpointMargin);
  }
}

const REFUSAL_REASONS = new Set([
  'SAFETY',
  'PROHIBITED_CONTENT',
  'BLOCKLIST',
  'SPII',
  'RECITATION',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
]);

function geminiStop(reason: string | undefined): StopReason {
  if (reason === 'STOP') return 'end';
  if (reason === 'MAX_TOKENS') return 'maxTokens';
  return 'other';
}

/** Folds streamed (or one non-streamed) GenerateContentResponse into text, tool calls and the latest usage. */
class ResponseAccumulator {
  text = '';
  thoughts = '';
  private calls: Array<ToolCall & { signature?: string }> = [];
  usageRaw?: GeminiUsageRaw;
  finishReason?: string;
  blockReason?: string;
  responseId?: string;
  modelVersion?: string;

  constructor(private readonly newId: () => string) {}

  /** Returns the visible text this chunk added. */
  add(chunk: GenerateContentResponse): string {
    let delta = '';
    this.responseId ??= chunk.responseId;
    this.modelVersion ??= chunk.modelVersion;
    // usageMetadata is cumulative: the last one wins.
    if (chunk.usageMetadata) this.usageRaw = { ...(chunk.usageMetadata as GeminiUsageRaw) };
    if (chunk.promptFeedback?.blockReason) this.blockReason = String(chunk.promptFeedback.blockReason);
    const candidate = chunk.candidates?.[0];
    if (candidate?.finishReason) this.finishReason = String(candidate.finishReason);
    for (const part of candidate?.content?.parts ?? []) {
      if (part.functionCall) {
        this.calls.push({
          id: part.functionCall.id ?? this.newId(),
          name: part.functionCall.name ?? '',
          input: part.functionCall.args ?? {},
          ...(part.thoughtSignature ? { signature: part.thoughtSignature } : {}),
        });
      } else if (typeof part.text === 'string') {
        if (part.thought) this.thoughts += part.text;
        else {
          this.text += part.text;
          delta += part.text;
        }
      }
    }
    return delta;
  }

  toolCalls(): Array<ToolCall & { signature?: string }> {
    return this.calls.map((c) => ({ ...c }));
  }
}

/**
 * Records the response headers of the attempt's HTTP request and attaches them to an SDK error, which has none.
 */
class HeaderCapture {
  headers?: Headers;
  readonly fetch: typeof fetch;

  constructor(private readonly guard: AttemptGuard) {
    this.fetch = async (input, init) => {
      const response = await this.guard.fetch(input, init);
      this.headers = response.headers;
      return response;
    };
  }

  private attach(err: unknown): never {
    if (err && typeof err === 'object' && this.headers)
      (err as { responseHeaders?: Headers }).responseHeaders = this.headers;
    throw err;
  }

  async run<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      this.attach(err);
    }
  }

  async *iterate<T>(stream: AsyncIterable<T>): AsyncGenerator<T> {
    try {
      yield* stream;
    } catch (err) {
      this.attach(err);
    }
  }
}

/** ApiError messages are the JSON error body, or "got status: X. {json}" for an error inside a stream. */
function parseGoogleErrorBody(
  message: string,
): { error?: { message?: string; status?: string; details?: unknown } } | undefined {
  const start = message.indexOf('{');
  if (start < 0) return undefined;
  try {
    return JSON.parse(message.slice(start));
  } catch {
    return undefined;
  }
}

export function toGeminiContents(messages: ChatMessage[]): Content[] {
  const names = new Map<string, string>();
  for (const m of messages) for (const p of m.content) if (p.type === 'toolCall') names.set(p.id, p.name);
  return messages
    .map((m): Content => {
      const parts: Part[] = [];
      for (const p of m.content) {
        switch (p.type) {
          case 'text':
            if (p.text) parts.push({ text: p.text });
            break;
          case 'toolCall':
            parts.push({
              functionCall: {
                name: p.name,
                args: (typeof p.input === 'object' && p.input !== null ? p.input : {}) as Record<string, unknown>,
                ...(p.id.startsWith(LOCAL_CALL_ID) ? {} : { id: p.id }),
              },
              // Gemini 3 rejects a function call in the history without the signature it was issued with.
              ...(p.signature ? { thoughtSignature: p.signature } : {}),
            });
            break;
          case 'toolResult':
            parts.push({
              functionResponse: {
                name: p.name || names.get(p.callId) || 'tool',
                response: p.isError ? { error: p.content } : { output: p.content },
                ...(p.callId.startsWith(LOCAL_CALL_ID) ? {} : { id: p.callId }),
              },
            });
            break;
          case 'thinking':
            // Thought summaries are not sent back; the signatures that matter ride on the function calls.
            break;
        }
      }
      return { role: m.role === 'assistant' ? 'model' : 'user', parts };
    })
    .filter((c) => (c.parts?.length ?? 0) > 0);
}
