import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PLATFORM_DURABILITY } from '../src/core/store/durability';
import { encodeLine } from '../src/core/store/journal';
import { WorkspaceStore } from '../src/core/store/store';
import { randomEntry, seededRandom } from '../test/support/ledgerFixtures';
import type { Figure } from './results';
import { BENCH_TMP, seededStore, YEAR_END } from './storeSeed';

/**
 * This machine's floor for a durable append: one write of a journal-sized line and the platform's journal sync
 * (durability.ts), `count` times into a file of its own. What a store append costs beyond it is the store's.
 */
async function rawSyncedWrites(dir: string, count: number): Promise<number> {
  const line = encodeLine('bench:1:x::', { k: 'ledger', entry: randomEntry(seededRandom(7), YEAR_END) });
  const fd = fs.openSync(path.join(dir, 'raw.log'), 'a');
  const sync = PLATFORM_DURABILITY.journalSync === 'fdatasync' ? fs.fdatasync : fs.fsync;
  try {
    const t = performance.now();
    for (let i = 0; i < count; i++) {
      fs.writeSync(fd, line);
      await new Promise<void>((resolve, reject) => sync(fd, (err) => (err ? reject(err) : resolve())));
    }
    return count / ((performance.now() - t) / 1000);
  } finally {
    fs.closeSync(fd);
  }
}

async function sequentialAppends(store: WorkspaceStore, count: number): Promise<number[]> {
  const rand = seededRandom(count);
  const costs: number[] = [];
  for (let i = 0; i < count; i++) {
    const entry = randomEntry(rand, YEAR_END - 1000 + i);
    const t = process.hrtime.bigint();
    await store.commit([{ k: 'ledger', entry }]);
    costs.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return costs;
}

/** Figures measured in a separate process, so resident memory is the store's own. */
function measureOpen(rows: number): { openMs: number; breakdownMs: number; rssMb: number } {
  const out = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(__dirname, 'storeOpen.child.ts'), String(rows)],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  if (out.status !== 0) throw new Error(`store open benchmark (${rows} rows) failed`);
  return JSON.parse(out.stdout.trim().split('\n').pop()!) as { openMs: number; breakdownMs: number; rssMb: number };
}

export async function storeBenchmarks(): Promise<Figure[]> {
  const figures: Figure[] = [];

  // Durable sequential appends into a small store, side by side with this machine's bare write + sync: short blocks
  // of each alternate, so disk and CPU neighbours weigh on both alike; each rate is its blocks' total.
  const root = mkdtempSync(path.join(BENCH_TMP, 'append-'));
  const small = await WorkspaceStore.open({ dir: path.join(root, '.agent-budget'), pollMs: 0 });
  await sequentialAppends(small, 1000); // warm-up (the JIT settles after a few hundred)
  await rawSyncedWrites(root, 200);
  const block = 50;
  const blocks = 100;
  let rawMs = 0;
  let storeMs = 0;
  for (let i = 0; i < blocks; i++) {
    rawMs += (block / (await rawSyncedWrites(root, block))) * 1000;
    const t0 = performance.now();
    await sequentialAppends(small, block);
    storeMs += performance.now() - t0;
  }
  figures.push({
    key: 'store.appendSequentialPerSec',
    value: (block * blocks) / (storeMs / 1000),
    unit: 'appends/s',
    target: '>= 2000',
  });
  figures.push({ key: 'store.fsyncPerSec', value: (block * blocks) / (rawMs / 1000), unit: 'syncs/s' });
  figures.push({ key: 'store.appendSequentialVsFsync', value: rawMs / storeMs, unit: '×', target: '>= 0.7' });

  const writers = 50;
  const perWriter = 400;
  const rand = seededRandom(50);
  const t = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; i < perWriter; i++) {
        await small.commit([{ k: 'ledger', entry: randomEntry(rand, YEAR_END - 1000 + w * perWriter + i) }]);
      }
    }),
  );
  figures.push({
    key: 'store.appendConcurrentPerSec',
    value: (writers * perWriter) / ((performance.now() - t) / 1000),
    unit: 'appends/s',
    target: '>= 10000',
  });
  await small.close();
  rmSync(root, { recursive: true, force: true });

  // Per-append cost with 1k rows vs 1M rows in the store: the mean of durable sequential appends, long enough that
  // each run includes the compactions its size triggers (their cost grows with the database; their frequency falls).
  const meanAppend = async (rows: number) => {
    const dir = await seededStore(rows);
    const store = await WorkspaceStore.open({ dir, pollMs: 0 });
    await sequentialAppends(store, 200);
    const costs = await sequentialAppends(store, 15_000);
    await store.close();
    return costs.reduce((a, b) => a + b, 0) / costs.length;
  };
  const at1k = await meanAppend(1_000);
  const at1M = await meanAppend(1_000_000);
  figures.push({ key: 'store.appendMeanMs1k', value: at1k, unit: 'ms' });
  figures.push({ key: 'store.appendMeanMs1M', value: at1M, unit: 'ms' });
  figures.push({ key: 'store.appendCostRatio1Mto1k', value: at1M / at1k, unit: '×', target: '<= 1.5' });

  for (const [rows, label] of [
    [100_000, '100k'],
    [1_000_000, '1M'],
  ] as const) {
    await seededStore(rows, 5_000); // snapshot + 5,000 records in the live journal
    const m = measureOpen(rows);
    figures.push({
      key: `store.openMs${label}`,
      value: m.openMs,
      unit: 'ms',
      target: label === '1M' ? '<= 1000' : undefined,
    });
    figures.push({
      key: `store.breakdownMonthMs${label}`,
      value: m.breakdownMs,
      unit: 'ms',
      target: label === '1M' ? '<= 50' : undefined,
    });
    if (label === '1M') figures.push({ key: 'store.rssMb1M', value: m.rssMb, unit: 'MB' });
  }
  return figures;
}
