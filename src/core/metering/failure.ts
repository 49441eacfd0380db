import type { TokenUsage } from '../usage';

/**
 * How a call that did not end normally ended, in the terms the money rule needs: no provider or HTTP types, so the
 * runner (from a ProviderError, with `callFailureOf`) and the proxy (from its own stream state) describe a failure
 * the same way.
 */
export interface CallFailure {
  /** The provider's final usage, when it arrived before the failure (a stream whose last usage event came). */
  finalUsage?: TokenUsage;
  /**
   * False only when the request certainly never reached the provider (refused connection, cancelled before sending,
   * an HTTP error status before any output); true for aborts, timeouts and drops after the request left.
   */
  mayHaveBilled: boolean;
  /** What is known of a call cut short: prompt tokens from the stream's start, output tokens streamed so far. */
  partial?: { inputTokens?: number; outputTokens?: number };
  requestId?: string | null;
}

/**
 * What a failed call costs: `exact` the provider's final usage, priced; `estimated` the whole reservation (the worst
 * case the budget held), marked estimated; `release` nothing (the reservation is freed).
 */
export type FailedCallCharge = { kind: 'exact'; usage: TokenUsage } | { kind: 'estimated' } | { kind: 'release' };

/**
 * THE money rule for a failed call: exact when the provider's final usage arrived; estimated when the call may have
 * been billed; released only when it cannot have been. Tokens known to have streamed prove the request reached the
 * provider, whatever `mayHaveBilled` says: the ledger may over-count a failure (as estimated), never under-count one.
 */
export function failedCallCharge(failure: CallFailure): FailedCallCharge {
  if (failure.finalUsage) return { kind: 'exact', usage: failure.finalUsage };
  const streamed = (failure.partial?.inputTokens ?? 0) > 0 || (failure.partial?.outputTokens ?? 0) > 0;
  if (failure.mayHaveBilled || streamed) return { kind: 'estimated' };
  return { kind: 'release' };
}
