// Number and date formatting for the panel (browser side; the host has its own in src/vscode/budgetText.ts).

/** Micro-dollars as "$1.84", or "$0.0031" under a cent. */
export function formatUsd(micros: number): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(micros);
  if (abs !== 0 && abs < 10_000) return `${sign}$${(abs / 1e6).toFixed(4)}`;
  return `${sign}$${(abs / 1e6).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

export function formatTokens(n: number): string {
  if (n < 10_000) return n.toLocaleString('en-US');
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 100_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(2)}M`;
}

export function formatPct(pct: number, signed = false): string {
  const text = `${Math.abs(pct) < 10 && pct !== 0 ? pct.toFixed(1) : pct.toFixed(0)}%`;
  return signed && pct > 0 ? `+${text}` : text;
}

/** `2026-11-22` → "Sun 22 Nov" (a calendar day; no time zone conversion). */
export function formatDay(day: string, withWeekday = true): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.toLocaleDateString(undefined, {
    timeZone: 'UTC',
    day: 'numeric',
    month: 'short',
    ...(withWeekday ? { weekday: 'short' } : {}),
  });
}

/** An instant in the user's local time. */
export function formatTime(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}
