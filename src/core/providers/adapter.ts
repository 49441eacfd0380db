import { AgentBudgetError } from '../errors';
import type { ProviderId, TokenUsage } from '../usage';
import {
  describeProviderError,
  ProviderError,
  redactSecrets,
  sanitizedCause,
  type ErrorFacts,
  type PartialCallResult,
  type ProviderErrorKind,
} from './errors';
import { estimateByHeuristic, type EstimateInput } from './estimate';
import {
  AttemptGuard,
  DEFAULT_RETRY_POLICY,
  realRetryDeps,
  withRetry,
  type RetryEvent,
  type RetryPolicy,
  type Sleep,
} from './retry';
import type { ChatRequest, ChatResult, ProviderAdapter, ProviderConfig, TokenEstimate, ToolCall } from './types';

/**
 * What the three adapters share: the retry loop, the per-attempt abort/timeout guard, turning whatever an SDK
 * threw into one redacted `ProviderError`, and the partial result a dead stream leaves behind. Each adapter only
 * maps our conversation to its SDK and reads the SDK's events back.
 *
 * Timeouts: `ProviderConfig.timeoutMs` bounds the silence of a call — no response headers, or (streaming) no event
 * for that long, aborts the attempt as `timeout`. Defaults: 120 s idle for streams, 600 s for a whole
 * non-streaming call. The SDKs' own timeouts are set far above ours so only ours fire.
 */
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 120_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 600_000;
/** Handed to the SDKs so their timers never fire before ours. */
export const SDK_TIMEOUT_MS = 3_600_000;

export interface AdapterDeps {
  sleep?: Sleep;
  random?: () => number;
  now?: () => number;
  retryPolicy?: Partial<RetryPolicy>;
  /** Called before each retry (for logs and the run's event stream). */
  onRetry?: (event: RetryEvent) => void;
}

/** What the consumer of a stream has seen so far; becomes `ProviderError.partial` if the stream dies. */
export class StreamProgress {
  text = '';
  toolCalls: ToolCall[] = [];
  usage?: Partial<TokenUsage>;
  usageRaw?: unknown;
  /** UTF-8 bytes of output streamed besides `text`: thinking, tool-call arguments as they arrive. */
  otherOutputBytes = 0;
  /**
   * The model may reason before it writes without streaming its reasoning (OpenAI's reasoning models): what streamed
   * then says nothing of the output billed, so a cut is charged the whole reservation.
   */
  hiddenReasoning = false;
  /** Any event arrived (from then on a failure is never retried). */
  started = false;
  /** The provider's final event arrived. */
  finished = false;

  partial(): PartialCallResult {
    return {
      text: this.text,
      toolCalls: this.toolCalls.map((t) => ({ ...t })),
      ...(this.usage ? { usage: { ...this.usage } } : {}),
      ...(this.usageRaw !== undefined ? { usageRaw: this.usageRaw } : {}),
      ...(this.otherOutputBytes > 0 ? { otherOutputBytes: this.otherOutputBytes } : {}),
      ...(this.hiddenReasoning ? { hiddenReasoning: true } : {}),
    };
  }
}

/** Thrown by an adapter when its stream ended without the provider's final event. */
export class StreamEndedEarly extends AgentBudgetError {
  override readonly name = 'StreamEndedEarly';
  constructor() {
    super('provider', 'the response stream ended before its final event');
  }
}

/** The provider-specific reading of an SDK error. */
export interface SdkErrorFacts {
  kind: ProviderErrorKind;
  status?: number;
  retryAfterMs?: number;
  apiMessage?: string;
  requestId?: string;
  networkCode?: string;
}

export type AttemptResult = Omit<ChatResult, 'latencyMs'>;

/** Connection failures in which no byte of the request reached the provider, so it cannot have billed it. */
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

export abstract class ProviderAdapterBase implements ProviderAdapter {
  abstract readonly provider: ProviderId;
  protected readonly sleep: Sleep;
  protected readonly random: () => number;
  protected readonly now: () => number;
  protected readonly retryPolicy: RetryPolicy;
  protected readonly onRetry?: (event: RetryEvent) => void;

  constructor(
    protected readonly config: ProviderConfig,
    deps: AdapterDeps = {},
  ) {
    this.sleep = deps.sleep ?? realRetryDeps.sleep;
    this.random = deps.random ?? realRetryDeps.random;
    this.now = deps.now ?? Date.now;
    this.retryPolicy = {
      ...DEFAULT_RETRY_POLICY,
      ...(config.maxRetries !== undefined ? { maxRetries: config.maxRetries } : {}),
      ...deps.retryPolicy,
    };
    this.onRetry = deps.onRetry;
  }

  /** One streaming attempt: consume the stream, keep `progress` current, throw StreamEndedEarly if cut. */
  protected abstract streamOnce(
    request: ChatRequest,
    guard: AttemptGuard,
    progress: StreamProgress,
  ): Promise<AttemptResult>;
  /** One non-streaming attempt. */
  protected abstract callOnce(request: ChatRequest, guard: AttemptGuard): Promise<AttemptResult>;
  /** Reads an error thrown by this adapter's SDK. */
  protected abstract readSdkError(err: unknown): SdkErrorFacts;
  /** The provider's count-tokens endpoint (Anthropic, Gemini); undefined when it has none. */
  protected countWithEndpoint?(request: EstimateInput, signal: AbortSignal): Promise<number>;

  abstract estimateInputTokens(request: EstimateInput): Promise<TokenEstimate>;

