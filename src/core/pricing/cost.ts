import { AgentBudgetError } from '../errors';
import type { Micros } from '../money';
import type { PriceOverride, PriceRates } from '../policy/types';
import { promptTokens, type ProviderId, type TokenUsage } from '../usage';
import { matchModel, MOVING_ALIASES, SNAPSHOTS_PRICED_APART } from './match';
import { BUILT_IN_PRICES, spanOn, utcDay, type ModelPrice } from './prices';
import { secondSourcePrice } from './secondSource';

/**
 * Prices one call in integer micro-dollars.
 *
 * Arithmetic: a price of R $/MTok is exactly R µ$ per token. Each rate is turned into an integer number of
 * 10⁻⁶ µ$ per token (`Math.round(R * 1e6)`, exact for any price with up to six decimals), multiplied by the
 * integer token count (BigInt, so a 1M-token call at $75/MTok cannot lose precision), summed over the token
 * kinds, and rounded to µ$ ONCE per call (half up). The per-kind lines are apportioned from the same exact
 * amounts (largest remainder), so they always add up to `costMicros` to the µ$.
 *
 * Rules:
 * - reasoning/thinking tokens bill at the output rate (they are a separate, disjoint field, so never twice);
 * - `above` tiers bill the WHOLE call at their rates when prompt tokens (input + cache reads + cache writes)
 *   exceed `tokens` (docs/policy.md);
 * - workspace overrides (`prices` in budget.json) replace a built-in of the same id or add a model; an override
 *   that omits a cache rate gets the provider's default:
 *     Anthropic — cache read 0.1×, 5-minute write 1.25×, 1-hour write 2× the (tier's) input rate;
 *     OpenAI and Gemini — cache read and cache write at the built-in model's ratio to input when the override
 *     replaces a built-in; otherwise cache reads at the full input rate (a local or custom server gives no cache
 *     discount we know of) and cache writes at what OpenAI bills them, 1.25× input (Gemini reports none);
 * - a call is priced by the rates in force on its UTC day (`dated` spans in prices.ts: earlier prices, announced
 *   changes, promotions until their end);
 * - a model neither the table nor `prices` knows is priced by the second source (genai-prices) and marked so, or
 *   — only on a loopback endpoint the user set — at $0 as a local model (`priceSource: 'local'`);
 * - otherwise an unknown model is an `UnknownModelError`, never $0.
 */

export type PriceLineKind = 'input' | 'cacheRead' | 'cacheWrite5m' | 'cacheWrite1h' | 'output' | 'reasoning';

export interface PriceLine {
  kind: PriceLineKind;
  tokens: number;
  micros: Micros;
}

export interface CallPrice {
  costMicros: Micros;
  /** One line per token kind with tokens, in a fixed order (input, cache read, cache writes, output, reasoning). */
  lines: PriceLine[];
  /** Where the rates came from: the table's source URL and date, the workspace override, genai-prices, `local`. */
  priceSource: string;
  origin: PriceOrigin;
  /** The rates were a promotion that ends on this UTC day. */
  promotionUntil?: string;
  tier: 'base' | 'above';
  /** The table or override id the model matched (e.g. `claude-sonnet-4-5` for `claude-sonnet-4-5-20250929`). */
  priceId: string;
}

export class UnknownModelError extends AgentBudgetError {
  override readonly name = 'UnknownModelError';
  constructor(
    readonly provider: ProviderId | undefined,
    readonly model: string,
    detail?: string,
  ) {
    super(
      'config',
      `No price for ${provider ? `${provider} ` : ''}model "${model}"${detail ? ` (${detail})` : ''}. Agent Budget never prices a call at $0: ` +
        `add it under "prices" in .agent-budget/budget.json, e.g. "prices": { "${model}": { "provider": "${provider ?? 'openai'}", ` +
        `"inputPerMTok": 1, "outputPerMTok": 2 } } with the provider's rates in USD per million tokens.`,
    );
  }
}

/** Where a price came from: the built-in table, budget.json `prices`, the second source, or the local-model rule. */
export type PriceOrigin = 'table' | 'policy' | 'genai-prices' | 'local';

