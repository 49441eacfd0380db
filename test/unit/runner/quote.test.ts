// A quote before a run: what runs of the workflow usually cost here (p50, p90 of the last 20 completed ones) and
// the most this one can cost — and dollar limits per task and per run, which the quote's "at most" and every
// admission respect.
import assert from 'node:assert/strict';
import { inputTokenBound } from '../../../src/core/providers/estimate';
import { builtinWorkflow } from '../../../src/core/runner/builtins';
import { openingMessages, renderPrompts } from '../../../src/core/runner/conversation';
import { quoteText } from '../../../src/core/runner/quote';
import { startFakeAnthropic, type FakeAnthropic, type Running } from '../../fakes';
import { prose } from '../../support/prose';
import { CHAIN_WORKFLOW, fakeAccess, ledgerOf, openRunner, tempWorkspace, writePolicy } from './helpers';

describe('Runner: quotes and dollar limits', function () {
  this.timeout(30_000);
  let fake: Running<FakeAnthropic>;
  let ws: ReturnType<typeof tempWorkspace>;
  beforeEach(async () => {
    fake = await startFakeAnthropic();
    ws = tempWorkspace({ 'src/a.ts': prose(800, 'code'), '.agent-budget/workflows/chain.json': CHAIN_WORKFLOW });
  });
  afterEach(async () => {
    await fake.close();
    ws.cleanup();
  });

  it('with no history it says so and gives the worst case: the first call’s prompt bound and its whole clamp, at the dearest rates', async () => {
    writePolicy(ws.folder, { caching: 'off', limits: { workspace: { dailyUsd: 100, monthlyUsd: null } } });
    const { runner, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const q = await runner.quote('code-review', { file: 'src/a.ts' });
      assert.equal(q.basedOnRuns, 0);
      assert.equal(q.p50Micros, null);
      // claude-haiku-4-5 ($1 in, $5 out): the prompt's byte bound at the input rate + 2,500 output tokens.
      const wf = builtinWorkflow('code-review')!;
      const state = {
        v: 1 as const,
        workflow: wf,
        promptVersion: 'v2',
        input: { file: 'src/a.ts', fileContent: prose(800, 'code') },
        steps: [],
      };
      const r = renderPrompts(state, wf.steps[0]!);
      const bound = inputTokenBound({
        model: 'claude-haiku-4-5',
        system: r.system,
        messages: openingMessages(r.prompt, r.context),
      });
      assert.equal(q.worstMicros, bound * 1 + 2_500 * 5);
      assert.equal(
        quoteText(q),
        `no earlier runs of code-review here to go by; at most $${(q.worstMicros! / 1e6).toFixed(q.worstMicros! < 10_000 ? 4 : 2)}`,
      );
      assert.equal(fake.requests.length, 0, 'a quote makes no call');
    } finally {
      await close();
    }
  });

  it('from the last completed runs: p50 and p90 of what they cost, and never more than a cap has left', async () => {
    writePolicy(ws.folder, { limits: { workspace: { dailyUsd: 100 } } });
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const costs: number[] = [];
      for (let i = 1; i <= 5; i++) {
        fake.enqueue(
          { text: 'one', usage: { input: 100 * i, output: 50 } },
          { text: 'two', usage: { input: 100, output: 50 } },
          { text: 'three', usage: { input: 100, output: 50 } },
        );
        costs.push((await runner.start('chain', { input: `x${i}` })).costMicros);
      }
      const q = await runner.quote('chain', { input: 'y' });
      costs.sort((a, b) => a - b);
      assert.equal(q.basedOnRuns, 5);
      assert.equal(q.p50Micros, costs[2]);
      assert.equal(q.p90Micros, costs[4]);
      assert.match(
        quoteText(q),
        /^usually \$0\.\d+ \(p50\) – \$0\.\d+ \(p90\) from your last 5 runs of chain; at most \$/,
      );
      // Three single calls of claude-haiku-4-5 ($5 out; with caching on, a prompt may be written to the cache at
      // $1.25), 300 output tokens each; step one's prompt is its own bound, a later step's (its input is an earlier
      // output) at most the task limit, 200,000 tokens by default.
      const first = inputTokenBound({ model: 'claude-haiku-4-5', messages: openingMessages('Step one about y') });
      const later = 300 * 5 + (200_000 - 300) * 1.25;
      assert.equal(q.worstMicros, Math.ceil(first * 1.25 + 300 * 5 + 2 * later));
      // What the day's cap has left binds when it is less; so does the run's own dollar limit.
      const spent = ledgerOf(workspace).reduce((s, r) => s + r.costMicros, 0);
      writePolicy(ws.folder, { limits: { workspace: { dailyUsd: (spent + 100_000) / 1e6 } } });
      await workspace.reloadPolicy();
      assert.equal((await runner.quote('chain', { input: 'y' })).worstMicros, 100_000);
      writePolicy(ws.folder, { limits: { workspace: { dailyUsd: 100 }, session: { hardUsd: 0.05 } } });
      await workspace.reloadPolicy();
      assert.equal((await runner.quote('chain', { input: 'y' })).worstMicros, 50_000);
    } finally {
      await close();
    }
  });

  it('a task’s hard dollar limit clamps its answer by dollars and blocks what it cannot pay; raised, the run resumes', async () => {
    // claude-haiku-4-5: $1 in, $5 out. $0.001 a task: a prompt of a few dozen tokens leaves under 200 output tokens.
    writePolicy(ws.folder, { caching: 'off', limits: { task: { hardUsd: 0.001 } } });
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const clamped = await runner.start('chain', { input: 'x' });
      assert.equal(clamped.status, 'completed', clamped.error);
      const sent = fake.generationRequests.map((r) => (r.body as { max_tokens: number }).max_tokens);
      assert.ok(
        sent.every((m) => m < 200 && m >= 16),
        `max_tokens ${sent.join(', ')}: below the step's 300`,
      );
      assert.ok(
        ledgerOf(workspace, clamped.runId).every((r) => r.costMicros <= 1_000),
        'no task spent past its limit',
      );

      // $0.00005 a task: the prompt alone costs more. Blocked before any call; raised, it resumes.
      writePolicy(ws.folder, { caching: 'off', limits: { task: { hardUsd: 0.00005 } } });
      await workspace.reloadPolicy();
      fake.reset();
      const blocked = await runner.start('chain', { input: 'x' });
      assert.equal(blocked.status, 'blocked');
      assert.equal(blocked.blockedScope, 'task.usd');
      assert.match(blocked.error!, /task\.usd limit reached: .*Raise limits\.task\.hardUsd/);
      assert.equal(fake.generationRequests.length, 0);
      writePolicy(ws.folder, { caching: 'off', limits: { task: { hardUsd: 1 } } });
      await workspace.reloadPolicy();
      const done = await runner.resume(blocked.runId);
      assert.equal(done.status, 'completed', done.error);
    } finally {
      await close();
    }
  });

  it('a run’s soft dollar limit warns on what is spent; its hard one stops the run before a step it cannot pay', async () => {
    // Step one spends 600 µ$ (100 in, 100 out), step two 1,600 µ$ (100 in, 300 out): 50 µ$ of $0.00225 are left.
    writePolicy(ws.folder, { caching: 'off', limits: { session: { softUsd: 0.0005, hardUsd: 0.00225 } } });
    fake.enqueue({ text: 'A', usage: { input: 100, output: 100 } }, { text: 'B', usage: { input: 100, output: 300 } });
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const warnings: string[] = [];
      const outcome = await runner.start(
        'chain',
        { input: 'x' },
        { onEvent: (e) => e.type === 'warning' && warnings.push(e.message) },
      );
      assert.equal(outcome.status, 'blocked');
      assert.equal(outcome.blockedScope, 'session.usd');
      assert.deepEqual(
        outcome.steps.map((s) => s.status),
        ['completed', 'completed', 'blocked'],
      );
      assert.ok(
        warnings.some((w) => /session\.usd is past its soft limit \(\$0\.0006 of \$0\.0005 soft\)/.test(w)),
        warnings.join('\n'),
      );
      assert.equal(
        ledgerOf(workspace, outcome.runId).reduce((s, r) => s + r.costMicros, 0),
        2_200,
      );
    } finally {
      await close();
    }
  });
});
