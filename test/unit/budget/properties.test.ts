import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BudgetBlockedError, BudgetEngine, policyDays, type Admission } from '../../../src/core/budget/engine';
import { ManualClock } from '../../../src/core/clock';
import { defaultPolicy } from '../../../src/core/policy/load';
import { priceCall } from '../../../src/core/pricing/cost';
import { WorkspaceStore } from '../../../src/core/store/store';
import { totalTokens, type TokenUsage } from '../../../src/core/usage';

const PRICES = {
  'small-model': { provider: 'anthropic' as const, inputPerMTok: 0.8, outputPerMTok: 4, maxOutputTokens: 4_000 },
  'big-model': {
    provider: 'anthropic' as const,
    inputPerMTok: 3,
    outputPerMTok: 15,
    maxOutputTokens: 8_000,
    above: { tokens: 3_000, inputPerMTok: 6, outputPerMTok: 22.5 },
  },
};

/** What one call's provider reports: fractions of what was admitted (never more: that is the contract tested). */
const callArb = fc.record({
  inputTokens: fc.integer({ min: 0, max: 4_000 }),
  wantOutput: fc.integer({ min: 16, max: 6_000 }),
  model: fc.constantFrom('small-model', 'big-model'),
  promptFraction: fc.double({ min: 0, max: 1, noNaN: true }),
  outputFraction: fc.double({ min: 0, max: 1, noNaN: true }),
  reasoningShare: fc.double({ min: 0, max: 1, noNaN: true }),
  cachedShare: fc.double({ min: 0, max: 1, noNaN: true }),
  outcome: fc.constantFrom('usage', 'usage', 'usage', 'lost', 'failed'),
});

const scenarioArb = fc.record({
  dailyUsd: fc.double({ min: 0.001, max: 0.3, noNaN: true }),
  workflowDailyUsd: fc.option(fc.double({ min: 0.001, max: 0.2, noNaN: true }), { nil: undefined }),
  taskHard: fc.integer({ min: 50, max: 30_000 }),
  sessionHard: fc.integer({ min: 100, max: 60_000 }),
  // Tasks run concurrently; each makes its calls in sequence.
  tasks: fc.array(
    fc.record({ run: fc.integer({ min: 0, max: 1 }), calls: fc.array(callArb, { minLength: 1, maxLength: 5 }) }),
    {
      minLength: 1,
      maxLength: 6,
    },
  ),
});

