import type { PriceOverride, PriceRates } from '../policy/types';
import { resolvePrice, type ResolvedPrice } from '../pricing/cost';

const RATES: ReadonlyArray<[keyof PriceRates, string]> = [
  ['inputPerMTok', 'input'],
  ['outputPerMTok', 'output'],
  ['cacheReadPerMTok', 'cache-read'],
  ['cacheWrite5mPerMTok', '5-minute cache-write'],
  ['cacheWrite1hPerMTok', '1-hour cache-write'],
];

/**
 * Whether a repository's `prices` entry bills a model below what it costs: below the built-in table's price (or the
 * user's own `prices` entry) for a model either knows. Says how in plain words ("prices claude-sonnet-4-5 input at
 * $0 per million tokens, below the built-in $3"); undefined when it is not below (a model nobody knows is the
 * repository's to price; a higher price only makes limits hold sooner).
 *
 * Prices are step functions of the call's prompt size (the `above` tier bills the whole call), so comparing at
 * the smallest call and just past each tier threshold of either price compares them everywhere.
 */
export function priceBelow(
  model: string,
  entry: PriceOverride,
  userPrices: Readonly<Record<string, PriceOverride>>,
): string | undefined {
  const asked = tryResolve(entry.provider, model, { [model]: entry });
  if (!asked) return undefined;
  // The model as the user's side prices it (for this provider, and for calls that name no provider).
  const references = [tryResolve(entry.provider, model, userPrices), tryResolve(undefined, model, userPrices)];
  for (const reference of references) {
    if (!reference) continue;
    const points = [
      0,
      ...[asked.above?.tokens, reference.above?.tokens].filter((t) => t !== undefined).map((t) => t + 1),
    ];
    for (const promptTokens of points) {
      const a = ratesAt(asked, promptTokens);
      const b = ratesAt(reference, promptTokens);
      for (const [key, name] of RATES) {
        if (units(a[key]!) >= units(b[key]!)) continue;
        const whose = Object.hasOwn(userPrices, reference.priceId) ? "your user.json's" : 'the built-in';
        const tier = promptTokens > 0 ? ` above ${(promptTokens - 1).toLocaleString('en-US')} prompt tokens` : '';
        return `prices ${model} ${name} at ${usd(a[key])} per million tokens${tier}, below ${whose} ${usd(b[key])}`;
      }
    }
  }
  return undefined;
}

function tryResolve(
  provider: PriceOverride['provider'] | undefined,
  model: string,
  prices: Readonly<Record<string, PriceOverride>>,
): ResolvedPrice | undefined {
  try {
    return resolvePrice(provider, model, prices);
  } catch {
    return undefined; // a model the reference side does not know: nothing to be below
  }
}

function ratesAt(price: ResolvedPrice, promptTokens: number): Required<PriceRates> {
  return price.above && promptTokens > price.above.tokens ? price.above : price.base;
}

/** Rates compared as integers (the units cost.ts bills in), so float noise in a filled-in cache rate is not "below". */
function units(perMTok: number): number {
  return Math.round(perMTok * 1e6);
}

const usd = (perMTok: number) => `$${Number(perMTok.toFixed(6))}`;