/** A resolved price: the rates in force on one day for both tiers, with every cache rate filled in. */
export interface ResolvedPrice {
  priceId: string;
  provider: ProviderId;
  base: Required<PriceRates>;
  above?: Required<PriceRates> & { tokens: number };
  priceSource: string;
  origin: PriceOrigin;
  /** The UTC day whose rates these are. */
  day: string;
  /** The rates are a promotion that ends on this day (UTC); from it on the standard rates apply. */
  promotionUntil?: string;
  maxOutputTokens?: number;
  contextWindow?: number;
}

/** What besides the model decides its price. */
export interface PriceContext {
  /** When the call is made (epoch ms), or the UTC day (`YYYY-MM-DD`) whose rates apply; default: now. */
  at?: number | string;
  /**
   * The call goes to a loopback endpoint the user chose (their settings or environment, never a repository's
   * file): a model that neither the table nor `prices` knows runs on their own machine and costs $0 there.
   */
  localEndpoint?: boolean;
  /** The built-in table to read; default BUILT_IN_PRICES (tests give a table of their own). */
  table?: Readonly<Record<string, ModelPrice>>;
}

type PriceEntry = (ModelPrice | PriceOverride) & { aliases?: string[] };

/**
 * Finds the price of `model` for `provider` (any provider when undefined) on the context's day: `prices`
 * overrides, then the built-in table, then — for a model neither knows — the second source (genai-prices, see
 * prices.ts), then $0 on a local endpoint the user chose. Throws UnknownModelError when none prices it.
 */