describe('BudgetEngine properties', function () {
  this.timeout(240_000);

  it('for random policies, concurrent schedules and usages within the clamp: no hard scope ends above its limit, and spend is the sum of what was reported', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (sc) => {
        const root = mkdtempSync(path.join(tmpdir(), 'ab-prop-'));
        const clock = new ManualClock(Date.UTC(2026, 10, 22, 12));
        const policy = defaultPolicy();
        policy.timeZone = 'UTC';
        policy.prices = PRICES;
        policy.limits.workspace = { dailyUsd: sc.dailyUsd };
        if (sc.workflowDailyUsd !== undefined) policy.workflows.wf = { limits: { dailyUsd: sc.workflowDailyUsd } };
        const store = await WorkspaceStore.open({
          dir: path.join(root, '.agent-budget'),
          pollMs: 0,
          clock,
          days: policyDays(policy),
        });
        const engine = new BudgetEngine(store, policy, clock);
        let expectedMicros = 0;
        const taskTokens = new Map<string, number>();
        const sessionTokens = new Map<string, number>();
        try {
          await Promise.all(
            sc.tasks.map(async (task, t) => {
              const runId = `run-${task.run}`;
              const taskId = `task-${t}`;
              for (const call of task.calls) {
                let a: Admission;
                try {
                  a = await engine.admit({
                    workflow: 'wf',
                    runId,
                    taskId,
                    task: 'step',
                    provider: 'anthropic',
                    model: call.model,
                    inputTokens: call.inputTokens,
                    maxOutputTokens: call.wantOutput,
                    tokenScopes: [
                      { key: `task@${taskId}`, kind: 'task', hardTokens: sc.taskHard },
                      { key: `session@${runId}`, kind: 'session', hardTokens: sc.sessionHard },
                    ],
                    minOutputTokens: 1,
                  });
                } catch (err) {
                  if (err instanceof BudgetBlockedError) return; // the task stops, as a blocked run does
                  throw err;
                }
                assert.ok(a.maxOutputTokens <= call.wantOutput);
                if (call.outcome === 'failed') {
                  await engine.release(a);
                  continue;
                }
                if (call.outcome === 'lost') {
                  const entry = await engine.settle(a, {});
                  expectedMicros += a.reservation.micros;
                  assert.equal(entry.costMicros, a.reservation.micros);
                  taskTokens.set(taskId, (taskTokens.get(taskId) ?? 0) + totalTokens(entry.usage));
                  sessionTokens.set(runId, (sessionTokens.get(runId) ?? 0) + totalTokens(entry.usage));
                  continue;
                }
                const prompt = Math.floor(call.inputTokens * call.promptFraction);
                const cached = Math.floor(prompt * call.cachedShare);
                const out = Math.floor(a.maxOutputTokens * call.outputFraction);
                const reasoning = Math.floor(out * call.reasoningShare);
                const usage: TokenUsage = {
                  input: prompt - cached,
                  output: out - reasoning,
                  cacheRead: cached,
                  cacheWrite5m: 0,
                  cacheWrite1h: 0,
                  reasoning,
                };
                const entry = await engine.settle(a, { usage });
                // Independently priced from the reported usage.
                const priced = priceCall({
                  provider: 'anthropic',
                  model: a.model,
                  usage,
                  overrides: PRICES,
                }).costMicros;
                assert.equal(entry.costMicros, priced);
                assert.ok(priced <= a.reservation.micros, 'the reservation covers the worst case');
                expectedMicros += priced;
                taskTokens.set(taskId, (taskTokens.get(taskId) ?? 0) + totalTokens(usage));
                sessionTokens.set(runId, (sessionTokens.get(runId) ?? 0) + totalTokens(usage));
              }
            }),
          );
          const day = { fromDay: '2026-11-22', toDay: '2026-11-22' };
          const spent = store.queries.totals(day).costMicros;
          assert.equal(spent, expectedMicros, 'settled spend equals the sum of reported (and estimated) usage');
          assert.ok(spent <= Math.round(sc.dailyUsd * 1e6), `workspace.daily: ${spent} µ$ > cap`);
          if (sc.workflowDailyUsd !== undefined)
            assert.ok(spent <= Math.round(sc.workflowDailyUsd * 1e6), 'workflow.wf.daily over cap');
          for (const [taskId, tokens] of taskTokens) {
            assert.ok(tokens <= sc.taskHard, `${taskId}: ${tokens} tokens > ${sc.taskHard}`);
            assert.equal(store.queries.taskTotals(taskId).tokens, tokens);
          }
          for (const [runId, tokens] of sessionTokens) {
            assert.ok(tokens <= sc.sessionHard, `${runId}: ${tokens} tokens > ${sc.sessionHard}`);
            assert.equal(store.queries.runTotals(runId).tokens, tokens);
          }
          assert.deepEqual(store.queries.openReservations(), [], 'every reservation was settled or released');
        } finally {
          engine.dispose();
          await store.close();
          rmSync(root, { recursive: true, force: true });
        }
      }),
      { numRuns: 60, seed: 20261122 },
    );
  });

  it('under prompt caching a settle never exceeds its reservation, and task and run dollar limits hold', async () => {
    // Real table entries: cache writes bill above input (Anthropic 1.25× / 2×; gpt-6.2-sol's unasked writes 1.25×),
    // and two of them have a long-prompt tier.
    const models = [
      { provider: 'anthropic' as const, model: 'claude-sonnet-4-5' },
      { provider: 'anthropic' as const, model: 'claude-haiku-4-5' },
      { provider: 'openai' as const, model: 'gpt-6.2-sol' },
      { provider: 'openai' as const, model: 'gpt-4.1-mini' },
    ];
    const edgeOrFraction = fc.oneof(fc.constant(0), fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true }));
    const cachedCallArb = fc.record({
      which: fc.integer({ min: 0, max: models.length - 1 }),
      caching: fc.constantFrom('none' as const, '5m' as const, '1h' as const),
      inputTokens: fc.integer({ min: 0, max: 300_000 }),
      wantOutput: fc.integer({ min: 16, max: 8_000 }),
      // The edges matter most (a whole prompt written, the whole clamp used): they are drawn often.
      promptFraction: edgeOrFraction,
      outputFraction: edgeOrFraction,
      // How the prompt splits: reads, 5-minute writes, 1-hour writes (as far as the request allows), the rest input.
      split: fc.tuple(edgeOrFraction, edgeOrFraction, edgeOrFraction),
    });
    const arb = fc.record({
      taskHardUsd: fc.double({ min: 0.001, max: 2, noNaN: true }),
      sessionHardUsd: fc.double({ min: 0.001, max: 3, noNaN: true }),
      tasks: fc.array(fc.array(cachedCallArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 4 }),
    });
    await fc.assert(
      fc.asyncProperty(arb, async (sc) => {
        const root = mkdtempSync(path.join(tmpdir(), 'ab-prop-cache-'));
        const clock = new ManualClock(Date.UTC(2026, 10, 22, 12));
        const policy = defaultPolicy();
        policy.timeZone = 'UTC';
        policy.limits.workspace = {};
        const store = await WorkspaceStore.open({
          dir: path.join(root, '.agent-budget'),
          pollMs: 0,
          clock,
          days: policyDays(policy),
        });
        const engine = new BudgetEngine(store, policy, clock);
        const hard = (usd: number) => Math.round(usd * 1e6);
        const spentByTask = new Map<string, number>();
        let spentInRun = 0;
        try {
          await Promise.all(
            sc.tasks.map(async (calls, t) => {
              const taskId = `task-${t}`;
              for (const call of calls) {
                const { provider, model } = models[call.which]!;
                let a: Admission;
                try {
                  a = await engine.admit({
                    workflow: 'wf',
                    runId: 'run',
                    taskId,
                    task: 'step',
                    provider,
                    model,
                    inputTokens: call.inputTokens,
                    maxOutputTokens: call.wantOutput,
                    promptCaching: call.caching,
                    tokenScopes: [],
                    spendScopes: [
                      { key: `task.usd@${taskId}`, kind: 'task.usd', hardMicros: hard(sc.taskHardUsd) },
                      { key: 'session.usd@run', kind: 'session.usd', hardMicros: hard(sc.sessionHardUsd) },
                    ],
                    minOutputTokens: 1,
                  });
                } catch (err) {
                  if (err instanceof BudgetBlockedError) return;
                  throw err;
                }
                const prompt = Math.floor(call.inputTokens * call.promptFraction);
                // Writes happen only as the request allows: Anthropic when asked (1-hour ones only for 1h),
                // OpenAI whenever it likes.
                const writes5m = call.caching !== 'none' || provider === 'openai';
                const read = Math.floor(prompt * call.split[0]);
                const w5 = writes5m ? Math.floor((prompt - read) * call.split[1]) : 0;
                const w1 =
                  call.caching === '1h' && provider === 'anthropic'
                    ? Math.floor((prompt - read - w5) * call.split[2])
                    : 0;
                const out = Math.floor(a.maxOutputTokens * call.outputFraction);
                const usage: TokenUsage = {
                  input: prompt - read - w5 - w1,
                  output: out,
                  cacheRead: read,
                  cacheWrite5m: w5,
                  cacheWrite1h: w1,
                  reasoning: 0,
                };
                const entry = await engine.settle(a, { usage });
                assert.ok(
                  entry.costMicros <= a.reservation.micros,
                  `${model} (${call.caching}): settled ${entry.costMicros} µ$ > reserved ${a.reservation.micros} µ$`,
                );
                spentByTask.set(taskId, (spentByTask.get(taskId) ?? 0) + entry.costMicros);
                spentInRun += entry.costMicros;
              }
            }),
          );
          for (const [taskId, spent] of spentByTask)
            assert.ok(spent <= hard(sc.taskHardUsd), `${taskId}: ${spent} µ$ > task.usd hard limit`);
          assert.ok(spentInRun <= hard(sc.sessionHardUsd), `run: ${spentInRun} µ$ > session.usd hard limit`);
          assert.equal(store.queries.runTotals('run').costMicros, spentInRun);
        } finally {
          engine.dispose();
          await store.close();
          rmSync(root, { recursive: true, force: true });
        }
      }),
      { numRuns: 60, seed: 20261203 },
    );
  });
});
