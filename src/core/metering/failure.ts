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
  /**
   * What is known of a call cut short once its stream had started: prompt tokens from the stream's start, output
   * tokens the provider reported so far, and the UTF-8 bytes of the output streamed so far (text and tool-call
   * arguments). Present only when the stream started; absent, nothing is known beyond the request.
   */
  partial?: {
    inputTokens?: number;
    outputTokens?: number;
    /** UTF-8 bytes of the output received: an upper bound of its tokens (every token is at least one byte). */
    outputBytes?: number;
    /** The provider's split of the prompt (cache reads and writes bill at other rates than plain input). */
    inputUsage?: PromptSplit;
    /**
     * The model may have reasoned without streaming it (OpenAI's reasoning models report those tokens only in the
     * final usage): the output streamed bounds nothing, so the whole reservation is charged.
     */
    hiddenReasoning?: boolean;
  };
  requestId?: string | null;
}

/**
 * The margin on output streamed before a cut: tokens the provider generated after the last one we received and
 * before it noticed the disconnect. +10 % of what streamed, plus 16 tokens.
 */
export const CUT_OUTPUT_MARGIN = { percent: 10, tokens: 16 } as const;

/** The prompt side of a usage: plain input, cache reads and writes (they bill at different rates). */
export type PromptSplit = Pick<TokenUsage, 'input' | 'cacheRead' | 'cacheWrite5m' | 'cacheWrite1h'>;

/**
 * The best upper estimate of a call cut short: the prompt as the provider counted it at the stream's start
 * (undefined: unreported, so the reservation's prompt count — the exact count or the upper bound it was admitted
 * with), and the output tokens streamed so far plus `CUT_OUTPUT_MARGIN`. The engine prices it and caps it at the
 * reservation (src/core/budget/ledgerRows.ts).
 */
export interface CutEstimate {
  prompt?: PromptSplit;
  output: number;
}

/**
 * What a failed call costs: `exact` the provider's final usage, priced; `estimated` with `cut` the estimate from
 * what streamed, priced and capped at the reservation; `estimated` without `cut` (nothing streamed: a timeout
 * before any event) the whole reservation, the worst case the budget held — every estimated row marked so;
 * `release` nothing (the reservation is freed).
 */
export type FailedCallCharge =
  { kind: 'exact'; usage: TokenUsage } | { kind: 'estimated'; cut?: CutEstimate } | { kind: 'release' };

/**
 * THE money rule for a failed call: exact when the provider's final usage arrived; estimated when the call may have
 * been billed — from what streamed once the stream had started, else the whole reservation; released only when it
 * cannot have been. Tokens known to have streamed prove the request reached the provider, whatever `mayHaveBilled`
 * says: the ledger may over-count a failure (as estimated), never under-count one.
 */
export function failedCallCharge(failure: CallFailure): FailedCallCharge {
  if (failure.finalUsage) return { kind: 'exact', usage: failure.finalUsage };
  const p = failure.partial;
  const streamed = (p?.inputTokens ?? 0) > 0 || (p?.outputTokens ?? 0) > 0 || (p?.outputBytes ?? 0) > 0;
  if (!failure.mayHaveBilled && !streamed) return { kind: 'release' };
  if (!p || p.hiddenReasoning) return { kind: 'estimated' };
  const seen = Math.max(p.outputTokens ?? 0, p.outputBytes ?? 0);
  // Integer arithmetic: 200 × 1.1 is 220.00000000000003 in floating point.
  const output = seen + Math.ceil((seen * CUT_OUTPUT_MARGIN.percent) / 100) + CUT_OUTPUT_MARGIN.tokens;
  const inputTokens = p.inputTokens ?? 0;
  if (inputTokens <= 0) return { kind: 'estimated', cut: { output } };
  const prompt = p.inputUsage ?? { input: inputTokens, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 };
  return { kind: 'estimated', cut: { prompt, output } };
}
