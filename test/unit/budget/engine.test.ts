import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  BudgetBlockedError,
  BudgetEngine,
  policyDays,
  type AdmitRequest,
  type BudgetAlert,
} from '../../../src/core/budget/engine';
import { ManualClock } from '../../../src/core/clock';
import { defaultPolicy } from '../../../src/core/policy/load';
import type { BudgetPolicy } from '../../../src/core/policy/types';
import { UnknownModelError } from '../../../src/core/pricing/cost';
import { WorkspaceStore } from '../../../src/core/store/store';

// A priced test model: $2/MTok input (= 2 µ$ per token), $10/MTok output (= 10 µ$ per token), 8,000 max output.
const PRICES = {
  'test-model': { provider: 'anthropic' as const, inputPerMTok: 2, outputPerMTok: 10, maxOutputTokens: 8_000 },
  'cheap-model': { provider: 'anthropic' as const, inputPerMTok: 0.5, outputPerMTok: 1, maxOutputTokens: 8_000 },
  'opus-test': { provider: 'anthropic' as const, inputPerMTok: 15, outputPerMTok: 75, maxOutputTokens: 8_000 },
  'tiered-model': {
    provider: 'anthropic' as const,
    inputPerMTok: 2,
    outputPerMTok: 10,
    maxOutputTokens: 8_000,
    above: { tokens: 10_000, inputPerMTok: 4, outputPerMTok: 20 },
  },
};

const NOON = Date.UTC(2026, 10, 22, 12);

function policy(overrides: (p: BudgetPolicy) => void = () => undefined): BudgetPolicy {
  const p = defaultPolicy();
  p.timeZone = 'UTC';
  p.prices = { ...PRICES };
  p.limits.workspace = { dailyUsd: 1 };
  overrides(p);
  return p;
}

function request(overrides: Partial<AdmitRequest> = {}): AdmitRequest {
  return {
    workflow: 'code-review',
    runId: 'run-1',
    taskId: 'task-1',
    task: 'review',
    provider: 'anthropic',
    model: 'test-model',
    inputTokens: 1_000,
    tokenScopes: [
      { key: 'task@task-1', kind: 'task', softTokens: 20_000, hardTokens: 40_000 },
      { key: 'session@run-1', kind: 'session', hardTokens: 100_000 },
    ],
    ...overrides,
  };
}

const usage = (input: number, output: number) => ({
  input,
  output,
  cacheRead: 0,
  cacheWrite5m: 0,
  cacheWrite1h: 0,
  reasoning: 0,
});

