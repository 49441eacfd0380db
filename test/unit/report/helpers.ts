import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RunState, RunStatus, StoreRecord } from '../../../src/core/store/records';
import { totalTokens, type TokenUsage } from '../../../src/core/usage';
import { Workspace } from '../../../src/core/workspace';

/** A workspace folder in the temp dir with `budget.json` = `policy` (none when undefined). */
export function tempFolder(policy?: unknown): { folder: string; cleanup: () => void } {
  const root = mkdtempSync(path.join(tmpdir(), 'ab-report-'));
  const folder = path.join(root, 'ws');
  mkdirSync(path.join(folder, '.agent-budget'), { recursive: true });
  if (policy !== undefined)
    writeFileSync(path.join(folder, '.agent-budget', 'budget.json'), JSON.stringify(policy, null, 2));
  return { folder, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** `trustPolicy`: the user consented to what the folder's budget.json loosens (a webhook URL, caps above theirs). */
export async function openWorkspace(folder: string, now?: number, trustPolicy = false): Promise<Workspace> {
  return Workspace.open(folder, {
    pollMs: 0,
    clock: now === undefined ? undefined : { now: () => now },
    policy: { consent: () => trustPolicy },
  });
}

export function runRecord(id: string, workflow: string, createdAt: number, extra: Partial<RunState> = {}): StoreRecord {
  return {
    k: 'run',
    run: {
      id,
      workflow,
      status: 'completed' as RunStatus,
      title: id,
      createdAt,
      updatedAt: createdAt,
      rev: 1,
      owner: 'test:1:x',
      parentRunId: null,
      variant: null,
      data: null,
      ...extra,
    },
  };
}

export const usage = (u: Partial<TokenUsage> = {}): TokenUsage => ({
  input: 0,
  output: 0,
  cacheRead: 0,
  cacheWrite5m: 0,
  cacheWrite1h: 0,
  reasoning: 0,
  ...u,
});

export { totalTokens };

/**
 * The local date of an instant in a zone, computed independently of src/core/policy/periods.ts (which parses
 * `en-US` output): `en-CA` formats dates as YYYY-MM-DD directly.
 */
export function localDay(ms: number, timeZone: string): string {
  let format = dayFormats.get(timeZone);
  if (!format)
    dayFormats.set(
      timeZone,
      (format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })),
    );
  return format.format(ms);
}
const dayFormats = new Map<string, Intl.DateTimeFormat>();

/** ISO week key (`2026-W45`) of a `YYYY-MM-DD` date, by the textbook rule (the week's Thursday decides the year). */
export function isoWeek(day: string): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const date = new Date(Date.UTC(y, m - 1, d));
  const weekday = date.getUTCDay() || 7;
  date.setUTCDate(date.getUTCDate() + 4 - weekday); // that week's Thursday
  const yearStart = Date.UTC(date.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((date.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${date.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

/** Sums `value` of `items` by `key`. */
export function sumBy<T>(items: T[], key: (t: T) => string | null, value: (t: T) => number): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of items) {
    const k = key(item);
    if (k === null) continue;
    out.set(k, (out.get(k) ?? 0) + value(item));
  }
  return out;
}

/**
 * A strict RFC 4180 reader (written here, independently of the writer): CRLF between records, fields quoted when
 * they hold quotes, commas or line breaks, quotes doubled inside. Throws on anything malformed.
 */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error('unterminated quoted field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
    } else {
      while (i < text.length && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') {
        if (text[i] === '"') throw new Error(`bare quote in an unquoted field at ${i}`);
        field += text[i++];
      }
    }
    record.push(field);
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text.startsWith('\r\n', i)) {
      records.push(record);
      record = [];
      i += 2;
      if (i === text.length) return records;
      continue;
    }
    throw new Error(`expected a comma or CRLF at ${i}, found ${JSON.stringify(text.slice(i, i + 5))}`);
  }
}
