import type { Micros } from '../money';

/**
 * Text for people (Markdown report, notifications, webhook `text`) and for tools (CSV). Money stays integer µ$
 * until the last step, and is turned into text with integer arithmetic only (no float rounding surprises).
 */

/**
 * "$1,234.56"; amounts under a cent keep their µ$ ("$0.004650" → "$0.00465", "$0.000003"); "-$2.00".
 * Cents are rounded half up from the exact µ$.
 */
export function formatMoney(micros: Micros): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(Math.round(micros));
  if (abs > 0 && abs < 10_000) {
    const frac = String(abs).padStart(6, '0').replace(/0+$/, '');
    return `${sign}$0.${frac.padEnd(4, '0')}`;
  }
  const cents = Math.floor((abs + 5_000) / 10_000);
  const dollars = Math.floor(cents / 100);
  return `${sign}$${groupThousands(dollars)}.${String(cents % 100).padStart(2, '0')}`;
}

/**
 * A unit cost (per run, per call, per accepted result), where the differences between variants live in the
 * fourth decimal: "$0.0497" under a dollar (µ$ under a cent, as formatMoney), "$1.23" above.
 */
export function formatUnitCost(micros: Micros): string {
  const abs = Math.abs(Math.round(micros));
  if (abs < 10_000 || abs >= 1_000_000) return formatMoney(micros);
  const tenThousandths = Math.floor((abs + 50) / 100);
  return `${micros < 0 ? '-' : ''}$0.${String(tenThousandths).padStart(4, '0')}`;
}

/** Exact dollars with six decimals ("12.345678"), for CSV columns a spreadsheet sums. */
export function microsToUsdText(micros: Micros): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(Math.round(micros));
  return `${sign}${Math.floor(abs / 1_000_000)}.${String(abs % 1_000_000).padStart(6, '0')}`;
}

export function groupThousands(n: number): string {
  return String(Math.trunc(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** "950", "45.6k", "1.23M", "2.1B" — tokens at a glance. */
export function formatTokens(n: number): string {
  const abs = Math.abs(n);
  if (abs < 1_000) return String(Math.round(n));
  if (abs < 1_000_000) return `${trim(n / 1_000, abs < 10_000 ? 2 : 1)}k`;
  if (abs < 1_000_000_000) return `${trim(n / 1_000_000, abs < 10_000_000 ? 2 : 1)}M`;
  return `${trim(n / 1_000_000_000, 2)}B`;
}

function trim(v: number, digits: number): string {
  return v.toFixed(digits).replace(/\.?0+$/, '');
}

/** "63 %" style percentages: one decimal below 10, whole numbers above. */
export function formatPct(pct: number): string {
  if (!Number.isFinite(pct)) return '–';
  const rounded = Math.abs(pct) < 10 ? Math.round(pct * 10) / 10 : Math.round(pct);
  return `${rounded}%`;
}

// ---------------------------------------------------------------------------------------------------------------
// CSV (RFC 4180)

/** What a spreadsheet runs as a formula when a cell starts with it (OWASP "CSV injection"), fullwidth forms too. */
const FORMULA_START = /^[=+\-@\t\r\uff1d\uff0b\uff0d\uff20]/;
const PLAIN_NUMBER = /^-?\d+(\.\d+)?$/;

/**
 * One CSV field: quoted when it holds a quote, comma, CR or LF (or starts/ends with a space, which some readers
 * trim), with quotes doubled. null/undefined are empty fields; numbers are written as they are. Text from run data
 * (a workflow id, a model name, a task) that starts like a formula gets a leading `'`, so opening the export in a
 * spreadsheet never runs it; numbers, and text that is a plain negative number (`-1.500000`), stay numeric.
 */
export function csvField(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  let s = typeof value === 'string' ? value : String(value);
  if (typeof value === 'string' && FORMULA_START.test(s) && !PLAIN_NUMBER.test(s)) s = `'${s}`;
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV record, CRLF-terminated as RFC 4180 says. */
export function csvRow(values: ReadonlyArray<string | number | boolean | null | undefined>): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

// ---------------------------------------------------------------------------------------------------------------
// Markdown

/**
 * Text from run data (workflow ids, titles, model names, file names) made inert in Markdown, in a table cell or a
 * line: pipes escaped, line breaks joined, and every character that starts markup escaped — emphasis, code, HTML,
 * links and images, headings, math (`$`, which VS Code's preview renders), strikethrough, entities — and `:` and
 * `www.`, so no text becomes a link by itself.
 */
export function mdCell(text: string): string {
  return text
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/[*_`<>[\]()#!$~&:]/g, (c) => `\\${c}`)
    .replace(/\b(www)\./gi, '$1\\.')
    .replace(/\r\n|\r|\n/g, ' ');
}

/** Run data as inline code (a run id, a variant): any backticks in it cannot end the span early, pipes stay in the cell. */
export function mdCode(text: string): string {
  const flat = text.replace(/\r\n|\r|\n/g, ' ').replace(/\|/g, '\\|');
  const longest = Math.max(0, ...(flat.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = flat.startsWith('`') || flat.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${flat}${pad}${fence}`;
}

export type Align = 'left' | 'right';

/** A GitHub-flavoured Markdown table; cells are already-escaped Markdown. */
export function mdTable(headers: string[], rows: string[][], align: Align[] = []): string {
  const sep = headers.map((_, i) => (align[i] === 'right' ? '---:' : '---'));
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(sep), ...rows.map(line)].join('\n');
}

/** A bar of block characters, `value / max` of `width` cells, in eighths (for the by-day table). */
export function bar(value: number, max: number, width = 16): string {
  if (max <= 0 || value <= 0) return '';
  const eighths = Math.max(1, Math.round((value / max) * width * 8));
  const full = Math.floor(eighths / 8);
  const rest = eighths % 8;
  return '█'.repeat(full) + (rest ? ' ▏▎▍▌▋▊▉'[rest]! : '');
}
