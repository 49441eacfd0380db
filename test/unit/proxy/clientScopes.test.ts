import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  BudgetBlockedError,
  BudgetEngine,
  policyDays,
  type AdmitRequest,
  type ClientCaps,
} from '../../../src/core/budget/engine';
import { ManualClock } from '../../../src/core/clock';
import { defaultPolicy } from '../../../src/core/policy/load';
import type { BudgetPolicy } from '../../../src/core/policy/types';
import { WorkspaceStore } from '../../../src/core/store/store';

// $2/MTok input (2 µ$ a token), $10/MTok output (10 µ$ a token).
const PRICES = {
  'test-model': { provider: 'anthropic' as const, inputPerMTok: 2, outputPerMTok: 10, maxOutputTokens: 8_000 },
};
const NOON = Date.UTC(2026, 10, 22, 12);
const usage = (input: number, output: number) => ({
  input,
  output,
  cacheRead: 0,
  cacheWrite5m: 0,
  cacheWrite1h: 0,
  reasoning: 0,
});

function proxied(client: string, clientCaps: ClientCaps, overrides: Partial<AdmitRequest> = {}): AdmitRequest {
  return {
    workflow: 'proxy',
    runId: null,
    taskId: null,
    task: null,
    provider: 'anthropic',
    model: 'test-model',
    inputTokens: 1_000,
    tokenScopes: [],
    client,
    clientCaps,
    ...overrides,
  };
}

/** Each proxy client is a USD scope of its own (`client.<name>.daily|monthly`) under every workspace cap. */
describe('BudgetEngine: client scopes', () => {
  let root: string;
  let store: WorkspaceStore;
  let clock: ManualClock;
  let engine: BudgetEngine;
  let policy: BudgetPolicy;

  beforeEach(async () => {
    policy = defaultPolicy();
    policy.timeZone = 'UTC';
    policy.prices = { ...PRICES };
    policy.limits.workspace = { dailyUsd: 1 };
    root = mkdtempSync(path.join(tmpdir(), 'ab-client-scope-'));
    clock = new ManualClock(NOON);
    const dir = path.join(root, '.agent-budget');
    store = await WorkspaceStore.open({ dir, pollMs: 0, clock, days: policyDays(policy) });
    engine = new BudgetEngine(store, policy, clock);
  });
  afterEach(async () => {
    engine.dispose();
    await store.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("clamps a client's output to what its own daily cap still pays for, and names both client scopes in the reservation", async () => {
    // $0.03 a day: 1,000 input tokens cost 2,000 µ$, leaving 28,000 µ$ = 2,800 output tokens.
    const admission = await engine.admit(proxied('claude-code', { dailyUsd: 0.03 }));
    assert.equal(admission.maxOutputTokens, 2_800);
    assert.equal(admission.clampedBy, 'client.claude-code.daily');
    assert.equal(admission.reservation.client, 'claude-code');
    assert.ok(admission.reservation.scopes.includes('client.claude-code.daily@2026-11-22'));
    assert.ok(admission.reservation.scopes.includes('client.claude-code.monthly@2026-11'));
    const entry = await engine.settle(admission, { usage: usage(1_000, 500) });
    assert.equal(entry.client, 'claude-code');
    assert.equal(entry.costMicros, 7_000);
  });

  it('blocks a client at its cap with a message naming the scope, its use, its limit and the reset; other clients go on', async () => {
    const first = await engine.admit(proxied('codex', { dailyUsd: 0.01 }));
    await engine.settle(first, { usage: usage(1_000, 800) }); // 2,000 + 8,000 = the whole 10,000 µ$
    await assert.rejects(engine.admit(proxied('codex', { dailyUsd: 0.01 })), (err: unknown) => {
      assert.ok(err instanceof BudgetBlockedError);
      assert.equal(err.scope, 'client.codex.daily');
      assert.equal(err.resetsAt, Date.UTC(2026, 10, 23));
      assert.match(err.message, /client\.codex\.daily cap reached: \$0\.01 of \$0\.01 spent or held/);
      assert.match(err.message, /resets 2026-11-23T00:00:00\.000Z/);
      assert.match(err.message, /--daily-usd/);
      return true;
    });
    const other = await engine.admit(proxied('gemini-cli', { dailyUsd: 0.01 }));
    assert.equal(other.reservation.client, 'gemini-cli');
  });

  it('the workspace cap still binds a client whose own cap is higher (or absent)', async () => {
    policy.limits.workspace = { dailyUsd: 0.02 };
    engine.setPolicy(policy);
    const admission = await engine.admit(proxied('aider', {}));
    assert.equal(admission.clampedBy, 'workspace.daily');
    assert.equal(admission.maxOutputTokens, 1_800);
  });

  it('concurrent admissions of one client never hold more than its cap', async () => {
    const caps = { dailyUsd: 0.05 };
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, () => engine.admit(proxied('burst', caps, { maxOutputTokens: 400 }))),
    );
    const admitted = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    const held = admitted.reduce((n, a) => n + a.reservation.micros, 0);
    assert.ok(admitted.length > 0 && admitted.length < 30, `${admitted.length} admitted`);
    assert.ok(held <= 50_000, `held ${held} µ$`);
    for (const r of results)
      if (r.status === 'rejected') assert.equal((r.reason as BudgetBlockedError).scope, 'client.burst.daily');
  });

  it("a new engine on the store counts the client's settled spend (from the client rollup); status lists its caps", async () => {
    const a = await engine.admit(proxied('codex', { dailyUsd: 1, monthlyUsd: 10 }));
    await engine.settle(a, { usage: usage(10_000, 1_000) }); // 20,000 + 10,000 µ$
    engine.dispose();
    engine = new BudgetEngine(store, policy, clock);
    const rows = engine.status(NOON, { codex: { dailyUsd: 1, monthlyUsd: 10 }, idle: {} });
    const daily = rows.find((r) => r.scope === 'client.codex.daily');
    const monthly = rows.find((r) => r.scope === 'client.codex.monthly');
    assert.equal(daily?.used, 30_000);
    assert.equal(daily?.limit, 1_000_000);
    assert.equal(monthly?.used, 30_000);
    assert.equal(monthly?.limit, 10_000_000);
    assert.equal(
      rows.some((r) => r.scope.startsWith('client.idle.')),
      false,
      'a client without caps has no capped scope',
    );
    // Without clients, status is as before: workspace and workflow scopes only.
    assert.ok(engine.status(NOON).every((r) => !r.scope.startsWith('client.')));
  });

  it('our own workflows (no client) count against no client scope', async () => {
    const admission = await engine.admit({ ...proxied('x', {}), client: undefined, clientCaps: undefined });
    assert.ok(admission.reservation.scopes.every((k) => !k.startsWith('client.')));
    assert.equal(admission.reservation.client, undefined);
    const entry = await engine.settle(admission, { usage: usage(10, 10) });
    assert.equal(entry.client, undefined);
  });
});
