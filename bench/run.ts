// `npm run bench`: measures, prints and writes bench/results.json. `npm run bench -- store` runs one suite.
import { mkdirSync } from 'node:fs';
import { record, type Figure } from './results';
import { BENCH_TMP } from './storeSeed';
import { budgetBenchmarks } from './budget.bench';
import { costBenchmarks } from './cost.bench';
import { runnerBenchmarks } from './runner.bench';
import { storeBenchmarks } from './store.bench';

const SUITES: Record<string, () => Promise<Figure[]>> = {
  store: storeBenchmarks,
  budget: budgetBenchmarks,
  runner: runnerBenchmarks,
  cost: costBenchmarks,
};

async function main(): Promise<void> {
  mkdirSync(BENCH_TMP, { recursive: true });
  const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  for (const [name, suite] of Object.entries(SUITES)) {
    if (only.length && !only.includes(name)) continue;
    console.log(`\n${name}`);
    record(await suite());
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