export function resolvePrice(
  provider: ProviderId | undefined,
  model: string,
  overrides: Readonly<Record<string, PriceOverride>> = {},
  context: PriceContext = {},
): ResolvedPrice {
  const day = typeof context.at === 'string' ? context.at : utcDay(context.at ?? Date.now());
  // Gemini's own listings name models `models/gemini-…`; the SDK accepts either form, and so do we.
  if (provider === 'gemini' || provider === undefined) model = model.replace(/^\s*models\//i, '');
  const sameProvider = <T extends { provider: ProviderId }>(record: Readonly<Record<string, T>>) =>
    Object.fromEntries(Object.entries(record).filter(([, e]) => provider === undefined || e.provider === provider));
  const builtIns = sameProvider(context.table ?? BUILT_IN_PRICES);
  const custom = sameProvider(overrides);
  const candidates: Record<string, PriceEntry> = { ...builtIns, ...custom };
  const hit = matchModel<PriceEntry>(model, candidates);
  if (!hit) return unlisted(provider, model, overrides, context, day);
  const resolvedProvider = hit.entry.provider;
  const isOverride = Object.prototype.hasOwnProperty.call(custom, hit.key);
  const builtIn = builtIns[hit.key] as ModelPrice | undefined;
  const entry = hit.entry;
  const span = isOverride ? undefined : spanOn(entry as ModelPrice, day);
  const rates: PriceRates = span ?? entry;
  const aboveRates = span?.above ?? entry.above;
  const base = fillRates(resolvedProvider, rates, [builtIn]);
  const above = aboveRates
    ? { ...fillRates(resolvedProvider, aboveRates, [builtIn?.above, builtIn]), tokens: aboveRates.tokens }
    : undefined;
  const priceSource = isOverride
    ? `.agent-budget/budget.json prices["${hit.key}"]`
    : `${span?.source ?? (entry as ModelPrice).source} (as of ${(entry as ModelPrice).asOf})` +
      (span?.promotion && span.until ? `, promotional rate until ${span.until}` : '');
  return {
    priceId: hit.key,
    provider: resolvedProvider,
    base,
    above,
    priceSource,
    origin: isOverride ? 'policy' : 'table',
    day,
    ...(span?.promotion && span.until ? { promotionUntil: span.until } : {}),
    maxOutputTokens: entry.maxOutputTokens,
    contextWindow: entry.contextWindow,
  };
}

/** A model neither `prices` nor the table lists: the second source, else free on a local endpoint, else an error. */
function unlisted(
  provider: ProviderId | undefined,
  model: string,
  overrides: Readonly<Record<string, PriceOverride>>,
  context: PriceContext,
  day: string,
): ResolvedPrice {
  const elsewhere = provider && matchModel(model, { ...(context.table ?? BUILT_IN_PRICES), ...overrides });
  const known = [...MOVING_ALIASES, ...SNAPSHOTS_PRICED_APART].find((k) => k.pattern.test(model.trim().toLowerCase()));
  // An id the table refuses on purpose, or prices for another provider, stays an error: no other source guesses.
  if (elsewhere || known) {
    throw new UnknownModelError(
      provider,
      model,
      elsewhere ? `it is priced for ${(elsewhere.entry as PriceEntry).provider}, not ${provider}` : known?.why,
    );
  }
  const second = secondSourcePrice(provider, model, day);
  if (second) {
    const base = fillRates(second.provider, second.rates, []);
    const above = second.above
      ? { ...fillRates(second.provider, second.above, []), tokens: second.above.tokens }
      : undefined;
    return {
      priceId: second.id,
      provider: second.provider,
      base,
      above,
      priceSource: second.source,
      origin: 'genai-prices',
      day,
      contextWindow: second.contextWindow,
    };
  }
  // Last, so a paid model behind a local proxy (one the second source lists) is never taken for a local one.
  if (context.localEndpoint && provider) {
    const zero = {
      inputPerMTok: 0,
      outputPerMTok: 0,
      cacheReadPerMTok: 0,
      cacheWrite5mPerMTok: 0,
      cacheWrite1hPerMTok: 0,
    };
    return { priceId: model.trim(), provider, base: zero, priceSource: 'local', origin: 'local', day };
  }
  throw new UnknownModelError(provider, model);
}

/** `references`: the built-in rates whose cache-to-input ratios fill an omitted rate, the first that has it. */
function fillRates(
  provider: ProviderId,
  rates: PriceRates,
  references: ReadonlyArray<PriceRates | undefined>,
): Required<PriceRates> {
  assertRate(rates.inputPerMTok, 'inputPerMTok');
  assertRate(rates.outputPerMTok, 'outputPerMTok');
  const input = rates.inputPerMTok;
  let cacheRead: number;
  let write5m: number;
  let write1h: number;
  if (provider === 'anthropic') {
    cacheRead = rates.cacheReadPerMTok ?? input * 0.1;
    write5m = rates.cacheWrite5mPerMTok ?? input * 1.25;
    write1h = rates.cacheWrite1hPerMTok ?? input * 2;
  } else {
    const ratio = (key: 'cacheReadPerMTok' | 'cacheWrite5mPerMTok', fallback: number) => {
      const ref = references.find((r) => r?.[key] !== undefined && r.inputPerMTok > 0);
      return ref ? ref[key]! / ref.inputPerMTok : fallback;
    };
    cacheRead = rates.cacheReadPerMTok ?? input * ratio('cacheReadPerMTok', 1);
    // Never $0: a model we do not know bills a reported write at what OpenAI charges for one (GPT-5.6 and later:
    // 1.25× input). Gemini reports no writes.
    write5m = rates.cacheWrite5mPerMTok ?? input * ratio('cacheWrite5mPerMTok', provider === 'openai' ? 1.25 : 1);
    write1h = rates.cacheWrite1hPerMTok ?? input;
  }
  return {
    inputPerMTok: input,
    outputPerMTok: rates.outputPerMTok,
    cacheReadPerMTok: cacheRead,
    cacheWrite5mPerMTok: write5m,
    cacheWrite1hPerMTok: write1h,
  };
}

function assertRate(v: unknown, field: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new TypeError(`price field "${field}" must be a non-negative number of USD per million tokens`);
  }
}

/** $/MTok → integer 10⁻⁶ µ$ per token. */
function rateUnits(perMTok: number): bigint {
  return BigInt(Math.round(perMTok * 1e6));
}

const UNITS_PER_MICRO = 1_000_000n;

