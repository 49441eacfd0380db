/**
 * Money is integer micro-dollars (1 USD = 1,000,000 µ$) everywhere in the product; floats appear only
 * where a human typed a dollar amount (policy files) and are converted once, here.
 */
export type Micros = number;

export const MICROS_PER_USD = 1_000_000;

/** Converts a dollar amount from a policy or price table to micro-dollars, rounding to the nearest µ$. */
export function usdToMicros(usd: number): Micros {
  return Math.round(usd * MICROS_PER_USD);
}

/** "$1.84", "$0.0031" for amounts under a cent, "-$2.00" for negatives. */
export function formatUsd(micros: Micros): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(micros);
  if (abs !== 0 && abs < 10_000) return `${sign}$${(abs / MICROS_PER_USD).toFixed(4)}`;
  return `${sign}$${(abs / MICROS_PER_USD).toFixed(2)}`;
}
