import type { ProviderId } from '../usage';

/**
 * How each provider caches a prompt, beside the rates in prices.ts: the shortest prefix a model caches, and how the
 * cached prefix grows. The request builder (runner/caching.ts) marks Anthropic breakpoints only above the model's
 * minimum, and the fake providers (test/fakes/caching.ts) cache by the same numbers, so tests and the benchmark
 * measure what the providers would bill.
 *
 * - Anthropic caches a prefix only up to a `cache_control` breakpoint (at most 4 per request), and only when that
 *   prefix is at least the model's minimum; below it nothing is written and nothing is charged extra, the prompt
 *   bills as input. Prefixes are matched in the order tools → system → messages; a breakpoint also finds a hit up
 *   to 20 blocks before it. 5-minute or 1-hour life, refreshed by each read.
 * - OpenAI caches every prompt of at least 1,024 tokens by itself, the longest previously seen prefix in steps of
 *   128 tokens; `prompt_cache_key` keeps requests that share a prefix on the same cache.
 * - Gemini (2.5 and later) caches implicitly above a per-model minimum, with no write charge.
 */

export interface CacheMinimum {
  /** Matched against the price-table id (or the model id) of the call. */
  pattern: RegExp;
  tokens: number;
  source: string;
}

const ANTHROPIC_DOCS = 'https://platform.claude.com/docs/en/docs/build-with-claude/prompt-caching';
/** Anthropic's table as quoted in anthropics/anthropic-sdk-python#1194 (2026), which also reports Sonnet 4.6 at 2,048. */
const ANTHROPIC_TABLE_QUOTED = 'https://github.com/anthropics/anthropic-sdk-python/issues/1194';
/** The 2026 floors of the newest families (512 for Opus 5, Fable 5 and Mythos 5; 2,048 for Opus 4.7). */
const CREETA_2026 = 'https://dev.to/creeta/claudes-prompt-cache-fails-silently-below-1024-tokens-1ch1';
const GEMINI_DOCS = 'https://ai.google.dev/gemini-api/docs/caching (updated 2026-10-13)';
const OPENAI_DOCS = 'https://platform.openai.com/docs/guides/prompt-caching';

/**
 * Minimum cacheable prefix per Anthropic family, first match wins (checked 2026-12-03; Anthropic's own page was not
 * in reach, so the sources are quotes of it). A family not listed gets ANTHROPIC_DEFAULT_MINIMUM. Erring low costs
 * nothing: a breakpoint below a model's real floor writes nothing and bills the prompt as plain input.
 */
export const ANTHROPIC_CACHE_MINIMUMS: readonly CacheMinimum[] = [
  { pattern: /^claude-(fable|mythos|opus)-5(?!-5)/, tokens: 512, source: CREETA_2026 },
  { pattern: /^claude-opus-4-7/, tokens: 2_048, source: CREETA_2026 },
  { pattern: /^claude-opus-4-[56]/, tokens: 4_096, source: ANTHROPIC_TABLE_QUOTED },
  { pattern: /^claude-haiku-4-5/, tokens: 4_096, source: ANTHROPIC_TABLE_QUOTED },
  { pattern: /^claude-sonnet-4-6/, tokens: 2_048, source: ANTHROPIC_TABLE_QUOTED },
  { pattern: /^claude-(3-5-haiku|3-haiku|haiku-3)/, tokens: 2_048, source: ANTHROPIC_DOCS },
  {
    pattern: /^claude-(opus-4-[018]|opus-4$|sonnet-4-[05]|sonnet-4$|sonnet-5(?!-5)|3-7-sonnet)/,
    tokens: 1_024,
    source: CREETA_2026,
  },
];
export const ANTHROPIC_DEFAULT_MINIMUM = 1_024;

/** Gemini's implicit cache: minimum prompt per family (first match wins; newer families 4,096). */
export const GEMINI_CACHE_MINIMUMS: readonly CacheMinimum[] = [
  { pattern: /^gemini-2\.5-/, tokens: 2_048, source: GEMINI_DOCS },
  { pattern: /^gemini-/, tokens: 4_096, source: GEMINI_DOCS },
];

/** OpenAI caches prompts of at least this many tokens… */
export const OPENAI_CACHE_MINIMUM = 1_024;
/** …in prefixes that grow in steps of this many tokens. */
export const OPENAI_CACHE_STEP = 128;
export const OPENAI_CACHE_SOURCE = OPENAI_DOCS;

/** Anthropic's limit on `cache_control` breakpoints in one request. */
export const ANTHROPIC_MAX_BREAKPOINTS = 4;
/** How many blocks before a breakpoint Anthropic looks for a cached prefix. */
export const ANTHROPIC_LOOKBACK_BLOCKS = 20;

/** The shortest prompt prefix `model` caches (tokens), with where the number comes from. */
export function cacheMinimum(provider: ProviderId, model: string): { tokens: number; source: string } {
  const id = model
    .trim()
    .toLowerCase()
    .replace(/^models\//, '');
  switch (provider) {
    case 'anthropic': {
      const hit = ANTHROPIC_CACHE_MINIMUMS.find((m) => m.pattern.test(id));
      return hit
        ? { tokens: hit.tokens, source: hit.source }
        : { tokens: ANTHROPIC_DEFAULT_MINIMUM, source: ANTHROPIC_DOCS };
    }
    case 'gemini': {
      const hit = GEMINI_CACHE_MINIMUMS.find((m) => m.pattern.test(id));
      return hit ? { tokens: hit.tokens, source: hit.source } : { tokens: 4_096, source: GEMINI_DOCS };
    }
    case 'openai':
      return { tokens: OPENAI_CACHE_MINIMUM, source: OPENAI_DOCS };
  }
}
