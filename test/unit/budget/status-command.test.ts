import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CURRENT_OWNER, newId } from '../../../src/core/processIdentity';
import { Workspace } from '../../../src/core/workspace';
import { runCli } from '../../support/cli';
import { removeUserPolicy, writeUserPolicy } from '../../support/userPolicy';

describe('agent-budget status', () => {
  let folder: string;
  beforeEach(() => {
    folder = mkdtempSync(path.join(tmpdir(), 'ab-status-'));
    mkdirSync(path.join(folder, '.agent-budget'));
  });
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  function writePolicy(policy: unknown): void {
    writeFileSync(path.join(folder, '.agent-budget', 'budget.json'), JSON.stringify(policy, null, 2));
  }

  it('reports every capped scope with used, limit, pct and level (--json, as docs/cli.md)', async () => {
    writePolicy({
      timeZone: 'UTC',
      limits: { workspace: { dailyUsd: 0.01, monthlyUsd: 1 } },
      workflows: { 'code-review': { limits: { dailyUsd: 0.008 } } },
      prices: { 'test-model': { provider: 'openai', inputPerMTok: 2, outputPerMTok: 10 } },
    });
    // Spend 8,000 µ$ through the engine: 1,000 × 2 + 600 × 10.
    const ws = await Workspace.open(folder, { pollMs: 0 });
    const a = await ws.engine.admit({
      workflow: 'code-review',
      runId: null,
      taskId: null,
      task: null,
      provider: 'openai',
      model: 'test-model',
      inputTokens: 1_000,
      maxOutputTokens: 600,
      tokenScopes: [],
    });
    await ws.engine.settle(a, {
      usage: { input: 1_000, output: 600, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
    });
    await ws.close();

    const r = await runCli(['status', '--json', '--workspace', folder]);
    assert.equal(r.code, 0, r.stderr);
    const { scopes } = JSON.parse(r.stdout) as { scopes: Array<Record<string, unknown>> };
    const byScope = Object.fromEntries(scopes.map((s) => [s.scope as string, s]));
    assert.deepEqual(Object.keys(byScope).sort(), [
      'workflow.code-review.daily',
      'workspace.daily',
      'workspace.monthly',
    ]);
    assert.deepEqual(
      ['scope', 'usedMicros', 'limitMicros', 'usedTokens', 'limitTokens', 'pct', 'level'].map(
        (k) => k in byScope['workspace.daily']!,
      ),
      [true, true, true, true, true, true, true],
    );
    assert.equal(byScope['workspace.daily']!.usedMicros, 8_000);
    assert.equal(byScope['workspace.daily']!.limitMicros, 10_000);
    assert.equal(byScope['workspace.daily']!.pct, 80);
    assert.equal(byScope['workspace.daily']!.level, 'warn');
    assert.equal(byScope['workflow.code-review.daily']!.level, 'blocked');
    assert.equal(byScope['workspace.monthly']!.level, 'ok');
  });

  it("adds each running run's session and running tasks, settled use apart from calls in flight (as the USD rows)", async () => {
    writePolicy({
      timeZone: 'UTC',
      limits: {
        workspace: { dailyUsd: 1 },
        task: { softTokens: 1_000, hardTokens: 20_000 },
        session: { hardTokens: 100_000 },
      },
      prices: { 'test-model': { provider: 'openai', inputPerMTok: 2, outputPerMTok: 10 } },
    });
    const ws = await Workspace.open(folder, { pollMs: 0 });
    const runId = newId();
    const [draftId, reviewId] = [newId(), newId()];
    const at = Date.now();
    const task = (id: string, name: string, status: 'completed' | 'running') => ({
      k: 'task' as const,
      task: { id, runId, name, parentTaskId: null, status, createdAt: at, updatedAt: at, rev: 1, data: null },
    });
    // The step "review" tightens the task limit to 5,000 tokens in the workflow the run started with.
    const workflow = {
      id: 'two',
      steps: [
        { id: 'draft', prompt: 'a' },
        { id: 'review', prompt: 'b', limits: { hardTokens: 5_000 } },
      ],
    };
    await ws.store.commit([
      {
        k: 'run',
        run: {
          id: runId,
          workflow: 'two',
          status: 'running',
          title: 't',
          createdAt: at,
          updatedAt: at,
          rev: 1,
          owner: CURRENT_OWNER,
          parentRunId: null,
          variant: null,
          data: null,
        },
      },
      task(draftId, 'draft', 'completed'),
      task(reviewId, 'review', 'running'),
      {
        k: 'checkpoint',
        checkpoint: { runId, seq: 1, ts: at, state: { v: 1, workflow, promptVersion: 'p', input: {}, steps: [] } },
      },
    ]);
    const call = (taskId: string, name: string, inputTokens: number, maxOutputTokens: number) =>
      ws.engine.admit({
        workflow: 'two',
        runId,
        taskId,
        task: name,
        provider: 'openai',
        model: 'test-model',
        inputTokens,
        maxOutputTokens,
        tokenScopes: [
          { key: `task@${taskId}`, kind: 'task' },
          { key: `session@${runId}`, kind: 'session' },
        ],
      });
    const usage = (input: number, output: number) => ({
      usage: { input, output, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
    });
    // Settled: draft 1,000 + 600 tokens (8,000 µ$), review 500 + 100 (2,000 µ$). In flight: review 1,000 + 1,000
    // (12,500 µ$ held: OpenAI may write the prompt to its cache unasked, at 1.25× the input rate).
    await ws.engine.settle(await call(draftId, 'draft', 1_000, 600), usage(1_000, 600));
    await ws.engine.settle(await call(reviewId, 'review', 500, 100), usage(500, 100));
    await call(reviewId, 'review', 1_000, 1_000);
    await ws.close();

    const r = await runCli(['status', '--json', '--workspace', folder]);
    assert.equal(r.code, 0, r.stderr);
    const { scopes } = JSON.parse(r.stdout) as { scopes: Array<Record<string, unknown>> };
    const pick = (s: Record<string, unknown> | undefined) =>
      s && {
        usedTokens: s.usedTokens,
        reservedTokens: s.reservedTokens,
        limitTokens: s.limitTokens,
        pct: s.pct,
        level: s.level,
        usedMicros: s.usedMicros,
        reservedMicros: s.reservedMicros,
      };
    assert.deepEqual(pick(scopes.find((s) => s.scope === 'session')), {
      usedTokens: 2_200,
      reservedTokens: 2_000,
      limitTokens: 100_000,
      pct: 4.2,
      level: 'ok',
      usedMicros: 10_000,
      reservedMicros: 12_500,
    });
    const tasks = scopes.filter((s) => s.scope === 'task');
    assert.deepEqual(
      tasks.map((s) => [s.runId, s.taskId, s.step]),
      [[runId, reviewId, 'review']],
      'running tasks only',
    );
    assert.deepEqual(pick(tasks[0]), {
      usedTokens: 600,
      reservedTokens: 2_000,
      limitTokens: 5_000,
      pct: 52,
      level: 'warn',
      usedMicros: 2_000,
      reservedMicros: undefined,
    });
    const daily = scopes.find((s) => s.scope === 'workspace.daily')!;
    assert.deepEqual([daily.usedMicros, daily.reservedMicros, daily.pct], [10_000, 12_500, 2.3]);

    const table = await runCli(['status', '--workspace', folder]);
    assert.match(
      table.stdout,
      new RegExp(
        `task review \\(run ${runId.slice(0, 10)}\\)\\s+600 \\+ 2,000 in flight / 5,000 tokens\\s+52\\.0%\\s+warn`,
      ),
    );
    assert.match(table.stdout, /workspace\.daily\s+\$0\.01 \+ \$0\.01 in flight \/ \$1\.00\s+2\.3%\s+ok/);
  });

  it('shows a running run’s and task’s dollar limits as session.usd and task.usd rows', async () => {
    writePolicy({
      timeZone: 'UTC',
      limits: { workspace: { dailyUsd: 1 }, task: { softUsd: 0.001, hardUsd: 0.05 }, session: { hardUsd: 0.1 } },
      prices: { 'test-model': { provider: 'anthropic', inputPerMTok: 2, outputPerMTok: 10 } },
    });
    const ws = await Workspace.open(folder, { pollMs: 0 });
    const runId = newId();
    const taskId = newId();
    const at = Date.now();
    await ws.store.commit([
      {
        k: 'run',
        run: {
          id: runId,
          workflow: 'one',
          status: 'running',
          title: 't',
          createdAt: at,
          updatedAt: at,
          rev: 1,
          owner: CURRENT_OWNER,
          parentRunId: null,
          variant: null,
          data: null,
        },
      },
      {
        k: 'task',
        task: {
          id: taskId,
          runId,
          name: 'only',
          parentTaskId: null,
          status: 'running',
          createdAt: at,
          updatedAt: at,
          rev: 1,
          data: null,
        },
      },
    ]);
    const spendScopes = [
      { key: `task.usd@${taskId}`, kind: 'task.usd' as const, softMicros: 1_000, hardMicros: 50_000 },
      { key: `session.usd@${runId}`, kind: 'session.usd' as const, hardMicros: 100_000 },
    ];
    const call = () =>
      ws.engine.admit({
        workflow: 'one',
        runId,
        taskId,
        task: 'only',
        provider: 'anthropic',
        model: 'test-model',
        inputTokens: 500,
        maxOutputTokens: 200,
        tokenScopes: [],
        spendScopes,
      });
    // Settled 500 in + 100 out = 2,000 µ$; in flight 500 + 200 = 3,000 µ$ held.
    await ws.engine.settle(await call(), {
      usage: { input: 500, output: 100, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
    });
    await call();
    await ws.close();
    const r = await runCli(['status', '--json', '--workspace', folder]);
    assert.equal(r.code, 0, r.stderr);
    const { scopes } = JSON.parse(r.stdout) as { scopes: Array<Record<string, unknown>> };
    const row = (scope: string) => {
      const s = scopes.find((x) => x.scope === scope)!;
      return [s.usedMicros, s.reservedMicros, s.limitMicros, s.pct, s.level];
    };
    assert.deepEqual(row('session.usd'), [2_000, 3_000, 100_000, 5, 'ok']);
    assert.deepEqual(row('task.usd'), [2_000, 3_000, 50_000, 10, 'warn'], 'past its soft limit');
    const table = await runCli(['status', '--workspace', folder]);
    assert.match(
      table.stdout,
      new RegExp(
        `task\\.usd only \\(run ${runId.slice(0, 10)}\\)\\s+\\$0\\.0020 \\+ \\$0\\.0030 in flight / \\$0\\.05\\s+10\\.0%\\s+warn`,
      ),
    );
  });

  it('prints a table without --json, and says so when nothing is capped', async () => {
    // Switching the default caps off is the user's own decision (user.json); budget.json alone cannot.
    writeUserPolicy({ limits: { workspace: { dailyUsd: null, monthlyUsd: null } } });
    const none = await runCli(['status', '--workspace', folder]).finally(removeUserPolicy);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /No budget scope has a limit/);
    writePolicy({ limits: { workspace: { dailyUsd: 5 } } });
    const table = await runCli(['status', '--workspace', folder]);
    assert.match(table.stdout, /workspace\.daily\s+\$0\.00 \/ \$5\.00\s+0\.0%\s+ok/);
  });

  it('still reports spend when budget.json is invalid, and says runs are refused', async () => {
    writeFileSync(
      path.join(folder, '.agent-budget', 'budget.json'),
      '{ "limits": { "task": { "hardTokens": "12k" } } }',
    );
    const r = await runCli(['status', '--json', '--workspace', folder]);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /budget\.json:1:\d+: limits\.task\.hardTokens/);
    assert.match(r.stderr, /Runs are refused/);
    assert.doesNotThrow(() => JSON.parse(r.stdout));
  });
});

describe('agent-budget with AGENT_BUDGET_STATE_DIR', () => {
  it('opens the store where the variable says, relative to the workspace', async () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'ab-statedir-'));
    try {
      const r = await runCli(['status', '--json', '--workspace', folder], {
        AGENT_BUDGET_STATE_DIR: 'elsewhere/state',
      });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(existsSync(path.join(folder, 'elsewhere', 'state', '.gitignore')), 'the store was created there');
      assert.ok(!existsSync(path.join(folder, '.agent-budget', '.gitignore')));
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
