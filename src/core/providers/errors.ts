import { AgentBudgetError, type ErrorKind } from '../errors';
import type { CallFailure } from '../metering/failure';
import { ZERO_USAGE, type ProviderId, type TokenUsage } from '../usage';
import type { ToolCall } from './types';

/**
 * Every failure of a provider call is one `ProviderError` with a `kind` the runner and the budget engine branch on,
 * and a message a person can act on. Messages are built here from the kind and status — never from the SDK's own
 * text for auth errors (OpenAI echoes a masked key there) — and every string that leaves this module is passed
 * through `redactSecrets` so an API key can never reach a notification, a log or the ledger.
 */
export type ProviderErrorKind =
  | 'auth'
  | 'rateLimit'
  /** The account is out of quota or credit (OpenAI 429 `insufficient_quota`): a billing matter, never retried. */
  | 'quota'
  | 'overloaded'
  | 'server'
  | 'timeout'
  | 'contextLength'
  | 'refused'
  | 'badRequest'
  | 'network'
  | 'aborted'
  | 'streamCut';

/** What a call had produced when it died: the budget engine charges the reservation and keeps this. */
export interface PartialCallResult {
  text: string;
  toolCalls: ToolCall[];
  /** Usage fields the provider had reported before the failure (e.g. input tokens from Anthropic `message_start`). */
  usage?: Partial<TokenUsage>;
  usageRaw?: unknown;
  /**
   * True when `usage` is the provider's final report of a call that completed (e.g. a refusal): the call can be
   * settled exactly instead of at its reservation.
   */
  usageFinal?: boolean;
  /** UTF-8 bytes of output streamed besides `text` (thinking, tool-call arguments). */
  otherOutputBytes?: number;
  /** The model may have reasoned without streaming it: what streamed does not bound the output billed. */
  hiddenReasoning?: boolean;
}

export interface ProviderErrorInit {
  provider: ProviderId;
  kind: ProviderErrorKind;
  message: string;
  status?: number;
  /** How long the provider asked us to wait (retry-after / retry-after-ms / Gemini RetryInfo). */
  retryAfterMs?: number;
  requestId?: string;
  partial?: PartialCallResult;
  /** A sanitized copy of the underlying error (name and redacted message only). */
  cause?: Error;
  /** Overrides the default retryability of the kind/status. */
  retryable?: boolean;
  /** Overrides the default of `mayHaveBilled` (e.g. false when the request is known never to have left). */
  mayHaveBilled?: boolean;
}

export const PROVIDER_NAMES: Record<ProviderId, string> = {
  anthropic: 'Anthropic',
  openai: 'OpenAI',
  gemini: 'Gemini',
};

export const API_KEY_ENV: Record<ProviderId, string> = {
  anthropic: 'ANTHROPIC_API_KEY',
  openai: 'OPENAI_API_KEY',
  gemini: 'GEMINI_API_KEY',
};

export class ProviderError extends AgentBudgetError {
  override readonly name = 'ProviderError';
  readonly provider: ProviderId;
  readonly kind: ProviderErrorKind;
  readonly status?: number;
  readonly retryAfterMs?: number;
  readonly requestId?: string;
  readonly partial?: PartialCallResult;
  /** Whether `retry.ts` may try the call again (never once a stream has started: see `partial`). */
  readonly retryable: boolean;
  /**
   * The provider may have billed this call although no usage arrived: the request went out and no HTTP error came
   * back (aborted, timed out, connection lost). The ledger then charges the reservation as estimated.
   */
  readonly mayHaveBilled: boolean;

  constructor(init: ProviderErrorInit) {
    super(errorKindOfProvider(init.kind), init.message, init.cause ? { cause: init.cause } : undefined);
    this.provider = init.provider;
    this.kind = init.kind;
    this.status = init.status;
    this.retryAfterMs = init.retryAfterMs;
    this.requestId = init.requestId;
    this.partial = init.partial;
    this.mayHaveBilled =
      init.mayHaveBilled ??
      (init.partial !== undefined ||
        (init.status === undefined && ['aborted', 'timeout', 'network', 'streamCut'].includes(init.kind)));
    // A call that may have been billed is not retried here: its reservation covers one call, so a second attempt
    // could spend past a hard limit, and the first attempt's charge would go unrecorded. The runner charges it as
    // estimated and the run stops resumable; a resume is a new admission.
    this.retryable =
      init.retryable ??
      (init.partial === undefined && !this.mayHaveBilled && isRetryableByDefault(init.kind, init.status));
  }

  /** A copy carrying what the stream had produced; a started stream is never retried. */
  withPartial(partial: PartialCallResult): ProviderError {
    return new ProviderError({ ...this.init(), partial, retryable: false, mayHaveBilled: true });
  }

