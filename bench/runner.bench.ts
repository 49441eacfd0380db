import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createProviderAdapter } from '../src/core/providers';
import type { ProviderAdapter } from '../src/core/providers/types';
import type { RunnerWorkflow } from '../src/core/runner/builtins';
import { Runner } from '../src/core/runner/runner';
import { Workspace } from '../src/core/workspace';
import { startFakeAnthropic } from '../test/fakes';
import { percentile, type Figure } from './results';
import { BENCH_TMP } from './storeSeed';

/** As many steps as the longest built-in (research: plan, research, outline, write, review). */
const STEPS = 5;
const ROUNDS = 80;
const PROMPT = 'Reply with one short sentence about budgets.';
const MAX_OUTPUT = 64;

/**
 * runner.overheadPerCallMs: what a workflow step adds over calling the SDK adapter directly against the same local
 * fake Anthropic server — the budget admission (estimate, clamp, reservation), the checkpoints, the settlement into
 * the ledger, task records and events, with their two durable (fsync'd) writes per call.
 *
 * Both sides send the same request (same prompt, same max_tokens) and get the same streamed reply. Direct calls and
 * runs alternate so drift (disk, CPU neighbours) hits both alike. A step's time is the interval from one step's
 * start to the next one's, which holds exactly one call with everything around it; the first step of a run also
 * carries creating the run and the last one finishing it — per-run costs, reported as runner.runStartFinishMs.
 * Figure = median step − median direct call.
 */
export async function runnerBenchmarks(): Promise<Figure[]> {
  const fake = await startFakeAnthropic();
  const folder = path.join(BENCH_TMP, 'runner-workspace');
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(path.join(folder, '.agent-budget'), { recursive: true });
  // Caps far above what the benchmark spends; everything else is the default policy.
  writeFileSync(
    path.join(folder, '.agent-budget', 'budget.json'),
    JSON.stringify({ timeZone: 'UTC', limits: { workspace: { dailyUsd: 1000, weeklyUsd: 1000, monthlyUsd: 1000 } } }),
  );
  const workflow: RunnerWorkflow = {
    id: 'bench',
    title: 'Bench',
    model: 'claude-haiku-4-5',
    version: 'b1',
    steps: Array.from({ length: STEPS }, (_, i) => ({ id: `s${i + 1}`, prompt: PROMPT, maxOutputTokens: MAX_OUTPUT })),
  };
  const adapter = createProviderAdapter({ provider: 'anthropic', apiKey: 'bench-key', baseUrl: fake.baseUrl });
  const workspace = await Workspace.open(folder, { pollMs: 0 });
  const runner = new Runner({
    workspace,
    providers: { adapter: async (): Promise<ProviderAdapter> => adapter },
    approver: { approve: async () => false },
    builtins: [workflow],
  });

  const direct: number[] = [];
  const steps: number[] = [];
  const runs: number[] = [];
  const directCall = async () => {
    const t = performance.now();
    await adapter.chat({
      model: 'claude-haiku-4-5',
      maxOutputTokens: MAX_OUTPUT,
      messages: [{ role: 'user', content: [{ type: 'text', text: PROMPT }] }],
    });
    return performance.now() - t;
  };
  const run = async () => {
    const started = performance.now();
    const starts: number[] = [];
    const outcome = await runner.start(
      'bench',
      {},
      { onEvent: (e) => e.type === 'stepStarted' && starts.push(performance.now()) },
    );
    if (outcome.status !== 'completed') throw new Error(`bench run ${outcome.status}: ${outcome.error}`);
    const total = performance.now() - started;
    const between: number[] = [];
    for (let i = 2; i < starts.length; i++) between.push(starts[i]! - starts[i - 1]!);
    return { between, total };
  };

  try {
    // Warm-up: JIT, SDK client, sql.js statements, the fake server's sockets.
    for (let i = 0; i < 40; i++) await directCall();
    for (let i = 0; i < 5; i++) await run();
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < STEPS; i++) direct.push(await directCall());
      const r = await run();
      steps.push(...r.between);
      runs.push(r.total);
    }
  } finally {
    runner.dispose();
    await workspace.close();
    await fake.close();
  }
  direct.sort((a, b) => a - b);
  steps.sort((a, b) => a - b);
  runs.sort((a, b) => a - b);
  const directMs = percentile(direct, 50);
  const stepMs = percentile(steps, 50);
  return [
    { key: 'runner.directCallMs', value: directMs, unit: 'ms' },
    { key: 'runner.stepMs', value: stepMs, unit: 'ms' },
    { key: 'runner.overheadPerCallMs', value: stepMs - directMs, unit: 'ms', target: '<= 2' },
    { key: 'runner.overheadPerCallP90Ms', value: percentile(steps, 90) - percentile(direct, 90), unit: 'ms' },
    // What a whole run costs beyond its steps: creating it (run, task, checkpoint) and recording its end.
    { key: 'runner.runStartFinishMs', value: percentile(runs, 50) - STEPS * stepMs, unit: 'ms' },
  ];
}
