import type { PriceRates } from '../policy/types';
import type { ProviderId } from '../usage';

/**
 * THE price table: every built-in model the product can bill, in USD per million tokens exactly as the providers
 * publish them, with where each number came from and when it was checked. `cost.ts` turns these into integer
 * micro-dollars; workspaces add or replace entries through `prices` in .agent-budget/budget.json. A price that
 * changes on a known day (an earlier rate, an announced change, a promotion that ends) is a `dated` span: a call is
 * billed at the rates of its UTC day, so a month that spans a change is priced day by day.
 *
 * @pydantic/genai-prices: the SECOND source, never the first (re-evaluated 2026-12-03, v0.1.8 of 2026-09-23, the
 * latest on npm). Measured: 42 of the 49 entries here are in it and all 42 agree on input, output and cache-read
 * rates; the 7 it lacks are the newest (claude-fable-5-2, claude-mythos-5-2, -5-1 and -5, claude-haiku-5-5,
 * claude-sonnet-5-5 — which it prices as claude-sonnet-5, missing the 2026-10-07 cache cut —, gpt-6.2-sol), and
 * it has no gpt-6.2-astra, gpt-6.1-sol or gpt-6.1-terra either: ten weeks behind the providers. It lists 121 models of our three providers that we do not (older
 * and variant ids: gpt-4-turbo, claude-3-opus, gemini-1.5-pro, the -pro, -codex and -chat-latest ids, the Gemini
 * 3.6–3.8 Flash promotions with their 2027-01-01 end, GPT-5.6 Terra/Luna with their 2026-07-30 cuts). Bundled with
 * esbuild (minified, node20) it is 477 KB (77 KB gzipped) against 1.83 MB for the extension and 1.79 MB for the
 * CLI: +26 %. Licence MIT. Its data is its release's (we never call `updatePrices`, which would fetch from GitHub).
 * So: it prices a model only when this table and `prices` both lack it and the id is not one refused on purpose,
 * marked in `priceSource` (`genai-prices 0.1.8 (data of …)`) and in the ledger (`genai-prices`); it lives in its
 * own lazily required bundle (dist/genaiPrices.js, see secondSource.ts), so activation and the CLI never load it
 * unless such a model is used. It has no max output (the clamp falls back to the request and the budget).
 *
 * How to update: change the rates, `asOf` and `source` of the entry (or add a `dated` span when a price changes
 * on a day, keeping the old rates for the days before), and the hand-worked tests in test/unit/pricing. An
 * `above` tier bills the WHOLE call (input, cache and output) at its rates once the call's prompt tokens (input +
 * cache reads + cache writes) exceed `tokens`. `agent-budget prices` shows the table as a user sees it.
 *
 * Absent from this table (the second source may price them, marked so; otherwise an unknown model is an error,
 * never $0; add a `prices` entry to use one):
 * - OpenAI gpt-6.2-astra, gpt-6.1-sol, gpt-6.1-terra, gpt-6-sol, gpt-6-luna, gpt-6-astra, gpt-5.6-*, the -pro
 *   models (gpt-5.5-pro, gpt-5.4-pro, gpt-5.2-pro, gpt-5-pro, o3-pro), the -codex and -chat-latest variants: OpenAI's
 *   own pages for them were not in reach when this table was checked (2026-12-03; only gpt-6.2-sol's was), and
 *   third-party pages are not a source here. All but gpt-6.2-astra, gpt-6.1-sol and gpt-6.1-terra are in the
 *   second source.
 * - Gemini 3.6/3.7/3.8 Flash: Google's pricing page was not in reach on 2026-12-03; the second source has their
 *   introductory rates and the doubling on 2027-01-01.
 * - Moving aliases (`gemini-flash-latest`, `gemini-pro-latest`): Google repoints them to new models without a
 *   change of name, so no fixed price is right for long (see `MOVING_ALIASES`).
 * - Snapshots that bill differently from the model they look like (see `SNAPSHOTS_PRICED_APART`).
 * - Batch, flex and priority service tiers, data-residency multipliers, Gemini cache storage per hour, tool fees.
 */