  private init(): ProviderErrorInit {
    return {
      provider: this.provider,
      kind: this.kind,
      message: this.message,
      status: this.status,
      retryAfterMs: this.retryAfterMs,
      requestId: this.requestId,
      partial: this.partial,
      cause: this.cause as Error | undefined,
      mayHaveBilled: this.mayHaveBilled,
    };
  }
}

/**
 * How a failed provider call ended, for the money rule (`failedCallCharge`): the adapters detect whether the request
 * may have been billed (`mayHaveBilled`, a partial stream) and what usage had arrived; this reads it off the error.
 * Anything else thrown from a call is taken as possibly billed: when we cannot tell, the ledger over-counts (the
 * reservation, marked estimated) rather than under-counts.
 */
export function callFailureOf(err: unknown): CallFailure {
  if (!(err instanceof ProviderError)) return { mayHaveBilled: true };
  const partial = err.partial;
  const usage = partial?.usage;
  const failure: CallFailure = {
    mayHaveBilled: err.mayHaveBilled || partial !== undefined,
    requestId: err.requestId ?? null,
  };
  if (partial?.usageFinal && usage) failure.finalUsage = { ...ZERO_USAGE, ...usage };
  if (partial) {
    const sum = (...n: Array<number | undefined>) => n.reduce<number>((a, b) => a + (b ?? 0), 0);
    // The output received, as UTF-8 bytes: an upper bound of its tokens, whatever the tokenizer.
    const outputBytes =
      Buffer.byteLength(partial.text, 'utf8') +
      (partial.otherOutputBytes ?? 0) +
      partial.toolCalls.reduce((n, t) => n + Buffer.byteLength(t.name + JSON.stringify(t.input ?? {}), 'utf8'), 0);
    failure.partial = {
      inputTokens: sum(usage?.input, usage?.cacheRead, usage?.cacheWrite5m, usage?.cacheWrite1h),
      outputTokens: sum(usage?.output, usage?.reasoning),
      outputBytes,
      ...(partial.hiddenReasoning ? { hiddenReasoning: true } : {}),
      ...(usage
        ? {
            inputUsage: {
              input: usage.input ?? 0,
              cacheRead: usage.cacheRead ?? 0,
              cacheWrite5m: usage.cacheWrite5m ?? 0,
              cacheWrite1h: usage.cacheWrite1h ?? 0,
            },
          }
        : {}),
    };
  }
  return failure;
}

/** What a front end decides on: the key refused, a wait asked for, a cancel, or any other provider failure. */
function errorKindOfProvider(kind: ProviderErrorKind): ErrorKind {
  if (kind === 'auth' || kind === 'rateLimit') return kind;
  return kind === 'aborted' ? 'cancelled' : 'provider';
}

/** 408, 409, 429 and 5xx (incl. Anthropic 529) are worth another try; other 4xx are not. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

function isRetryableByDefault(kind: ProviderErrorKind, status: number | undefined): boolean {
  if (kind === 'quota') return false;
  if (status !== undefined) return isRetryableStatus(status);
  // No HTTP status: a connection that failed before any response, or an overload/server error event.
  return kind === 'network' || kind === 'overloaded' || kind === 'server' || kind === 'rateLimit';
}

/** Replaces every occurrence of each secret (and any `key=` query value) with a marker. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join('[redacted]');
  }
  return out.replace(/([?&](?:key|api_key|apikey)=)[^&\s"']+/gi, '$1[redacted]');
}

/** A cause that keeps the SDK error's name, status and (redacted) message but none of its objects (headers, config). */
export function sanitizedCause(err: unknown, secrets: readonly string[]): Error {
  const source = err instanceof Error ? err : new Error(String(err));
  const copy = new Error(redactSecrets(source.message, secrets));
  copy.name = source.name;
  copy.stack = `${copy.name}: ${copy.message}`;
  const inner = (source as { cause?: unknown }).cause;
  if (inner !== undefined && inner !== source) {
    (copy as { cause?: unknown }).cause = sanitizedCause(inner, secrets);
  }
  return copy;
}

export interface ErrorFacts {
  provider: ProviderId;
  kind: ProviderErrorKind;
  status?: number;
  retryAfterMs?: number;
  /** The provider's own explanation (used for bad requests and context errors, redacted). */
  apiMessage?: string;
  model?: string;
  baseUrl?: string;
  timeoutMs?: number;
  networkCode?: string;
}

