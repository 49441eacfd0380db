import type { Micros } from '../money';
import type { BudgetPolicy } from '../policy/types';
import { resolvePrice } from '../pricing/cost';
import { BUILT_IN_PRICES } from '../pricing/prices';
import type { DayRange, SpendRow, StoreQueries } from '../store/queries';
import { PROVIDERS, type ProviderId } from '../usage';

export interface CacheSavingsRow {
  model: string;
  provider: string;
  readTokens: number;
  writeTokens: number;
  /** What the cache reads would have cost at the input rate, minus what they cost. */
  savedMicros: Micros;
  /** What cache writes cost above the input rate (the price of those savings). */
  writePremiumMicros: Micros;
  /** No price for the model now (its override was removed): no saving is claimed. */
  unpriced: boolean;
}

export interface CacheSavings {
  readTokens: number;
  writeTokens: number;
  savedMicros: Micros;
  writePremiumMicros: Micros;
  /** saved − write premium. */
  netMicros: Micros;
  byModel: CacheSavingsRow[];
}

/** Spend by model and provider over the days from `fromDay` on, all of whose calls were priced at one set of rates. */
export type SpanSpend = Array<SpendRow & { key2: string; fromDay?: string }>;

/**
 * Spend by model × provider over `days`, cut at every day the built-in table changes a rate (a dated price, a
 * promotion's end): each row says from which day its rates apply, so savings are re-priced at the rates of the
 * days the calls were made, not today's. Without a change inside the range this is one query.
 */
export function modelProviderSpend(q: Pick<StoreQueries, 'breakdown2'>, days: DayRange): SpanSpend {
  const cuts = new Set<string>();
  for (const p of Object.values(BUILT_IN_PRICES)) {
    for (const d of p.dated ?? []) {
      for (const day of [d.from, d.until]) if (day && day > days.fromDay && day <= days.toDay) cuts.add(day);
    }
  }
  const starts = [days.fromDay, ...[...cuts].sort()];
  return starts.flatMap((fromDay, i) => {
    const toDay = i + 1 < starts.length ? dayBefore(starts[i + 1]!) : days.toDay;
    return q.breakdown2('model', 'provider', { fromDay, toDay }).map((r) => ({ ...r, fromDay }));
  });
}

function dayBefore(day: string): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
}

const UNITS_PER_MICRO = 1_000_000n;

/** $/MTok → integer 10⁻⁶ µ$ per token (as cost.ts prices calls). */
function rateUnits(perMTok: number): bigint {
  return BigInt(Math.round(perMTok * 1e6));
}

function roundUnits(units: bigint): Micros {
  const sign = units < 0n ? -1n : 1n;
  const abs = units * sign;
  return Number(sign * ((abs + UNITS_PER_MICRO / 2n) / UNITS_PER_MICRO));
}

/**
 * What prompt caching saved, per model, priced with the same table and workspace overrides as the calls, at the
 * rates of the days they were made (`fromDay` of each span; today's when a row has none): cache reads × (input
 * rate − cache-read rate), and what cache writes cost above the input rate. Base-tier rates (the rollups do not
 * keep which calls billed at a long-prompt tier).
 */
export function cacheSavings(rows: SpanSpend, policy: Pick<BudgetPolicy, 'prices'>): CacheSavings {
  const byKey = new Map<string, CacheSavingsRow>();
  for (const r of rows) {
    const writeTokens = r.usage.cacheWrite5m + r.usage.cacheWrite1h;
    if (r.usage.cacheRead === 0 && writeTokens === 0) continue;
    const key = `${r.key}\u0000${r.key2}`;
    let out = byKey.get(key);
    if (!out) {
      out = {
        model: r.key,
        provider: r.key2,
        readTokens: 0,
        writeTokens: 0,
        savedMicros: 0,
        writePremiumMicros: 0,
        unpriced: false,
      };
      byKey.set(key, out);
    }
    out.readTokens += r.usage.cacheRead;
    out.writeTokens += writeTokens;
    if (out.unpriced) continue;
    if (!PROVIDERS.includes(r.key2 as ProviderId)) {
      out.unpriced = true;
      continue;
    }
    try {
      const rates = resolvePrice(r.key2 as ProviderId, r.key, policy.prices, { at: r.fromDay }).base;
      const input = rateUnits(rates.inputPerMTok);
      out.savedMicros += roundUnits(BigInt(r.usage.cacheRead) * (input - rateUnits(rates.cacheReadPerMTok)));
      out.writePremiumMicros += roundUnits(
        BigInt(r.usage.cacheWrite5m) * (rateUnits(rates.cacheWrite5mPerMTok) - input) +
          BigInt(r.usage.cacheWrite1h) * (rateUnits(rates.cacheWrite1hPerMTok) - input),
      );
    } catch {
      out.unpriced = true; // priced by an override that is gone: claim nothing
    }
  }
  const byModel = [...byKey.values()].map((c) => (c.unpriced ? { ...c, savedMicros: 0, writePremiumMicros: 0 } : c));
  byModel.sort((a, b) => b.savedMicros - a.savedMicros || a.model.localeCompare(b.model));
  const sum = (f: (c: CacheSavingsRow) => number) => byModel.reduce((s, c) => s + f(c), 0);
  const saved = sum((c) => c.savedMicros);
  const premium = sum((c) => c.writePremiumMicros);
  return {
    readTokens: sum((c) => c.readTokens),
    writeTokens: sum((c) => c.writeTokens),
    savedMicros: saved,
    writePremiumMicros: premium,
    netMicros: saved - premium,
    byModel,
  };
}