describe('BudgetEngine', () => {
  let root: string;
  let store: WorkspaceStore;
  let clock: ManualClock;
  let engine: BudgetEngine;

  async function setup(p: BudgetPolicy): Promise<void> {
    root = mkdtempSync(path.join(tmpdir(), 'ab-engine-'));
    clock = new ManualClock(NOON);
    store = await WorkspaceStore.open({ dir: path.join(root, '.agent-budget'), pollMs: 0, clock, days: policyDays(p) });
    engine = new BudgetEngine(store, p, clock);
  }
  afterEach(async () => {
    engine?.dispose();
    await store?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('clamps max_tokens to the model, the request and what each scope still allows', async () => {
    await setup(policy());
    // Model max 8,000; request 500 → 500.
    assert.equal((await engine.admit(request({ maxOutputTokens: 500 }))).maxOutputTokens, 500);
    // Task hard limit 40,000 with 1,000 input and 500 + 1,000 held → room 40,000 − 1,500 − 1,000 = 37,500 > model 8,000.
    const byModel = await engine.admit(request());
    assert.equal(byModel.maxOutputTokens, 8_000);
    assert.equal(byModel.clampedBy, 'model');
    // A tight task: 3,000 hard, 0 used, but 1,500 + 9,000 held by the two open reservations → blocked.
    await assert.rejects(
      engine.admit(request({ tokenScopes: [{ key: 'task@task-1', kind: 'task', hardTokens: 3_000 }] })),
      (err: unknown) => err instanceof BudgetBlockedError && err.scope === 'task',
    );
  });

  it('clamps output to what the daily cap can still pay for, in exact micro-dollars', async () => {
    // Cap $0.05 = 50,000 µ$. Prompt 1,000 × 2 µ$ = 2,000 µ$. Left 48,000 µ$ buys 4,800 output tokens at 10 µ$.
    await setup(policy((p) => (p.limits.workspace = { dailyUsd: 0.05 })));
    const a = await engine.admit(request());
    assert.equal(a.maxOutputTokens, 4_800);
    assert.equal(a.clampedBy, 'workspace.daily');
    assert.equal(a.reservation.micros, 50_000, 'the reservation is the worst case: all of the cap');
    // Nothing is left for another call until this one settles.
    await assert.rejects(engine.admit(request({ taskId: 'task-2' })), /workspace\.daily cap reached/);
    // Settle to real usage (1,000 in, 300 out = 2,000 + 3,000 = 5,000 µ$): 45,000 µ$ free again.
    const entry = await engine.settle(a, { usage: usage(1_000, 300), requestId: 'req_1' });
    assert.equal(entry.costMicros, 5_000);
    assert.equal(entry.estimated, false);
    const b = await engine.admit(request({ taskId: 'task-2' }));
    assert.equal(b.maxOutputTokens, (45_000 - 2_000) / 10);
  });

  it('charges the whole reservation, marked estimated, when usage never arrived', async () => {
    await setup(policy());
    const a = await engine.admit(request({ maxOutputTokens: 1_000 }));
    // Worst case: 1,000 × 2 + 1,000 × 10 = 12,000 µ$.
    assert.equal(a.reservation.micros, 12_000);
    const entry = await engine.settle(a, {});
    assert.equal(entry.estimated, true);
    assert.equal(entry.costMicros, 12_000);
    assert.deepEqual(entry.usage, usage(1_000, 1_000));
    assert.equal(store.queries.totals({ fromDay: '2026-11-22', toDay: '2026-11-22' }).estimatedMicros, 12_000);
  });

  it('releases a reservation that was never billed', async () => {
    await setup(policy((p) => (p.limits.workspace = { dailyUsd: 0.013 })));
    const a = await engine.admit(request({ maxOutputTokens: 1_000 }));
    await assert.rejects(engine.admit(request({ maxOutputTokens: 1_000, taskId: 't2' })), BudgetBlockedError);
    await engine.release(a);
    assert.equal(store.queries.reservationStatus(a.reservation.id), 'released');
    await engine.admit(request({ maxOutputTokens: 1_000, taskId: 't2' }));
    assert.equal(store.queries.ledgerCount(), 0);
  });

  it('uses the higher tier for the worst case when the prompt is near an above-threshold', async () => {
    await setup(policy((p) => (p.limits.workspace = {})));
    // 9,500 × 1.1 > 10,000 → above tier: 9,500 × 4 + 100 × 20 = 40,000 µ$.
    const near = await engine.admit(request({ model: 'tiered-model', inputTokens: 9_500, maxOutputTokens: 100 }));
    assert.equal(near.reservation.micros, 40_000);
    // 5,000 is far below: base tier 5,000 × 2 + 100 × 10 = 11,000 µ$.
    const far = await engine.admit(
      request({ model: 'tiered-model', inputTokens: 5_000, maxOutputTokens: 100, taskId: 't2' }),
    );
    assert.equal(far.reservation.micros, 11_000);
  });

  it('prices prompt caching writes above the input rate in the worst case', async () => {
    await setup(policy((p) => (p.limits.workspace = {})));
    // Anthropic 1-hour write = 2× input = 4 µ$/token: 1,000 × 4 + 100 × 10 = 5,000 µ$.
    const a = await engine.admit(request({ promptCaching: '1h', maxOutputTokens: 100 }));
    assert.equal(a.reservation.micros, 5_000);
  });

  it('applies the strictest rule: block beats degrade beats warn; degrade routes to the cheaper model', async () => {
    await setup(
      policy((p) => {
        p.limits.workspace = { dailyUsd: 1, monthlyUsd: 10 };
        p.rules = [
          { when: { scope: 'workspace.daily', atLeastPct: 1 }, action: 'warn' },
          { when: { scope: 'workspace.daily', atLeastPct: 2 }, action: 'degrade' },
          { when: { scope: 'workspace.monthly', atLeastPct: 0, modelMatches: 'opus' }, action: 'block' },
        ];
      }),
    );
    // Worst case 1,000 × 2 + 100 × 10 = 3,000 µ$ = 0.3 % of $1: no rule applies.
    const plain = await engine.admit(request({ maxOutputTokens: 100 }));
    assert.equal(plain.action, 'allow');
    // 1,000 out → 12,000 µ$ plus 3,000 held = 1.5 %: the warn rule.
    const warned = await engine.admit(request({ maxOutputTokens: 1_000, taskId: 't2' }));
    assert.equal(warned.action, 'warn');
    assert.match(warned.warnings.join(' '), /rules\[0\]/);
    // 2,000 out → 22,000 + 15,000 held = 3.7 %: degrade to the cheaper model, which is then admitted.
    const degraded = await engine.admit(request({ maxOutputTokens: 2_000, taskId: 't3', degradeModel: 'cheap-model' }));
    assert.equal(degraded.action, 'degrade');
    assert.equal(degraded.model, 'cheap-model');
    assert.equal(degraded.reservation.model, 'cheap-model');
    // Without a degrade model the call goes on, with a warning that says so.
    const undegradable = await engine.admit(request({ maxOutputTokens: 2_000, taskId: 't4' }));
    assert.equal(undegradable.model, 'test-model');
    assert.match(undegradable.warnings.join(' '), /no degradeModel/);
    // opus is blocked outright.
    await assert.rejects(
      engine.admit(request({ model: 'opus-test', maxOutputTokens: 10, taskId: 't5' })),
      /Blocked by a rule.*rules\[2\]/,
    );
  });

  it('never lets a rule on an unlimited scope open or close anything', async () => {
    await setup(
      policy((p) => {
        p.limits.workspace = { dailyUsd: 0.01 };
        p.rules = [
          { when: { scope: 'workspace.weekly', atLeastPct: 0 }, action: 'block' }, // no weekly cap: cannot evaluate
          { when: { scope: 'workspace.daily', atLeastPct: 0 }, action: 'allow' },
        ];
      }),
    );
    const a = await engine.admit(request({ maxOutputTokens: 100 }));
    assert.equal(a.action, 'allow');
    // ALLOW cannot open the hard cap: $0.01 = 10,000 µ$, 3,000 held; 1,000 × 2 leaves 5,000 → 500 output.
    const b = await engine.admit(request({ taskId: 't2' }));
    assert.equal(b.maxOutputTokens, 500);
    await assert.rejects(engine.admit(request({ taskId: 't3' })), BudgetBlockedError);
  });

  it('warns past a soft limit and blocks at the hard one, counting settled tokens', async () => {
    await setup(policy((p) => (p.limits.workspace = {})));
    const scopes = [{ key: 'task@t', kind: 'task' as const, softTokens: 2_000, hardTokens: 5_000 }];
    const a = await engine.admit(request({ tokenScopes: scopes, maxOutputTokens: 500, inputTokens: 1_000 }));
    assert.deepEqual(a.warnings, []);
    await engine.settle(a, { usage: usage(1_000, 500) });
    const b = await engine.admit(request({ tokenScopes: scopes, maxOutputTokens: 500, inputTokens: 1_000 }));
    // Not past it yet: this call will likely take it there (what it says must add up: no estimate given, so the
    // sized prompt and no output; never the clamp).
    assert.match(
      b.warnings.join(' '),
      /this call will likely take task past its soft limit \(1500 tokens used \+ about 1000 tokens of 2000 tokens soft\)/,
    );
    await engine.settle(b, { usage: usage(1_000, 500) });
    // 3,000 used; 1,000 input leaves 1,000 output.
    const c = await engine.admit(request({ tokenScopes: scopes, inputTokens: 1_000 }));
    assert.equal(c.maxOutputTokens, 1_000);
    assert.match(c.warnings.join(' '), /task is past its soft limit \(3000 tokens of 2000 tokens soft\)/);
    await engine.settle(c, { usage: usage(1_000, 1_000) });
    await assert.rejects(engine.admit(request({ tokenScopes: scopes, inputTokens: 10 })), /task token limit reached/);
  });

  it("counts a resumed task's earlier tokens (initialUsed) once", async () => {
    await setup(policy((p) => (p.limits.workspace = {})));
    const scopes = [{ key: 'task@old', kind: 'task' as const, hardTokens: 5_000, initialUsed: () => 4_000 }];
    const a = await engine.admit(request({ tokenScopes: scopes, inputTokens: 500 }));
    assert.equal(a.maxOutputTokens, 500);
  });

  it('fires each alert threshold once per scope and period, and again in the next period', async () => {
    await setup(policy((p) => (p.limits.workspace = { dailyUsd: 0.1 })));
    const alerts: BudgetAlert[] = [];
    engine.onAlert((a) => alerts.push(a));
    const spend = async (outputTokens: number) => {
      const a = await engine.admit(request({ inputTokens: 0, maxOutputTokens: outputTokens, minOutputTokens: 1 }));
      await engine.settle(a, { usage: usage(0, outputTokens) });
    };
    await spend(4_000); // 40,000 µ$ = 40 %
    assert.deepEqual(
      alerts.map((a) => a.pct),
      [],
    );
    await spend(1_000); // 50 %
    await spend(3_000); // 80 %: 75 fires (50 already did)
    await spend(100); // 81 %: nothing new
    assert.deepEqual(
      alerts.map((a) => [a.scope, a.pct]),
      [
        ['workspace.daily', 50],
        ['workspace.daily', 75],
      ],
    );
    clock.set(Date.UTC(2026, 10, 23, 0, 0, 1));
    await spend(6_000); // a new day: 60 %
    assert.deepEqual(
      alerts.slice(2).map((a) => [a.periodKey, a.pct]),
      [['2026-11-23', 50]],
    );
    assert.ok(store.queries.alertFired('workspace.daily', '2026-11-22', 75));
  });

  it('keeps workflow caps apart from the workspace cap', async () => {
    await setup(
      policy((p) => {
        p.limits.workspace = { dailyUsd: 1 };
        p.workflows['code-review'] = { limits: { dailyUsd: 0.01 } };
      }),
    );
    const a = await engine.admit(request({ inputTokens: 0, minOutputTokens: 1 }));
    assert.equal(a.clampedBy, 'workflow.code-review.daily');
    assert.equal(a.maxOutputTokens, 1_000);
    // Another workflow still has the whole workspace cap minus what code-review holds.
    const other = await engine.admit(
      request({ workflow: 'explain', inputTokens: 0, maxOutputTokens: 8_000, taskId: 'x' }),
    );
    assert.equal(other.maxOutputTokens, 8_000);
  });

  it('refuses an unpriced model instead of pricing it at $0', async () => {
    await setup(policy());
    await assert.rejects(engine.admit(request({ model: 'mystery-model' })), UnknownModelError);
  });

  it('charges fixed tool costs against the caps', async () => {
    await setup(policy((p) => (p.limits.workspace = { dailyUsd: 0.015 })));
    const entry = await engine.chargeTool({
      workflow: 'w',
      runId: 'r',
      taskId: 't',
      task: 'x',
      tool: 'runCommand',
      usd: 0.01,
    });
    assert.equal(entry.costMicros, 10_000);
    assert.equal(store.queries.breakdown('tool', { fromDay: '2026-11-22', toDay: '2026-11-22' })[0]?.key, 'runCommand');
    await assert.rejects(
      engine.chargeTool({ workflow: 'w', runId: 'r', taskId: 't', task: 'x', tool: 'runCommand', usd: 0.01 }),
      /would be exceeded/,
    );
  });

  it('reports every capped scope with its level for the status bar', async () => {
    await setup(
      policy((p) => {
        p.limits.workspace = { dailyUsd: 0.1, monthlyUsd: 10 };
        p.workflows['code-review'] = { limits: { monthlyUsd: 1 } };
      }),
    );
    const a = await engine.admit(request({ inputTokens: 0, maxOutputTokens: 8_000, minOutputTokens: 1 }));
    await engine.settle(a, { usage: usage(0, 8_000) }); // 80,000 µ$
    const status = Object.fromEntries(engine.status().map((s) => [s.scope, [s.used, s.limit, s.level]]));
    assert.deepEqual(status, {
      'workspace.daily': [80_000, 100_000, 'warn'],
      'workspace.monthly': [80_000, 10_000_000, 'ok'],
      'workflow.code-review.monthly': [80_000, 1_000_000, 'ok'],
    });
  });
  it("a cap that cannot pay for the model degrades to the workflow's cheaper one instead of blocking", async () => {
    // $0.001 = 1,000 µ$ a day: test-model's prompt alone (1,000 × 2 µ$) is over it; cheap-model (0.5 µ$ in, 1 µ$ out) fits.
    await setup(policy((p) => (p.limits.workspace = { dailyUsd: 0.001 })));
    const a = await engine.admit(request({ degradeModel: 'cheap-model' }));
    assert.equal(a.model, 'cheap-model');
    assert.equal(a.action, 'degrade');
    assert.match(a.warnings.join(' '), /Degraded from test-model to cheap-model: workspace\.daily cap reached/);
    // (1,000 − 500) µ$ left after the prompt buys 500 output tokens at 1 µ$.
    assert.equal(a.maxOutputTokens, 500);
    await engine.release(a);
    // No degrade model: blocked as before; a token limit is never degraded around.
    await assert.rejects(
      engine.admit(request()),
      (err: unknown) => err instanceof BudgetBlockedError && err.scope === 'workspace.daily',
    );
    engine.dispose();
    await store.close();
    rmSync(root, { recursive: true, force: true });
    await setup(policy((p) => (p.limits.workspace = {})));
    const tight = [{ key: 'task@x', kind: 'task' as const, hardTokens: 1_005 }];
    await assert.rejects(
      engine.admit(request({ tokenScopes: tight, degradeModel: 'cheap-model' })),
      /task token limit reached/,
    );
  });

  it("keeps a task's token count when the store rebuilds its memory (a failed write elsewhere)", async () => {
    root = mkdtempSync(path.join(tmpdir(), 'ab-engine-'));
    clock = new ManualClock(NOON);
    const { nodeStoreFs } = await import('../../../src/core/store/storeFs');
    let failSync = false;
    const fs = {
      ...nodeStoreFs,
      openAppend(p: string) {
        const h = nodeStoreFs.openAppend(p);
        return { ...h, datasync: () => (failSync ? Promise.reject(new Error('EIO: simulated')) : h.datasync()) };
      },
    };
    const p = policy((x) => (x.limits.workspace = {}));
    store = await WorkspaceStore.open({
      dir: path.join(root, '.agent-budget'),
      pollMs: 0,
      clock,
      days: policyDays(p),
      fs,
    });
    engine = new BudgetEngine(store, p, clock);
    // A task started in this process: no initialUsed to reload its count from.
    const scopes = [{ key: 'task@new', kind: 'task' as const, hardTokens: 5_000 }];
    const a = await engine.admit(request({ tokenScopes: scopes, inputTokens: 1_000, maxOutputTokens: 3_000 }));
    await engine.settle(a, { usage: usage(1_000, 3_000) });
    failSync = true;
    await assert.rejects(store.commit([{ k: 'alert', scope: 'x', periodKey: 'y', pct: 1, ts: NOON }]), /EIO/);
    failSync = false;
    await store.refresh();
    // 4,000 used: 100 input leaves 900 output, not 4,900.
    const b = await engine.admit(request({ tokenScopes: scopes, inputTokens: 100 }));
    assert.equal(b.maxOutputTokens, 900);
  });
  it('records the variant of the model actually called on the reservation, for a charge without usage', async () => {
    await setup(policy((p) => (p.limits.workspace = { dailyUsd: 0.001 })));
    const a = await engine.admit(request({ degradeModel: 'cheap-model', promptVersion: 'v3' }));
    assert.equal(a.reservation.variant, 'cheap-model@v3');
    const entry = await engine.settle(a, {});
    assert.ok(entry.estimated);
    assert.equal(entry.variant, 'cheap-model@v3');
  });
});
