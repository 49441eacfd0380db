// Opens a seeded store (bench/storeSeed.ts) in a fresh process and prints open time, breakdown time and RSS.
import path from 'node:path';
import { WorkspaceStore } from '../src/core/store/store';
import { loadSqlite } from '../src/core/store/sqlite';
import { BENCH_TMP } from './storeSeed';

async function main(): Promise<void> {
  const rows = Number(process.argv[2]);
  const dir = path.join(BENCH_TMP, `store-${rows}`, '.agent-budget');
  await loadSqlite(); // the engine loads once per process, at activation; not part of opening a store
  const t0 = performance.now();
  const store = await WorkspaceStore.open({ dir, pollMs: 0 });
  const openMs = performance.now() - t0;
  const month = { fromDay: '2026-11-01', toDay: '2026-11-30' };
  const runs: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t = performance.now();
    for (const dim of ['workflow', 'model', 'provider', 'day'] as const) store.queries.breakdown(dim, month);
    runs.push(performance.now() - t);
  }
  runs.sort((a, b) => a - b);
  (globalThis as { gc?: () => void }).gc?.();
  const rssMb = process.memoryUsage().rss / 2 ** 20;
  await store.close();
  process.stdout.write(`${JSON.stringify({ openMs, breakdownMs: runs[3], rssMb })}\n`);
}

void main();
