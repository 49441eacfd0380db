import { jStat } from 'jstat';

/**
 * Confidence intervals for comparing variants (docs/policy.md "Experiments"), all at 95 %:
 *
 * - a rate (failures of finished runs, acceptance of marked runs): the Wilson score interval — unlike the normal
 *   approximation it stays inside [0, 1] and is honest with few runs or rates near 0 and 1;
 * - a mean (cost per run): Student's t-interval, mean ± t(0.975, n − 1) · s / √n with the sample standard deviation
 *   — runs are independent, and with the few dozen runs an experiment has the t quantile (not z) is what keeps 95 %
 *   honest. The quantiles come from jStat.
 */

export const CONFIDENCE = 0.95;

export interface Interval {
  /** The point estimate: a rate in [0, 1], or a mean. */
  estimate: number;
  low: number;
  high: number;
}

/** Wilson score interval of `successes` in `n` trials; null without trials. */
export function wilson(successes: number, n: number): Interval | null {
  if (n <= 0) return null;
  const z = jStat.normal.inv(1 - (1 - CONFIDENCE) / 2, 0, 1);
  const p = successes / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { estimate: p, low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

/** Student's t-interval of the mean of `values`; null with fewer than two (no spread to measure). */
export function tInterval(values: readonly number[]): Interval | null {
  const n = values.length;
  if (n < 2) return null;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
  const half = jStat.studentt.inv(1 - (1 - CONFIDENCE) / 2, n - 1) * Math.sqrt(variance / n);
  return { estimate: mean, low: mean - half, high: mean + half };
}

/** `a` lies entirely below `b` (they do not overlap). */
export function below(a: Interval | null, b: Interval | null): boolean {
  return !!a && !!b && a.high < b.low;
}