  /** Everything that must never appear in an error: the key and any extra header values. */
  protected get secrets(): string[] {
    return [this.config.apiKey, ...Object.values(this.config.headers ?? {})].filter((s) => s.length >= 4);
  }

  async chat(request: ChatRequest): Promise<ChatResult> {
    const started = this.now();
    const streaming = request.stream ?? true;
    const timeoutMs =
      this.config.timeoutMs ?? (streaming ? DEFAULT_STREAM_IDLE_TIMEOUT_MS : DEFAULT_REQUEST_TIMEOUT_MS);
    // Nothing has left yet: a call cancelled now costs nothing.
    if (request.signal?.aborted) throw this.error({ kind: 'aborted', mayHaveBilled: false }, request);
    // Whether a failed attempt may have been billed, so that an abort while waiting to retry still says so.
    let earlierMayHaveBilled = false;
    const result = await withRetry(
      async () => {
        const guard = new AttemptGuard(timeoutMs, request.signal);
        const progress = new StreamProgress();
        try {
          return streaming ? await this.streamOnce(request, guard, progress) : await this.callOnce(request, guard);
        } catch (err) {
          const failure = this.classify(err, guard, progress, request, timeoutMs);
          earlierMayHaveBilled ||= failure.mayHaveBilled;
          throw failure;
        } finally {
          guard.dispose();
        }
      },
      {
        policy: this.retryPolicy,
        deps: { sleep: this.sleep, random: this.random },
        signal: request.signal,
        onAbort: () => this.error({ kind: 'aborted', mayHaveBilled: earlierMayHaveBilled }, request),
        onRetry: this.onRetry,
      },
    );
    return { ...result, latencyMs: this.now() - started };
  }

  private classify(
    err: unknown,
    guard: AttemptGuard,
    progress: StreamProgress,
    request: ChatRequest,
    timeoutMs: number,
  ): ProviderError {
    const partial = progress.started ? progress.partial() : undefined;
    const reason = guard.reason;
    // An abort or timeout bills nothing only if the request never went out.
    if (reason)
      return this.error(
        { kind: reason, timeoutMs, mayHaveBilled: !!partial || guard.requestSent },
        request,
        err,
        partial,
      );
    if (err instanceof ProviderError) return partial && !err.partial ? err.withPartial(partial) : err;
    if (err instanceof StreamEndedEarly) return this.error({ kind: 'streamCut' }, request, err, progress.partial());
    const facts = this.readSdkError(err);
    // A connection that dies after the stream began is a cut stream (charged as estimated), not a retryable
    // network failure.
    const kind = partial && (facts.kind === 'network' || facts.kind === 'timeout') ? 'streamCut' : facts.kind;
    // With an HTTP status the provider answered with an error (not billed: the default). Without one, the request
    // may have been processed unless it never left or the connection was never made.
    const mayHaveBilled =
      facts.status === undefined && !partial
        ? guard.requestSent && !NEVER_CONNECTED.has(facts.networkCode ?? '')
        : undefined;
    return this.error({ ...facts, kind, timeoutMs, mayHaveBilled }, request, err, partial);
  }

  /** Builds a redacted ProviderError; a sanitized copy of `cause` is kept for logs. */
  protected error(
    facts: Omit<ErrorFacts, 'provider'> & { requestId?: string; mayHaveBilled?: boolean },
    request?: Pick<ChatRequest, 'model'>,
    cause?: unknown,
    partial?: PartialCallResult,
  ): ProviderError {
    const message = redactSecrets(
      describeProviderError({
        provider: this.provider,
        model: request?.model,
        baseUrl: this.config.baseUrl,
        ...facts,
        apiMessage: facts.apiMessage ? redactSecrets(facts.apiMessage, this.secrets) : undefined,
      }),
      this.secrets,
    );
    return new ProviderError({
      provider: this.provider,
      kind: facts.kind,
      message,
      status: facts.status,
      retryAfterMs: facts.retryAfterMs,
      requestId: facts.requestId,
      partial,
      cause: cause === undefined ? undefined : sanitizedCause(cause, this.secrets),
      ...(facts.kind === 'aborted' || facts.kind === 'timeout' || facts.kind === 'streamCut'
        ? { retryable: false }
        : {}),
      ...(facts.mayHaveBilled !== undefined ? { mayHaveBilled: facts.mayHaveBilled } : {}),
    });
  }

  /**
   * Endpoint count when the provider has one and a key is set, else (or on any failure) the local heuristic.
   * The endpoint gets 5 s and no retries: the estimate must never hold up a run.
   */
  protected async estimateViaEndpoint(request: EstimateInput, margin: (n: number) => number): Promise<TokenEstimate> {
    if (!this.countWithEndpoint || !this.config.apiKey) {
      return { ...estimateByHeuristic(request), fallbackReason: 'no API key for the count-tokens endpoint' };
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('timeout')), 5_000);
    try {
      const n = await this.countWithEndpoint(request, controller.signal);
      return { inputTokens: margin(n), method: 'endpoint' };
    } catch (err) {
      const reason = redactSecrets(err instanceof Error ? err.message : String(err), this.secrets).slice(0, 200);
      return { ...estimateByHeuristic(request), fallbackReason: `count-tokens endpoint failed: ${reason}` };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Parses tool-call arguments a model streamed as JSON text; malformed JSON is kept as the raw string. */
export function parseToolInput(json: string): unknown {
  if (json.trim() === '') return {};
  try {
    return JSON.parse(json);
  } catch {
    return json;
  }
}

/** A network code such as ECONNREFUSED from the cause chain of a fetch failure. */
export { networkCodeOf } from './errors';
