import type { PriceOverride, PriceRates } from '../policy/types';
import type { ProviderId } from '../usage';
import { resolvePrice, type PriceOrigin } from './cost';
import { BUILT_IN_PRICES, PRICE_TABLE_DATE, spanOn, utcDay, type ModelPrice } from './prices';

/**
 * The price table as a user sees it (`agent-budget prices`, the panel's Prices section): every model with the rates
 * in force on one day, the promotion it is on and when that ends, the next announced change, where each number
 * came from, and budget.json's `prices` marked as overrides.
 */
export interface PriceTableRow {
  id: string;
  provider: ProviderId;
  aliases: string[];
  /**
   * `table`: the built-in list; `policy`: budget.json `prices` (replacing a built-in of the same id, or adding one);
   * `genai-prices`: the second source, for a model asked for by name that neither lists.
   */
  origin: PriceOrigin;
  /** A `policy` row that replaces the built-in entry of the same id. */
  replacesBuiltIn: boolean;
  /** USD per million tokens, every cache rate filled in as calls are billed. */
  rates: Required<PriceRates>;
  above?: Required<PriceRates> & { tokens: number };
  /** The rates in force are a promotion that ends on this day (UTC). */
  promotionUntil?: string;
  /** The next day the rates change (an announced price or a promotion's end), with the rates from then on. */
  nextChange?: { day: string; rates: Required<PriceRates> };
  maxOutputTokens?: number;
  contextWindow?: number;
  /** The page the rates were read from, or the budget.json entry. */
  source: string;
  /** When the built-in rates were checked against `source`. */
  asOf?: string;
  note?: string;
}

/** Every model priced on `day` (UTC, default today): the built-in table, then budget.json `prices`, sorted by provider. */
export function priceTable(
  overrides: Readonly<Record<string, PriceOverride>> = {},
  day: string = utcDay(Date.now()),
): PriceTableRow[] {
  const rows: PriceTableRow[] = [];
  const ids = new Set([...Object.keys(BUILT_IN_PRICES), ...Object.keys(overrides)]);
  for (const id of ids) {
    const override = Object.prototype.hasOwnProperty.call(overrides, id) ? overrides[id] : undefined;
    const builtIn: ModelPrice | undefined = BUILT_IN_PRICES[id];
    const entry = override ?? builtIn!;
    const price = resolvePrice(entry.provider, id, overrides, { at: day });
    const change = override ? undefined : nextChangeDay(builtIn!, day);
    rows.push({
      id,
      provider: entry.provider,
      aliases: builtIn?.aliases ?? [],
      origin: override ? 'policy' : 'table',
      replacesBuiltIn: override !== undefined && builtIn !== undefined,
      rates: price.base,
      ...(price.above ? { above: price.above } : {}),
      ...(price.promotionUntil ? { promotionUntil: price.promotionUntil } : {}),
      ...(change
        ? { nextChange: { day: change, rates: resolvePrice(entry.provider, id, overrides, { at: change }).base } }
        : {}),
      maxOutputTokens: price.maxOutputTokens ?? builtIn?.maxOutputTokens,
      contextWindow: price.contextWindow ?? builtIn?.contextWindow,
      source: override ? price.priceSource : (spanOn(builtIn!, day)?.source ?? builtIn!.source),
      ...(override ? {} : { asOf: builtIn!.asOf }),
      ...(builtIn?.note && !override ? { note: builtIn.note } : {}),
    });
  }
  const order: ProviderId[] = ['anthropic', 'openai', 'gemini'];
  return rows.sort((a, b) => order.indexOf(a.provider) - order.indexOf(b.provider) || a.id.localeCompare(b.id));
}

/** The first day after `day` on which one of the entry's dated spans starts or ends. */
function nextChangeDay(entry: ModelPrice, day: string): string | undefined {
  const days = (entry.dated ?? []).flatMap((d) => [d.from, d.until]).filter((d): d is string => !!d && d > day);
  return days.sort()[0];
}

/** How many whole days the built-in table is older than `now`. */
export function priceTableAgeDays(now: number): number {
  return Math.floor((now - Date.parse(`${PRICE_TABLE_DATE}T00:00:00Z`)) / 86_400_000);
}

/** The table is older than this many days: tell the user once a month. */
export const STALE_AFTER_DAYS = 60;

/**
 * The once-a-month notice that the built-in table is getting old, or undefined: when the table is over
 * STALE_AFTER_DAYS old and the user was not told yet in `now`'s month (`lastMonth`: the `YYYY-MM` of the last
 * notice, kept per user by the front end). `month` is what the front end remembers once it has shown it.
 */
export function stalePriceNotice(
  now: number,
  lastMonth: string | undefined,
): { message: string; month: string } | undefined {
  const age = priceTableAgeDays(now);
  const month = utcDay(now).slice(0, 7);
  if (age <= STALE_AFTER_DAYS || lastMonth === month) return undefined;
  return {
    month,
    message:
      `The built-in price table was last checked on ${PRICE_TABLE_DATE} (${age} days ago); a provider may have ` +
      `changed a price since. Update Agent Budget, or set the price yourself under "prices" in ` +
      `.agent-budget/budget.json, e.g. "prices": { "gpt-5": { "provider": "openai", "inputPerMTok": 1.25, ` +
      `"outputPerMTok": 10 } } (USD per million tokens). \`agent-budget prices\` lists the rates in force.`,
  };
}
