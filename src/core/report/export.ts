import { dayKey } from '../policy/periods';
import type { StoreQueries } from '../store/queries';
import type { LedgerEntry } from '../store/records';
import { csvRow, microsToUsdText } from './format';

/**
 * Streaming export of the raw ledger (every billed call and tool charge) for a time range, page by page from the
 * store's keyset-paginated `ledgerRows`, to any Writable (a file, stdout, a socket).
 *
 * Memory is bounded by one page (default 5,000 rows) plus the destination's buffer, whatever the row count: each
 * page becomes one string, is written, and the next page is read only once the destination has drained below its
 * high-water mark (backpressure). Nothing holds a database cursor across an await: every page is its own query
 * after the last (ts, id), so writes from other windows during a long export are fine (rows appended behind the
 * cursor's time are not seen; nothing is seen twice).
 *
 * Formats:
 * - `csv`: RFC 4180 (CRLF, quoted where needed), a header line, one row per ledger entry (columns below);
 * - `json`: one JSON array written incrementally (a valid document at the end; `[]` when empty);
 * - `jsonl`: one JSON object per line.
 * JSON objects are the ledger entries as stored (`LedgerEntry`) plus `time` (ISO, UTC) and `day` (the policy's zone).
 */

export type ExportFormat = 'csv' | 'json' | 'jsonl';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['csv', 'json', 'jsonl'];

export const LEDGER_CSV_COLUMNS = [
  'id',
  'time',
  'day',
  'provider',
  'model',
  'workflow',
  'run_id',
  'task_id',
  'task',
  'tool',
  'variant',
  'input_tokens',
  'output_tokens',
  'cache_read_tokens',
  'cache_write_5m_tokens',
  'cache_write_1h_tokens',
  'reasoning_tokens',
  'cost_micros',
  'cost_usd',
  'estimated',
  'request_id',
  'latency_ms',
  'reservation_id',
  'reserved_micros',
  'estimated_input_tokens',
] as const;

export interface ExportOptions {
  /** Entries with `fromMs <= ts < toMs`. */
  fromMs: number;
  toMs: number;
  format: ExportFormat;
  /** Zone of the `day` column (the policy's). */
  timeZone?: string;
  /** Rows per page (default 5,000). */
  pageSize?: number;
  /** Stops between pages (the destination is left as it is; the caller removes a partial file). */
  signal?: AbortSignal;
  /** Rows written so far, after each page. */
  onProgress?: (rows: number) => void;
}

export interface ExportResult {
  rows: number;
  bytes: number;
}

/** Writes the range's ledger rows to `out` (which it does not end). Rejects on abort or a write error. */
export async function exportLedger(
  queries: Pick<StoreQueries, 'ledgerRows'>,
  out: NodeJS.WritableStream,
  options: ExportOptions,
): Promise<ExportResult> {
  const { format, timeZone } = options;
  let rows = 0;
  let bytes = 0;
  let failure: Error | undefined;
  const onError = (err: Error) => (failure ??= err);
  out.on('error', onError);
  const write = async (text: string) => {
    if (failure) throw failure;
    bytes += Buffer.byteLength(text);
    if (!out.write(text)) await drained(out);
    if (failure) throw failure;
  };
  try {
    if (format === 'csv') await write(csvRow([...LEDGER_CSV_COLUMNS]));
    if (format === 'json') await write('[');
    for (const page of queries.ledgerRows(options.fromMs, options.toMs, options.pageSize ?? 5_000)) {
      options.signal?.throwIfAborted();
      let chunk = '';
      for (const entry of page) {
        if (format === 'csv') chunk += csvLine(entry, timeZone);
        else if (format === 'jsonl') chunk += `${jsonLine(entry, timeZone)}\n`;
        else chunk += `${rows === 0 ? '\n' : ',\n'}${jsonLine(entry, timeZone)}`;
        rows++;
      }
      await write(chunk);
      options.onProgress?.(rows);
    }
    options.signal?.throwIfAborted();
    if (format === 'json') await write(rows === 0 ? ']\n' : '\n]\n');
    return { rows, bytes };
  } finally {
    out.off('error', onError);
  }
}

/** Resolves when `out` drains, closes or fails (listeners removed either way: one wait per page). */
function drained(out: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      out.off('error', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
    out.on('error', done);
  });
}

function csvLine(e: LedgerEntry, tz: string | undefined): string {
  const u = e.usage;
  return csvRow([
    e.id,
    new Date(e.ts).toISOString(),
    dayKey(e.ts, tz),
    e.provider,
    e.model,
    e.workflow,
    e.runId,
    e.taskId,
    e.task,
    e.tool,
    e.variant,
    u.input,
    u.output,
    u.cacheRead,
    u.cacheWrite5m,
    u.cacheWrite1h,
    u.reasoning,
    e.costMicros,
    microsToUsdText(e.costMicros),
    e.estimated,
    e.requestId,
    e.latencyMs,
    e.reservationId,
    e.reservedMicros,
    e.estimatedInputTokens,
  ]);
}

function jsonLine(e: LedgerEntry, tz: string | undefined): string {
  return JSON.stringify({ ...e, time: new Date(e.ts).toISOString(), day: dayKey(e.ts, tz) });
}
