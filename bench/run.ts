// `npm run bench`: measures, prints and writes bench/results.json. `npm run bench -- store` runs one suite.
import { spawnSync } from 'node:child_process';
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
  const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = only.filter((name) => !(name in SUITES));
  if (unknown.length > 0)
    throw new Error(
      `No benchmark suite named ${unknown.join(', ')}: the suites are ${Object.keys(SUITES).join(', ')}.`,
    );
  const names = Object.keys(SUITES).filter((name) => !only.length || only.includes(name));
  if (names.length === 1) {
    mkdirSync(BENCH_TMP, { recursive: true });
    // Machine state of the workspaces the benchmarks open: a fresh root of their own, never the user's.
    process.env.AGENT_BUDGET_STATE_HOME = path.join(BENCH_TMP, 'state-home');
    rmSync(process.env.AGENT_BUDGET_STATE_HOME, { recursive: true, force: true });
    console.log(`\n${names[0]}`);
    record(await SUITES[names[0]!]!());
    return;
  }
  // Each suite in a process of its own, one after another: what one leaves behind (a heap grown by a million-row
  // store, a database server's last writes, timers) must not weigh on the next one's figures.
  for (const name of names) {
    const child = spawnSync(process.execPath, [...process.execArgv, __filename, name], { stdio: 'inherit' });
    if (child.status !== 0) throw new Error(`the ${name} benchmarks failed (exit ${child.status ?? child.signal})`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
