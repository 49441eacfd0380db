import { BudgetEngine, policyDays, type AdmitRequest } from '../src/core/budget/engine';
import { systemClock } from '../src/core/clock';
import { defaultPolicy } from '../src/core/policy/load';
import type { StoreRecord } from '../src/core/store/records';
import { WorkspaceStore } from '../src/core/store/store';
import { percentile, type Figure } from './results';
import { seededStore } from './storeSeed';

/**
 * Admission + settlement with 10 active scopes (workspace and workflow × daily/weekly/monthly, task, parent task,
 * pool, session) over a store of 100k ledger rows.
 * - In-process: the decision and the in-memory bookkeeping the store's apply event drives — everything but the
 *   journal write (plan, reserve applied to the counters, settlement planned, settle applied).
 * - Durable: `admit` + `settle` as the runner calls them, two fsync'd transactions.
 */
export async function budgetBenchmarks(): Promise<Figure[]> {
  const dir = await seededStore(100_000);
  const policy = defaultPolicy();
  policy.timeZone = 'UTC';
  policy.limits.workspace = { dailyUsd: 1e6, weeklyUsd: 1e6, monthlyUsd: 1e6 };
  policy.workflows['code-review'] = { limits: { dailyUsd: 1e5, weeklyUsd: 1e5, monthlyUsd: 1e5 } };
  policy.prices = {
    'bench-model': { provider: 'anthropic', inputPerMTok: 3, outputPerMTok: 15, maxOutputTokens: 8_000 },
  };
  const store = await WorkspaceStore.open({ dir, pollMs: 0, days: policyDays(policy) });
  const engine = new BudgetEngine(store, policy, systemClock);
  const request = (i: number): AdmitRequest => ({
    workflow: 'code-review',
    runId: 'bench-run',
    taskId: `task-${i % 50}`,
    task: 'review',
    provider: 'anthropic',
    model: 'bench-model',
    inputTokens: 2_000,
    maxOutputTokens: 1_000,
    tokenScopes: [
      { key: `task@task-${i % 50}`, kind: 'task', softTokens: 1e9, hardTokens: 2e9 },
      { key: 'task@parent', kind: 'task', hardTokens: 2e9 },
      { key: 'pool@siblings', kind: 'pool', hardTokens: 2e9 },
      { key: 'session@bench-run', kind: 'session', hardTokens: 4e9 },
    ],
  });
  const usage = { input: 1_800, output: 700, cacheRead: 200, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 100 };
  // The store's apply event drives these counters; here they are driven directly, without the journal.
  const observe = (record: StoreRecord) => (engine as unknown as { observe(r: StoreRecord): void }).observe(record);
  const fired = () => true;

  const inProcess: number[] = [];
  for (let i = 0; i < 22_000; i++) {
    const t = process.hrtime.bigint();
    const admission = engine.plan(request(i));
    observe({ k: 'reserve', reservation: admission.reservation });
    const entry = engine.entryFor(admission, { usage, requestId: 'req', latencyMs: 900 });
    for (const record of engine.planSettlement(admission, entry, fired).records) observe(record);
    const us = Number(process.hrtime.bigint() - t) / 1e3;
    if (i >= 2_000) inProcess.push(us); // after warm-up
  }
  inProcess.sort((a, b) => a - b);

  const durable: number[] = [];
  for (let i = 0; i < 1_200; i++) {
    const t = process.hrtime.bigint();
    const admission = await engine.admit(request(i));
    await engine.settle(admission, { usage });
    if (i >= 200) durable.push(Number(process.hrtime.bigint() - t) / 1e3);
  }
  durable.sort((a, b) => a - b);
  engine.dispose();
  await store.close();
  return [
    { key: 'budget.admitSettleP50Us', value: percentile(inProcess, 50), unit: 'µs' },
    { key: 'budget.admitSettleP99Us', value: percentile(inProcess, 99), unit: 'µs', target: '<= 50' },
    { key: 'budget.admitDurableP50Us', value: percentile(durable, 50), unit: 'µs' },
    { key: 'budget.admitDurableP99Us', value: percentile(durable, 99), unit: 'µs' },
  ];
}
