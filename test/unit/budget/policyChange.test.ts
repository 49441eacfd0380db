// budget.json edited while the workspace is open (the extension reloads it on save): spend already made and calls
// already in flight keep counting against the caps as the new policy draws them.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BudgetBlockedError, type AdmitRequest } from '../../../src/core/budget/engine';
import { ManualClock } from '../../../src/core/clock';
import { Workspace } from '../../../src/core/workspace';

// 2026-11-22 20:00 UTC = 2026-11-23 05:00 in Tokyo: the same instant is on different days in the two zones.
const EVENING_UTC = Date.UTC(2026, 10, 22, 20);
const PRICES = { 'test-model': { provider: 'anthropic', inputPerMTok: 2, outputPerMTok: 10, maxOutputTokens: 8_000 } };

describe('budget.json changes while calls are counted', () => {
  let folder: string;
  let workspace: Workspace;
  let clock: ManualClock;
  const writePolicy = (policy: object) =>
    writeFileSync(path.join(folder, '.agent-budget', 'budget.json'), JSON.stringify({ prices: PRICES, ...policy }));
  const request = (overrides: Partial<AdmitRequest> = {}): AdmitRequest => ({
    workflow: 'code-review',
    runId: 'run-1',
    taskId: 'task-1',
    task: 'review',
    provider: 'anthropic',
    model: 'test-model',
    inputTokens: 1_000,
    maxOutputTokens: 1_000,
    tokenScopes: [],
    ...overrides,
  });
  const daily = () => workspace.engine.status().find((s) => s.scope === 'workspace.daily')!;

  beforeEach(async () => {
    folder = mkdtempSync(path.join(tmpdir(), 'ab-policy-change-'));
    mkdirSync(path.join(folder, '.agent-budget'));
    clock = new ManualClock(EVENING_UTC);
    writePolicy({ timeZone: 'UTC', limits: { workspace: { dailyUsd: 1, weeklyUsd: null, monthlyUsd: null } } });
    workspace = await Workspace.open(folder, { clock, pollMs: 0 });
  });
  afterEach(async () => {
    await workspace.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it("a new time zone re-files today's spend by the new day instead of dropping it", async () => {
    // Spent earlier today in both zones' terms (2026-11-22 19:00 UTC = 2026-11-23 04:00 Tokyo).
    clock.set(EVENING_UTC - 3_600_000);
    await workspace.engine.chargeTool({
      workflow: 'code-review',
      runId: null,
      taskId: null,
      task: null,
      tool: 'runCommand',
      usd: 0.6,
    });
    clock.set(EVENING_UTC);
    assert.equal(daily().used, 600_000);
    writePolicy({ timeZone: 'Asia/Tokyo', limits: { workspace: { dailyUsd: 1, weeklyUsd: null, monthlyUsd: null } } });
    assert.equal(await workspace.reloadPolicy(), undefined);
    assert.equal(daily().key, 'workspace.daily@2026-11-23');
    assert.equal(daily().used, 600_000, 'the spend moved to its Tokyo day');
    // And the cap holds in the new zone: $0.40 left cannot pay a $1 charge.
    await assert.rejects(
      workspace.engine.chargeTool({
        workflow: 'code-review',
        runId: null,
        taskId: null,
        task: null,
        tool: 'runCommand',
        usd: 1,
      }),
      BudgetBlockedError,
    );
    // A fresh open in the new zone agrees (the store re-keyed the same way).
    await workspace.close();
    workspace = await Workspace.open(folder, { clock, pollMs: 0 });
    assert.equal(daily().used, 600_000);
  });

  it('a workflow cap added while a call is in flight counts what that call holds', async () => {
    const inFlight = await workspace.engine.admit(request());
    const held = inFlight.reservation.micros; // 1,000 × 2 + 1,000 × 10 = 12,000 µ$
    assert.equal(held, 12_000);
    writePolicy({
      timeZone: 'UTC',
      limits: { workspace: { dailyUsd: 1, weeklyUsd: null, monthlyUsd: null } },
      workflows: { 'code-review': { limits: { dailyUsd: 0.02 } } },
    });
    assert.equal(await workspace.reloadPolicy(), undefined);
    const cap = workspace.engine.status().find((s) => s.scope === 'workflow.code-review.daily')!;
    assert.equal(cap.reserved, held);
    // 20,000 − 12,000 held = 8,000 µ$: the prompt (2,000) leaves 600 output tokens, not 1,000.
    const next = await workspace.engine.admit(request({ taskId: 'task-2' }));
    assert.equal(next.maxOutputTokens, 600);
    assert.equal(next.clampedBy, 'workflow.code-review.daily');
  });
});
