/**
 * A separate process spending against a workspace daily cap until the budget blocks it (for the multi-process
 * admission test). argv: <stateDir> <dailyUsd> <label> <nowMs>. Prints `spent <micros> calls <n>` at the end.
 * Both processes use the same fixed instant, so the test never straddles midnight.
 */
import { BudgetBlockedError, BudgetEngine, policyDays } from '../../src/core/budget/engine';
import { ManualClock } from '../../src/core/clock';
import { defaultPolicy } from '../../src/core/policy/load';
import { WorkspaceStore } from '../../src/core/store/store';

async function main(): Promise<void> {
  const [dir, dailyUsd, label, nowMs] = process.argv.slice(2);
  const clock = new ManualClock(Number(nowMs));
  const policy = defaultPolicy();
  policy.timeZone = 'UTC';
  policy.limits.workspace = { dailyUsd: Number(dailyUsd) };
  policy.prices = { 'test-model': { provider: 'openai', inputPerMTok: 2, outputPerMTok: 10, maxOutputTokens: 4_000 } };
  const store = await WorkspaceStore.open({ dir: dir!, pollMs: 50, days: policyDays(policy), clock });
  const engine = new BudgetEngine(store, policy, clock);
  // Start together: the test says "go" on stdin once every spender has opened the store (a slow start under load
  // would otherwise let the first process take the whole cap before the second one exists).
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  process.stdin.pause();
  let spent = 0;
  let calls = 0;
  for (;;) {
    try {
      const a = await engine.admit({
        workflow: label!,
        runId: `run-${label}`,
        taskId: `task-${label}-${calls}`,
        task: 'spend',
        provider: 'openai',
        model: 'test-model',
        inputTokens: 100,
        maxOutputTokens: 500,
        tokenScopes: [],
        minOutputTokens: 1,
      });
      // The provider uses every token it was allowed: the worst case, every time.
      const entry = await engine.settle(a, {
        usage: { input: 100, output: a.maxOutputTokens, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
      });
      spent += entry.costMicros;
      calls++;
    } catch (err) {
      if (!(err instanceof BudgetBlockedError)) throw err;
      break;
    }
  }
  engine.dispose();
  await store.close();
  process.stdout.write(`spent ${spent} calls ${calls}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
