import type { Micros } from '../money';
import type { StoreQueries } from '../store/queries';

/**
 * Variants of a workflow compared by what they cost and how they turn out. A variant is what the runner records
 * on each run: `<model>@<prompt version>` (e.g. `claude-haiku-4-5@v2`); runs without one are `(none)`.
 *
 * - cost and tokens per run: whole-run totals over every run of the variant started in the range;
 * - failure rate: failed ÷ (completed + failed) — runs still going, blocked, interrupted or cancelled have no
 *   outcome yet (or one the user chose), so they count in neither;
 * - acceptance rate: accepted ÷ (accepted + rejected) among runs the user marked (`agent-budget mark`); null when
 *   none is marked;
 * - cost per accepted result: the variant's whole spend ÷ accepted runs — what one good result really costs,
 *   failures and rejections included.
 */

export const NO_VARIANT = '(none)';

export interface VariantRow {
  variant: string;
  runs: number;
  completed: number;
  failed: number;
  /** 0–100, or null when no run completed or failed. */
  failureRatePct: number | null;
  accepted: number;
  rejected: number;
  /** 0–100, or null when no run is marked. */
  acceptanceRatePct: number | null;
  costMicros: Micros;
  costPerRunMicros: Micros;
  tokensPerRun: number;
  costPerAcceptedMicros: Micros | null;
}

export interface VariantComparison {
  workflow: string;
  /** Cheapest per run first. */
  variants: VariantRow[];
}

/**
 * Variants of every workflow (or one) whose runs started in `fromMs <= t < toMs`. Workflows whose runs carry no
 * variant at all are left out (there is nothing to compare).
 */
export function compareVariants(
  queries: Pick<StoreQueries, 'runStats'>,
  fromMs: number,
  toMs: number,
  filter: { workflow?: string } = {},
): VariantComparison[] {
  const byWorkflow = new Map<string, Map<string, VariantRow & { tokens: number }>>();
  for (const row of queries.runStats(fromMs, toMs, filter)) {
    let variants = byWorkflow.get(row.workflow);
    if (!variants) byWorkflow.set(row.workflow, (variants = new Map()));
    const key = row.variant ?? NO_VARIANT;
    let v = variants.get(key);
    if (!v) {
      v = {
        variant: key,
        runs: 0,
        completed: 0,
        failed: 0,
        failureRatePct: null,
        accepted: 0,
        rejected: 0,
        acceptanceRatePct: null,
        costMicros: 0,
        costPerRunMicros: 0,
        tokensPerRun: 0,
        costPerAcceptedMicros: null,
        tokens: 0,
      };
      variants.set(key, v);
    }
    v.runs += row.runs;
    v.costMicros += row.costMicros;
    v.tokens += row.tokens;
    if (row.status === 'completed') v.completed += row.runs;
    if (row.status === 'failed') v.failed += row.runs;
    if (row.result === 'accepted') v.accepted += row.runs;
    if (row.result === 'rejected') v.rejected += row.runs;
  }
  const out: VariantComparison[] = [];
  for (const [workflow, variants] of [...byWorkflow].sort(([a], [b]) => a.localeCompare(b))) {
    if (![...variants.keys()].some((k) => k !== NO_VARIANT)) continue;
    const rows = [...variants.values()].map(({ tokens, ...v }) => {
      const finished = v.completed + v.failed;
      const marked = v.accepted + v.rejected;
      return {
        ...v,
        failureRatePct: finished > 0 ? (v.failed / finished) * 100 : null,
        acceptanceRatePct: marked > 0 ? (v.accepted / marked) * 100 : null,
        costPerRunMicros: v.runs > 0 ? Math.round(v.costMicros / v.runs) : 0,
        tokensPerRun: v.runs > 0 ? Math.round(tokens / v.runs) : 0,
        costPerAcceptedMicros: v.accepted > 0 ? Math.round(v.costMicros / v.accepted) : null,
      };
    });
    rows.sort((a, b) => a.costPerRunMicros - b.costPerRunMicros || a.variant.localeCompare(b.variant));
    out.push({ workflow, variants: rows });
  }
  return out;
}