export interface ModelPrice extends PriceRates {
  provider: ProviderId;
  /** Above this many prompt tokens the whole call bills at these rates. */
  above?: PriceRates & { tokens: number };
  /**
   * Rates that replace the ones above over a span of days: an earlier price, a change announced for later, or a
   * promotion. The entry's own rates are the standard list price, in force on every day no span covers.
   */
  dated?: DatedRates[];
  /** Largest `max_tokens` the model accepts (the budget engine clamps to it). */
  maxOutputTokens: number;
  /** Prompt + output tokens the model can attend to. */
  contextWindow: number;
  /** Other ids the provider serves this model under (besides dated snapshots, which match automatically). */
  aliases?: string[];
  /** The page the rates were read from. */
  source: string;
  /** When the rates were last checked against `source` (YYYY-MM-DD). */
  asOf: string;
  note?: string;
}

/**
 * Rates in force over a span of UTC calendar days (`YYYY-MM-DD`; a call is priced by the UTC day it is made, a
 * report by the day it is filed under). Omitted cache rates follow the provider's rule as for the standard rates.
 */
export interface DatedRates extends PriceRates {
  /** First day these rates apply; absent = since the model was released. */
  from?: string;
  /** First day they no longer apply (the day the next rates start); absent = no end announced. */
  until?: string;
  /** A temporary rate the provider says ends on `until`, after which the standard rates apply again. */
  promotion?: boolean;
  /** The long-prompt tier in this span; absent = the entry's own `above` (a span never makes a long prompt cheaper). */
  above?: PriceRates & { tokens: number };
  /** Where these rates were read, when it is not the entry's `source`. */
  source?: string;
  note?: string;
}

const ANTHROPIC_PRICING = 'https://platform.claude.com/docs/en/about-claude/pricing';
const FABLE_5_2 = 'https://platform.claude.com/docs/en/models/fable-5-2/whats-new-fable-5-2';
const OPENAI_PRICING = 'https://developers.openai.com/api/docs/pricing';
const GEMINI_PRICING = 'https://ai.google.dev/gemini-api/docs/pricing';
const CHECKED = '2026-11-22';

/** Anthropic's standard cache multipliers: read 0.1×, 5-minute write 1.25×, 1-hour write 2× the input rate. */
function claude(
  input: number,
  output: number,
  extra: Omit<ModelPrice, 'provider' | 'inputPerMTok' | 'outputPerMTok' | 'source' | 'asOf'> & {
    source?: string;
    asOf?: string;
  },
): ModelPrice {
  return {
    provider: 'anthropic',
    inputPerMTok: input,
    outputPerMTok: output,
    cacheReadPerMTok: round6(input * 0.1),
    cacheWrite5mPerMTok: round6(input * 1.25),
    cacheWrite1hPerMTok: round6(input * 2),
    source: ANTHROPIC_PRICING,
    asOf: CHECKED,
    ...extra,
  };
}