const LINE_RATES: ReadonlyArray<[PriceLineKind, keyof TokenUsage, keyof PriceRates]> = [
  ['input', 'input', 'inputPerMTok'],
  ['cacheRead', 'cacheRead', 'cacheReadPerMTok'],
  ['cacheWrite5m', 'cacheWrite5m', 'cacheWrite5mPerMTok'],
  ['cacheWrite1h', 'cacheWrite1h', 'cacheWrite1hPerMTok'],
  ['output', 'output', 'outputPerMTok'],
  ['reasoning', 'reasoning', 'outputPerMTok'],
];

export function priceCall(args: {
  provider: ProviderId;
  model: string;
  usage: TokenUsage;
  overrides?: Readonly<Record<string, PriceOverride>>;
  /** When the call was made, the day whose rates apply, and whether it went to a local endpoint. */
  context?: PriceContext;
}): CallPrice {
  const price = resolvePrice(args.provider, args.model, args.overrides, args.context);
  return priceWith(price, args.usage);
}

/** Prices usage with an already resolved price (the budget engine resolves once per call for the reservation). */
export function priceWith(price: ResolvedPrice, usage: TokenUsage): CallPrice {
  for (const [, field] of LINE_RATES) {
    const v = usage[field];
    if (!Number.isInteger(v) || v < 0) throw new TypeError(`usage.${field} must be a non-negative integer, got ${v}`);
  }
  const useAbove = price.above !== undefined && promptTokens(usage) > price.above.tokens;
  const rates: Required<PriceRates> = useAbove && price.above ? price.above : price.base;

  const exact = LINE_RATES.filter(([, field]) => usage[field] > 0).map(([kind, field, rateKey]) => ({
    kind,
    tokens: usage[field],
    units: BigInt(usage[field]) * rateUnits(rates[rateKey]),
  }));
  const totalUnits = exact.reduce((sum, l) => sum + l.units, 0n);
  const costMicros = Number((totalUnits + UNITS_PER_MICRO / 2n) / UNITS_PER_MICRO);

  // Largest-remainder apportionment: floor every line, then hand the µ$ the single rounding added (or kept) to
  // the lines with the largest remainders, so the lines add up to the total exactly.
  const lines: PriceLine[] = exact.map((l) => ({
    kind: l.kind,
    tokens: l.tokens,
    micros: Number(l.units / UNITS_PER_MICRO),
  }));
  let missing = costMicros - lines.reduce((s, l) => s + l.micros, 0);
  const byRemainder = exact
    .map((l, i) => ({ i, rem: l.units % UNITS_PER_MICRO }))
    .sort((a, b) => (a.rem === b.rem ? a.i - b.i : a.rem > b.rem ? -1 : 1));
  for (const { i } of byRemainder) {
    if (missing <= 0) break;
    lines[i]!.micros += 1;
    missing -= 1;
  }

  return {
    costMicros,
    lines,
    priceSource: price.priceSource,
    origin: price.origin,
    ...(price.promotionUntil ? { promotionUntil: price.promotionUntil } : {}),
    tier: useAbove ? 'above' : 'base',
    priceId: price.priceId,
  };
}

/**
 * Max output tokens and context window of a model (for clamping `max_tokens` and sizing reservations).
 * `provider` narrows the search when the same id could exist for two providers. Throws UnknownModelError.
 */
export function modelInfo(
  model: string,
  overrides: Readonly<Record<string, PriceOverride>> = {},
  provider?: ProviderId,
  context: PriceContext = {},
): { priceId: string; provider: ProviderId; maxOutputTokens?: number; contextWindow?: number } {
  const price = resolvePrice(provider, model, overrides, context);
  const builtIn = BUILT_IN_PRICES[price.priceId];
  const sameBuiltIn = builtIn?.provider === price.provider ? builtIn : undefined;
  return {
    priceId: price.priceId,
    provider: price.provider,
    // An override may leave these out; then the built-in of the same id (if any) still knows them.
    maxOutputTokens: price.maxOutputTokens ?? sameBuiltIn?.maxOutputTokens,
    contextWindow: price.contextWindow ?? sameBuiltIn?.contextWindow,
  };
}
