// `npm run bench`: measures, prints and writes bench/results.json. `npm run bench -- store` runs one suite.
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { record, type Figure } from './results';
import { BENCH_TMP } from './storeSeed';
import { budgetBenchmarks } from './budget.bench';
import { proxyBenchmarks } from './proxy.bench';
import { costBenchmarks } from './cost.bench';
import { runnerBenchmarks } from './runner.bench';
import { storeBenchmarks } from './store.bench';
import { teamBenchmarks } from './team.bench';

const SUITES: Record<string, () => Promise<Figure[]>> = {
  store: storeBenchmarks,
  budget: budgetBenchmarks,
  runner: runnerBenchmarks,
  team: teamBenchmarks,
  proxy: proxyBenchmarks,
  cost: costBenchmarks,
};

async function main(): Promise<void> {
  mkdirSync(BENCH_TMP, { recursive: true });
  // Machine state of the workspaces the benchmarks open: a fresh root of their own, never the user's.
  process.env.AGENT_BUDGET_STATE_HOME = path.join(BENCH_TMP, 'state-home');
  rmSync(process.env.AGENT_BUDGET_STATE_HOME, { recursive: true, force: true });
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
