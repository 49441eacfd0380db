import path from 'node:path';
import { dependencies } from '../../../package.json';
import type { PriceRates } from '../policy/types';
import { PROVIDERS, type ProviderId } from '../usage';
import type { GenaiPrice } from './genaiPrices';

/**
 * The second source: @pydantic/genai-prices, for a model the built-in table and `prices` both lack (never for one
 * they list, nor for an id the table refuses on purpose; see prices.ts for why it is only second). Its data is the
 * package's own, as of its release: the version is pinned in package.json and its release day is stated here, so
 * `priceSource` says exactly which data priced a call.
 */
export const GENAI_PRICES_VERSION: string = dependencies['@pydantic/genai-prices'];
/** The day version GENAI_PRICES_VERSION was published on npm (its data is at most this fresh). */
export const GENAI_PRICES_DATA_DATE = '2026-09-23';

const PROVIDER_IDS: Record<ProviderId, string> = { anthropic: 'anthropic', openai: 'openai', gemini: 'google' };

export interface SecondSourcePrice {
  id: string;
  provider: ProviderId;
  rates: PriceRates;
  above?: PriceRates & { tokens: number };
  contextWindow?: number;
  source: string;
}

type Lookup = (providerId: string, model: string, day: string) => GenaiPrice | undefined;
let lookup: Lookup | null | undefined;

/**
 * Loads the library on first use. In the bundles `__dirname` is `dist/`, where esbuild writes `genaiPrices.js` as
 * its own file; under tsx (tests) it is this folder. A missing file (a trimmed package) means no second source:
 * the model stays unknown, which refuses the call rather than pricing it at $0.
 */
function load(): Lookup | null {
  if (lookup === undefined) {
    try {
      lookup = (require(path.join(__dirname, 'genaiPrices')) as { genaiPrice: Lookup }).genaiPrice;
    } catch {
      lookup = null;
    }
  }
  return lookup;
}

/** The second source's price of `model` for `provider` (any of ours when undefined) on `day`, if it lists one. */
export function secondSourcePrice(
  provider: ProviderId | undefined,
  model: string,
  day: string,
): SecondSourcePrice | undefined {
  const find = load();
  if (!find) return undefined;
  for (const p of provider ? [provider] : PROVIDERS) {
    const found = find(PROVIDER_IDS[p], model.trim(), day);
    const { inputPerMTok, outputPerMTok } = found?.rates ?? {};
    // A listing without both token rates (an embedding or image model) cannot price a chat call.
    if (!found || inputPerMTok === undefined || outputPerMTok === undefined) continue;
    const above = found.above;
    return {
      id: found.id,
      provider: p,
      rates: { ...found.rates, inputPerMTok, outputPerMTok },
      above:
        above && above.inputPerMTok !== undefined && above.outputPerMTok !== undefined
          ? { ...above, inputPerMTok: above.inputPerMTok, outputPerMTok: above.outputPerMTok }
          : undefined,
      contextWindow: found.contextWindow,
      source: `genai-prices ${GENAI_PRICES_VERSION} (data of ${GENAI_PRICES_DATA_DATE}): ${PROVIDER_IDS[p]} "${found.id}"`,
    };
  }
  return undefined;
}