function round6(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

const MTOK_1M = 1_000_000;

export const BUILT_IN_PRICES: Readonly<Record<string, ModelPrice>> = {
  // ── Anthropic ─────────────────────────────────────────────────────────────────────────────────────────
  'claude-fable-5-2': claude(8, 40, {
    cacheReadPerMTok: 0.2,
    maxOutputTokens: 128_000,
    contextWindow: MTOK_1M,
    source: FABLE_5_2,
    asOf: '2026-12-03',
    note: 'Released 2026-11-09, 20% below Fable 5.1; cache hits stay at 0.025× input.',
  }),
  'claude-mythos-5-2': claude(8, 40, {
    cacheReadPerMTok: 0.2,
    maxOutputTokens: 128_000,
    contextWindow: MTOK_1M,
    source: FABLE_5_2,
    asOf: '2026-12-03',
    note: 'Limited availability (verification programs); same specifications and price as Fable 5.2.',
  }),
  'claude-fable-5-1': claude(10, 50, {
    cacheReadPerMTok: 0.25,
    maxOutputTokens: 128_000,
    contextWindow: MTOK_1M,
    note: 'Cache hits are 0.025× input on Fable/Mythos 5.1.',
  }),
  'claude-mythos-5-1': claude(10, 50, {
    cacheReadPerMTok: 0.25,
    maxOutputTokens: 128_000,
    contextWindow: MTOK_1M,
    note: 'Limited availability; priced as Fable 5.1.',
  }),
  'claude-fable-5': claude(10, 50, { maxOutputTokens: 128_000, contextWindow: MTOK_1M }),
  'claude-mythos-5': claude(10, 50, { maxOutputTokens: 128_000, contextWindow: MTOK_1M }),
  'claude-opus-5-5': claude(4, 20, {
    cacheReadPerMTok: 0.2,
    maxOutputTokens: 128_000,
    contextWindow: MTOK_1M,
    source: 'https://platform.claude.com/docs/en/models/opus-5-5/overview',
    note: 'Cache hits are 0.05× input on Opus 5.5.',
  }),
  'claude-opus-5': claude(5, 25, { maxOutputTokens: 128_000, contextWindow: MTOK_1M }),
  'claude-opus-4-8': claude(5, 25, { maxOutputTokens: 128_000, contextWindow: MTOK_1M }),
  'claude-opus-4-7': claude(5, 25, { maxOutputTokens: 128_000, contextWindow: MTOK_1M }),
  'claude-opus-4-6': claude(5, 25, {
    maxOutputTokens: 128_000,
    contextWindow: MTOK_1M,
    note: 'Flat across the 1M window since 2026-03-13 (the >200k surcharge was removed).',
  }),
  'claude-opus-4-5': claude(5, 25, { maxOutputTokens: 64_000, contextWindow: 200_000 }),
  'claude-opus-4-1': claude(15, 75, { maxOutputTokens: 32_000, contextWindow: 200_000 }),
  'claude-opus-4-0': claude(15, 75, { maxOutputTokens: 32_000, contextWindow: 200_000, aliases: ['claude-opus-4'] }),
  'claude-sonnet-5-5': claude(2, 10, {
    cacheReadPerMTok: 0.1,
    maxOutputTokens: 128_000,
    contextWindow: MTOK_1M,
    // Calls before the cut billed cache hits at the standard 0.1× input.
    dated: [{ until: '2026-10-07', inputPerMTok: 2, outputPerMTok: 10, cacheReadPerMTok: 0.2 }],
    note: 'Cache hits cut from $0.20 to $0.10 (0.05× input) on 2026-10-07.',
  }),
  'claude-sonnet-5': claude(2, 10, {
    maxOutputTokens: 128_000,
    contextWindow: MTOK_1M,
    source: 'https://platform.claude.com/docs/en/models/sonnet-5/overview',
  }),
  'claude-sonnet-4-6': claude(3, 15, {
    maxOutputTokens: 64_000,
    contextWindow: MTOK_1M,
    note: 'Flat across the 1M window since 2026-03-13 (the >200k surcharge was removed).',
  }),
  'claude-sonnet-4-5': claude(3, 15, {
    maxOutputTokens: 64_000,
    contextWindow: 200_000,
    above: {
      tokens: 200_000,
      inputPerMTok: 6,
      outputPerMTok: 22.5,
      cacheReadPerMTok: 0.6,
      cacheWrite5mPerMTok: 7.5,
      cacheWrite1hPerMTok: 12,
    },
    source: 'https://platform.claude.com/docs/en/about-claude/pricing#long-context-pricing',
    note: 'The 1M-context beta ended 2026-04-30; the >200k tier prices calls made under it.',
  }),
  'claude-sonnet-4-0': claude(3, 15, {
    maxOutputTokens: 64_000,
    contextWindow: 200_000,
    aliases: ['claude-sonnet-4'],
    above: {
      tokens: 200_000,
      inputPerMTok: 6,
      outputPerMTok: 22.5,
      cacheReadPerMTok: 0.6,
      cacheWrite5mPerMTok: 7.5,
      cacheWrite1hPerMTok: 12,
    },
    source: 'https://docs.anthropic.com/en/docs/about-claude/pricing#long-context-pricing',
  }),
  'claude-haiku-5-5': claude(0.1, 0.5, {
    maxOutputTokens: 128_000,
    contextWindow: MTOK_1M,
    above: {
      tokens: 100_000,
      inputPerMTok: 0.5,
      outputPerMTok: 2.5,
      cacheReadPerMTok: 0.05,
      cacheWrite5mPerMTok: 0.625,
      cacheWrite1hPerMTok: 1,
    },
    source: 'https://platform.claude.com/docs/en/models/haiku-5-5/overview',
    note: 'Prompts over 100k tokens bill the whole call at 5×.',
  }),
  'claude-haiku-4-5': claude(1, 5, { maxOutputTokens: 64_000, contextWindow: 200_000 }),
  'claude-3-5-haiku': claude(0.8, 4, { maxOutputTokens: 8_192, contextWindow: 200_000 }),

  // ── OpenAI ────────────────────────────────────────────────────────────────────────────────────────────
  // Cached input is a per-model discount (0.1× on GPT-5.x, 0.25× on GPT-4.1 and o3/o4-mini, 0.5× on GPT-4o),
  // so every entry states it. Cache writes (`cache_write_tokens`) carry no premium before GPT-5.6: `openai()`
  // prices them as input unless the entry gives the write rate.
  'gpt-6.2-sol': openai(2, 0.1, 10, 128_000, 1_050_000, {
    cacheWrite5mPerMTok: 2.5,
    above: { tokens: 272_000, inputPerMTok: 4, cacheReadPerMTok: 0.2, cacheWrite5mPerMTok: 5, outputPerMTok: 15 },
    source: 'https://developers.openai.com/api/docs/models/gpt-6.2-sol',
    asOf: '2026-12-01',
    note:
      'Cache writes at 1.25× input (30-minute retention; 12-hour retention, which we never request, costs $5). Prompts ' +
      'over 272k tokens bill the whole call at 2× input and cache rates and 1.5× output.',
  }),
  'gpt-5.5': openai(5, 0.5, 30, 128_000, 1_050_000, {
    above: { tokens: 272_000, inputPerMTok: 10, cacheReadPerMTok: 1, outputPerMTok: 45 },
    note: 'Prompts over 272k tokens bill the whole call at 2× input and 1.5× output.',
  }),
  'gpt-5.4': openai(2.5, 0.25, 15, 128_000, 1_050_000, {
    above: { tokens: 272_000, inputPerMTok: 5, cacheReadPerMTok: 0.5, outputPerMTok: 22.5 },
    note: 'Prompts over 272k tokens bill the whole call at 2× input and 1.5× output.',
  }),
  'gpt-5.4-mini': openai(0.75, 0.075, 4.5, 128_000, 400_000),
  'gpt-5.4-nano': openai(0.2, 0.02, 1.25, 128_000, 400_000),
  'gpt-5.2': openai(1.75, 0.175, 14, 128_000, 400_000),
  'gpt-5.1': openai(1.25, 0.125, 10, 128_000, 400_000),
  'gpt-5': openai(1.25, 0.125, 10, 128_000, 400_000),
  'gpt-5-mini': openai(0.25, 0.025, 2, 128_000, 400_000),
  'gpt-5-nano': openai(0.05, 0.005, 0.4, 128_000, 400_000, {
    source: 'https://developers.openai.com/api/docs/models/gpt-5-nano',
  }),
  'gpt-4.1': openai(2, 0.5, 8, 32_768, 1_047_576),
  'gpt-4.1-mini': openai(0.4, 0.1, 1.6, 32_768, 1_047_576),
  'gpt-4.1-nano': openai(0.1, 0.025, 0.4, 32_768, 1_047_576),
  'gpt-4o': openai(2.5, 1.25, 10, 16_384, 128_000),
  // The first GPT-4o snapshot kept its launch price and has no prompt-cache discount, so it is not a `gpt-4o`.
  'gpt-4o-2024-05-13': openai(5, 5, 15, 4_096, 128_000, {
    source: 'https://openrouter.ai/openai/gpt-4o-2024-05-13',
    asOf: '2026-12-01',
    note: "OpenAI's launch price for this snapshot, read from OpenRouter (which bills at the provider's rates); no cached-input rate.",
  }),
  'gpt-4o-mini': openai(0.15, 0.075, 0.6, 16_384, 128_000),
  o3: openai(2, 0.5, 8, 100_000, 200_000, { note: 'Price cut from $10/$40 on 2025-06-10.' }),
  'o4-mini': openai(1.1, 0.275, 4.4, 100_000, 200_000),

  // ── Gemini ────────────────────────────────────────────────────────────────────────────────────────────
  // Standard (paid) tier, text input. Cached tokens bill at the per-model "context caching" rate; storage per
  // hour is not a per-call cost and is not included.
  'gemini-3.5-flash': gemini(1.5, 0.15, 9, 65_536, 1_048_576),
  'gemini-3.5-flash-lite': gemini(0.3, 0.03, 2.5, 65_536, 1_048_576),
  'gemini-3.1-pro-preview': gemini(2, 0.2, 12, 65_536, 1_048_576, {
    above: { tokens: 200_000, inputPerMTok: 4, cacheReadPerMTok: 0.4, outputPerMTok: 18 },
  }),
  'gemini-3.1-flash-lite': gemini(0.25, 0.025, 1.5, 65_536, 1_048_576),
  'gemini-3-pro-preview': gemini(2, 0.2, 12, 65_536, 1_048_576, {
    above: { tokens: 200_000, inputPerMTok: 4, cacheReadPerMTok: 0.4, outputPerMTok: 18 },
  }),
  'gemini-3-flash-preview': gemini(0.5, 0.05, 3, 65_536, 1_048_576),
  'gemini-2.5-pro': gemini(1.25, 0.125, 10, 65_536, 1_048_576, {
    above: { tokens: 200_000, inputPerMTok: 2.5, cacheReadPerMTok: 0.25, outputPerMTok: 15 },
    note: 'Prompts over 200k tokens bill the whole call at the higher rates.',
  }),
  'gemini-2.5-flash': gemini(0.3, 0.03, 2.5, 65_536, 1_048_576),
  'gemini-2.5-flash-lite': gemini(0.1, 0.01, 0.4, 65_536, 1_048_576),
};

function openai(
  input: number,
  cacheRead: number,
  output: number,
  maxOutputTokens: number,
  contextWindow: number,
  extra: Partial<ModelPrice> = {},
): ModelPrice {
  return {
    provider: 'openai',
    inputPerMTok: input,
    cacheReadPerMTok: cacheRead,
    cacheWrite5mPerMTok: input,
    outputPerMTok: output,
    maxOutputTokens,
    contextWindow,
    source: OPENAI_PRICING,
    asOf: CHECKED,
    ...extra,
  };
}

function gemini(
  input: number,
  cacheRead: number,
  output: number,
  maxOutputTokens: number,
  contextWindow: number,
  extra: Partial<ModelPrice> = {},
): ModelPrice {
  return {
    provider: 'gemini',
    inputPerMTok: input,
    cacheReadPerMTok: cacheRead,
    outputPerMTok: output,
    maxOutputTokens,
    contextWindow,
    source: GEMINI_PRICING,
    asOf: CHECKED,
    ...extra,
  };
}

/** The UTC calendar day (`YYYY-MM-DD`) of an instant: the day whose rates price a call made then. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The span of `entry.dated` in force on `day`, if any (the first that covers it). */
export function spanOn<T extends { dated?: DatedRates[] }>(entry: T, day: string): DatedRates | undefined {
  return entry.dated?.find((d) => (d.from === undefined || d.from <= day) && (d.until === undefined || day < d.until));
}

/** The newest date the built-in table was checked against its sources: how old the table is. */
export const PRICE_TABLE_DATE: string = Object.values(BUILT_IN_PRICES).reduce(
  (newest, p) => (p.asOf > newest ? p.asOf : newest),
  '',
);
