import { calcPrice, type ModelPrice as GenaiRates, type TieredPrices } from '@pydantic/genai-prices';
import type { PriceRates } from '../policy/types';

/**
 * @pydantic/genai-prices behind one function, as its own esbuild bundle `dist/genaiPrices.js` (~480 KB of price
 * data): the CLI and extension bundles `require` it only when a model is missing from the built-in table and from
 * `prices` (secondSource.ts), never at start-up. Only its bundled data is read: `updatePrices` (which would fetch
 * from GitHub) is never called, so it makes no network request.
 */

/** Rates as this library lists them for one model on one day, in our shape (USD per million tokens). */
export interface GenaiPrice {
  /** The library's id for the model (it matches aliases and dated ids itself). */
  id: string;
  rates: Partial<PriceRates> & { inputPerMTok?: number; outputPerMTok?: number };
  /** The first prompt-length tier, applied as ours are: the whole call, once the prompt is over `tokens`. */
  above?: Partial<PriceRates> & { tokens: number };
  contextWindow?: number;
}

/** `providerId` is the library's (`anthropic`, `openai`, `google`); `day` a UTC date, for its dated prices. */
export function genaiPrice(providerId: string, model: string, day: string): GenaiPrice | undefined {
  const found = calcPrice({ input_tokens: 1 }, model, { providerId, timestamp: new Date(`${day}T12:00:00Z`) });
  // The library falls back to other providers' lists for some ids; a price from another provider is not this one.
  if (!found || found.provider.id !== providerId) return undefined;
  const prices = found.model_price;
  const rates = {
    inputPerMTok: baseOf(prices.input_mtok),
    outputPerMTok: baseOf(prices.output_mtok),
    cacheReadPerMTok: baseOf(prices.cache_read_mtok),
    cacheWrite5mPerMTok: baseOf(prices.cache_write_mtok),
    cacheWrite1hPerMTok: baseOf(prices.cache_write_1h_mtok),
  };
  return { id: found.model.id, rates, above: firstTier(prices), contextWindow: found.model.context_window };
}

function baseOf(v: GenaiRates[string]): number | undefined {
  return typeof v === 'number' ? v : v?.base;
}

function tierOf(v: GenaiRates[string], start: number): number | undefined {
  if (typeof v === 'number' || v === undefined) return v;
  // Past the tier's start, a kind with no tier of its own stays at its base rate.
  return (v as TieredPrices).tiers.find((t) => t.start === start)?.price ?? v.base;
}

function firstTier(prices: GenaiRates): GenaiPrice['above'] {
  const starts = Object.values(prices).flatMap((v) =>
    typeof v === 'object' && v !== null ? (v as TieredPrices).tiers.map((t) => t.start) : [],
  );
  if (starts.length === 0) return undefined;
  const start = Math.min(...starts);
  return {
    tokens: start,
    inputPerMTok: tierOf(prices.input_mtok, start),
    outputPerMTok: tierOf(prices.output_mtok, start),
    cacheReadPerMTok: tierOf(prices.cache_read_mtok, start),
    cacheWrite5mPerMTok: tierOf(prices.cache_write_mtok, start),
    cacheWrite1hPerMTok: tierOf(prices.cache_write_1h_mtok, start),
  };
}
