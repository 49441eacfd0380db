/**
 * One normalized usage record per provider call. Every token kind is disjoint: no token is in two fields,
 * so totals are plain sums (see docs/product.md "Billing facts to get right").
 */
export interface TokenUsage {
  /** Uncached input tokens billed at the base input rate (excludes cache reads and writes). */
  input: number;
  /** Visible output tokens, excluding reasoning. */
  output: number;
  /** Input tokens read from the prompt cache. */
  cacheRead: number;
  /** Input tokens written to a 5-minute cache (Anthropic) or to a cache at the provider's single write rate. */
  cacheWrite5m: number;
  /** Input tokens written to a 1-hour cache (Anthropic). */
  cacheWrite1h: number;
  /** Reasoning / thinking tokens, billed as output. */
  reasoning: number;
}

export const ZERO_USAGE: Readonly<TokenUsage> = Object.freeze({
  input: 0,
  output: 0,
  cacheRead: 0,
  cacheWrite5m: 0,
  cacheWrite1h: 0,
  reasoning: 0,
});

/** Prompt-side tokens: what the `above` price tiers and the input estimate compare against. */
export function promptTokens(u: TokenUsage): number {
  return u.input + u.cacheRead + u.cacheWrite5m + u.cacheWrite1h;
}

/** Output-side tokens, reasoning included (both are billed at the output rate). */
export function completionTokens(u: TokenUsage): number {
  return u.output + u.reasoning;
}

/** Tokens that count against task and session limits (docs/policy.md: all input + all output). */
export function totalTokens(u: TokenUsage): number {
  return promptTokens(u) + completionTokens(u);
}

export function addUsage(a: TokenUsage, b: TokenUsage): TokenUsage {
  return {
    input: a.input + b.input,
    output: a.output + b.output,
    cacheRead: a.cacheRead + b.cacheRead,
    cacheWrite5m: a.cacheWrite5m + b.cacheWrite5m,
    cacheWrite1h: a.cacheWrite1h + b.cacheWrite1h,
    reasoning: a.reasoning + b.reasoning,
  };
}

export type ProviderId = 'anthropic' | 'openai' | 'gemini';
export const PROVIDERS: readonly ProviderId[] = ['anthropic', 'openai', 'gemini'];
