import { ProviderError } from './errors';

/**
 * The one place provider calls are retried. The SDKs' own retries are switched off (maxRetries: 0, no Gemini
 * retryOptions) because they cannot see what we must know: whether a stream already handed content to the caller
 * (then a retry would show the user the answer twice and bill it twice), how long a budget-paused run may wait,
 * and the injected clock that keeps tests fast.
 *
 * Policy:
 * - retried: 408, 409, 429, 5xx (incl. Anthropic 529 "overloaded", gateway timeouts 504 and Gemini
 *   DEADLINE_EXCEEDED), and connections refused before the request left; never a connection lost after it left
 *   (`mayHaveBilled`: the provider may bill it, and a retry would spend past the reservation); never other 4xx, never a 429 for an
 *   exhausted quota (kind `quota`: waiting does not refill it), never a client-side timeout (a hung call would
 *   multiply the wall time), never an error that carries `partial` (the stream had started, so tokens may be
 *   billed and text shown);
 * - wait: the provider's `retry-after-ms` / `retry-after` (seconds or HTTP date) / Gemini RetryInfo when given,
 *   else exponential backoff with "equal jitter": half the step fixed, half random, capped at `maxDelayMs`;
 * - a requested wait longer than `maxRetryAfterMs` is not slept through: the rateLimit error is thrown with its
 *   `retryAfterMs` so the runner can pause the run instead of holding the extension host;
 * - an abort during the wait ends it at once.
 */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 3,
  baseDelayMs: 500,
  maxDelayMs: 8_000,
  maxRetryAfterMs: 60_000,
};

/** Waits `ms`, or rejects as soon as `signal` aborts. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const realSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason ?? new Error('aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export interface RetryDeps {
  sleep: Sleep;
  /** Uniform in [0, 1). */
  random: () => number;
}

export const realRetryDeps: RetryDeps = { sleep: realSleep, random: Math.random };

export interface RetryEvent {
  attempt: number;
  delayMs: number;
  error: ProviderError;
}

/** Delay before retry number `retry` (0-based) when the provider gave no retry-after. */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.round(step / 2 + random() * (step / 2));
}

export async function withRetry<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  options: {
    policy: RetryPolicy;
    deps: RetryDeps;
    signal?: AbortSignal;
    /** Builds the error thrown when the caller aborts during a wait. */
    onAbort: () => ProviderError;
    onRetry?: (event: RetryEvent) => void;
  },
): Promise<T> {
  const { policy, deps, signal } = options;
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (!(err instanceof ProviderError) || !err.retryable || n >= policy.maxRetries) throw err;
      if (signal?.aborted) throw options.onAbort();
      let delayMs: number;
      if (err.retryAfterMs !== undefined) {
        if (err.retryAfterMs > policy.maxRetryAfterMs) throw err;
        delayMs = err.retryAfterMs;
      } else {
        delayMs = backoffDelay(n, policy, deps.random);
      }
      options.onRetry?.({ attempt: n + 1, delayMs, error: err });
      try {
        await deps.sleep(delayMs, signal);
      } catch {
        throw options.onAbort();
      }
      if (signal?.aborted) throw options.onAbort();
    }
  }
}

/**
 * One attempt's cancellation: links the caller's signal to a controller the SDK gets, and arms an idle timer that
 * aborts when nothing has arrived for `timeoutMs` (a stalled stream, or a server that never answers). `touch()`
 * re-arms it on every event. Afterwards `reason` tells an abort by the caller from a timeout.
 */
export class AttemptGuard {
  readonly controller = new AbortController();
  /**
   * Set once the SDK handed the request to `fetch`: from then on the provider may have received it, and may bill it
   * even if no answer comes back. Before that, an abort or timeout provably cost nothing.
   */
  requestSent = false;
  /** The fetch this attempt's SDK call uses: it records that the request left, and headers arriving count as life. */
  readonly fetch: typeof fetch = async (input, init) => {
    this.requestSent = true;
    const response = await globalThis.fetch(input, init);
    this.touch();
    return response;
  };
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timedOutFlag = false;
  private readonly onCallerAbort = () => this.controller.abort(this.callerSignal?.reason);

  constructor(
    private readonly timeoutMs: number,
    private readonly callerSignal?: AbortSignal,
  ) {
    if (callerSignal?.aborted) this.controller.abort(callerSignal.reason);
    else callerSignal?.addEventListener('abort', this.onCallerAbort, { once: true });
    this.touch();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Something arrived: the call is alive. */
  touch(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.controller.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.timedOutFlag = true;
      this.controller.abort(new Error('timeout'));
    }, this.timeoutMs);
  }

  get reason(): 'aborted' | 'timeout' | undefined {
    if (this.callerSignal?.aborted) return 'aborted';
    if (this.timedOutFlag) return 'timeout';
    return undefined;
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
  }
}
