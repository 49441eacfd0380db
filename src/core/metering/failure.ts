import type { TokenUsage } from '../usage';

/** How a call that did not end normally ended, in the terms the money rule needs (no provider or HTTP types). */
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

export type FailedCallCharge = { kind: 'exact'; usage: TokenUsage } | { kind: 'estimated' } | { kind: 'release' };

/**
 * THE money rule for a failed call: exact when final usage arrived; estimated when it may have been billed;
 * released only when it cannot have been billed.
 */
export function failedCallCharge(failure: CallFailure): FailedCallCharge {
  if (failure.finalUsage) return { kind: 'exact', usage: failure.finalUsage };
  return failure.mayHaveBilled ? { kind: 'estimated' } : { kind: 'release' };
}