/** The message a user sees for each kind: what happened and what to do about it. */
export function describeProviderError(f: ErrorFacts): string {
  const name = PROVIDER_NAMES[f.provider];
  const status = f.status !== undefined ? ` (${f.status})` : '';
  switch (f.kind) {
    case 'auth':
      if (f.status === 403) {
        return `${name} refused the API key for this request (403): the key lacks permission for ${f.model ?? 'this model'}. Check the key's project or plan, or set another key with 'Agent Budget: Set API Key…' or ${API_KEY_ENV[f.provider]}.`;
      }
      return `${name} rejected the API key${status}. Set a valid key with 'Agent Budget: Set API Key…' or ${API_KEY_ENV[f.provider]}.`;
    case 'rateLimit': {
      const wait = f.retryAfterMs !== undefined ? ` ${name} asked to wait ${Math.ceil(f.retryAfterMs / 1000)}s.` : '';
      return `${name} rate limit reached${status}.${wait} Resume the run later, run fewer workflows at once, or raise the limit on your ${name} account.`;
    }
    case 'quota':
      return `${name} refused the call: the account has run out of quota or credit${status}${f.apiMessage ? ` (${f.apiMessage})` : ''}. Check your ${name} plan and billing details, then resume the run.`;
    case 'overloaded':
      return `${name} is overloaded${status}. Try again in a few minutes or switch the workflow to another model.`;
    case 'server':
      // Said the same whether or not retries were left: this message is built per attempt.
      if (f.status === 504)
        return `A gateway timed out waiting for ${name} (504). Try again in a few minutes, or shorten the request.`;
      if (f.status === 408)
        return `${name} timed out waiting for the request (408). Check your connection and try again.`;
      return `${name} had a server error${status}. Try again in a few minutes.`;
    case 'timeout':
      // Our own idle timer (or the SDK's): nothing arrived for that long. Provider-side timeouts are `server`.
      return `${name} did not respond within ${Math.round((f.timeoutMs ?? 0) / 1000)}s. Check your connection or the base URL, or raise the timeout.`;
    case 'contextLength':
      return `The request is too long for ${f.model ?? 'the model'}'s context window${status}. Shorten the input (fewer files, a smaller selection) or route to a model with a larger context.${f.apiMessage ? ` ${name} said: ${f.apiMessage}` : ''}`;
    case 'refused':
      return `${name} declined to answer (content policy or safety filter). Rephrase the request or remove the flagged content.`;
    case 'badRequest':
      return `${name} rejected the request${status}${f.apiMessage ? `: ${f.apiMessage}` : ''}. Check the model name and the workflow's settings.`;
    case 'network':
      return `Could not reach ${name}${f.baseUrl ? ` at ${f.baseUrl}` : ''}${f.networkCode ? ` (${f.networkCode})` : ''}. Check your connection and the provider's base URL setting.`;
    case 'aborted':
      return `The ${name} call was cancelled.`;
    case 'streamCut':
      return `The ${name} response stream ended before its final event. The partial answer is kept and the call is charged an estimate from what streamed (marked estimated); resume the run to retry the step.`;
  }
}

/**
 * Parses `retry-after-ms`, then `retry-after` as seconds or an HTTP date. Returns undefined when absent or
 * unparsable. `now` is injectable so tests with a fixed date are exact.
 */
export function parseRetryAfter(
  get: (name: string) => string | null | undefined,
  now: () => number = Date.now,
): number | undefined {
  const ms = get('retry-after-ms');
  if (ms != null && ms.trim() !== '') {
    const v = Number(ms);
    if (Number.isFinite(v) && v >= 0) return Math.round(v);
  }
  const ra = get('retry-after');
  if (ra == null || ra.trim() === '') return undefined;
  const seconds = Number(ra);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(ra);
  if (Number.isFinite(date)) return Math.max(0, date - now());
  return undefined;
}

/** Gemini puts the wait in the error body: `details: [{"@type": "…RetryInfo", "retryDelay": "13s"}]`. */
export function parseGoogleRetryDelay(body: unknown): number | undefined {
  const details = (body as { error?: { details?: unknown } } | undefined)?.error?.details;
  if (!Array.isArray(details)) return undefined;
  for (const d of details) {
    const delay = (d as { retryDelay?: unknown })?.retryDelay;
    if (typeof delay === 'string') {
      const m = /^(\d+(?:\.\d+)?)s$/.exec(delay.trim());
      if (m) return Math.round(Number(m[1]) * 1000);
    }
  }
  return undefined;
}

const CONTEXT_PATTERNS = [
  /context[_ ]length/i,
  /prompt is too long/i,
  /maximum context/i,
  /too many (input )?tokens/i,
  /input token count .* exceeds/i,
  /exceeds the maximum number of tokens/i,
  /context window/i,
];

export function looksLikeContextLength(text: string | undefined): boolean {
  return !!text && CONTEXT_PATTERNS.some((re) => re.test(text));
}

/** Node/undici connection failures carry a `code` somewhere down the cause chain. */
export function networkCodeOf(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 5 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z_]+$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Maps a status with no better information to a kind. */
export function kindForStatus(status: number, apiText?: string): ProviderErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 429) return 'rateLimit';
  if (status === 529 || status === 503) return 'overloaded';
  // 504 (a gateway, or Gemini DEADLINE_EXCEEDED) and 408 are the server giving up, not our timer: retried like 5xx.
  if (status >= 500 || status === 408 || status === 409) return 'server';
  if (status === 413 || looksLikeContextLength(apiText)) return 'contextLength';
  return 'badRequest';
}
