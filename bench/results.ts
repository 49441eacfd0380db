import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** One measured figure with its target (when the issue sets one) for the printed table. */
export interface Figure {
  key: string;
  value: number;
  unit: string;
  /** e.g. `>= 2000` or `<= 1.5` */
  target?: string;
}

export const RESULTS_FILE = path.join(__dirname, 'results.json');

export function meetsTarget(f: Figure): boolean | undefined {
  if (!f.target) return undefined;
  const m = /^(>=|<=)\s*([\d.]+)$/.exec(f.target);
  if (!m) return undefined;
  return m[1] === '>=' ? f.value >= Number(m[2]) : f.value <= Number(m[2]);
}

/** Merges figures into bench/results.json (other suites' keys are kept) and prints them. */
export function record(figures: Figure[]): void {
  const previous = existsSync(RESULTS_FILE)
    ? (JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as Record<string, unknown>)
    : {};
  const next: Record<string, unknown> = { ...previous };
  for (const f of figures) next[f.key] = Math.round(f.value * 1000) / 1000;
  next._machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`;
  next._measuredAt = new Date().toISOString();
  writeFileSync(RESULTS_FILE, `${JSON.stringify(sortKeys(next), null, 2)}\n`);
  for (const f of figures) {
    const ok = meetsTarget(f);
    const mark = ok === undefined ? ' ' : ok ? '✔' : '✘';
    console.log(
      `${mark} ${f.key.padEnd(34)} ${String(Math.round(f.value * 1000) / 1000).padStart(12)} ${f.unit.padEnd(10)} ${f.target ? `target ${f.target}` : ''}`,
    );
  }
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
