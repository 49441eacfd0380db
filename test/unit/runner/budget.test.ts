import assert from 'node:assert/strict';
import { startFakeAnthropic, type FakeAnthropic, type Running } from '../../fakes';
import { prose } from '../../support/prose';
import type { RunnerWorkflow, SubAgentPlan } from '../../../src/core/runner/builtins';
import { readCheckpoint } from '../../../src/core/runner/checkpoint';
import {
  collectEvents,
  CHAIN_WORKFLOW,
  fakeAccess,
  ledgerOf,
  maxTokensSent,
  openRunner,
  reservationsOf,
  tempWorkspace,
  writePolicy,
} from './helpers';

describe('Runner: budgets and limits', function () {
  this.timeout(20_000);
  let fake: Running<FakeAnthropic>;
  let ws: ReturnType<typeof tempWorkspace>;
  beforeEach(async () => {
    fake = await startFakeAnthropic();
    ws = tempWorkspace({ '.agent-budget/workflows/chain.json': CHAIN_WORKFLOW });
  });
  afterEach(async () => {
    fake.destroyOpen();
    await fake.close();
    ws.cleanup();
  });

  it('a hard task limit clamps max_tokens, blocks the step that would pass it, and the run resumes once it is raised', async () => {
    writePolicy(ws.folder, { limits: { task: { softTokens: 50, hardTokens: 250 } } });
    // Step one's long answer makes step two's prompt alone bigger than the task limit (in the provider's own count
    // too, which the engine asks for before it blocks).
    fake.enqueue({ text: prose(400, 'long'), usage: { input: 20, output: 200 } });
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    const held = reservationsOf(workspace);
    try {
      const { events, onEvent } = collectEvents();
      const blocked = await runner.start('chain', { input: 'x' }, { onEvent });
      assert.equal(blocked.status, 'blocked');
      assert.equal(blocked.errorKind, 'budget');
      assert.equal(blocked.blockedScope, 'task');
      assert.match(blocked.error!, /task token limit reached.*Raise limits\.task\.hardTokens/s);
      assert.deepEqual(
        blocked.steps.map((s) => s.status),
        ['completed', 'blocked', 'pending'],
      );
      assert.equal(fake.generationRequests.length, 1, 'the blocked call was never made');
      assert.equal(
        maxTokensSent(fake.generationRequests)[0],
        250 - held[0]!.inputTokens,
        'max_tokens = hard limit − the prompt bound held',
      );
      assert.ok(
        events.some((e) => e.type === 'warning' && /\btask (is )?past its soft limit/.test(e.message)),
        'soft limit warned',
      );
      assert.equal(workspace.store.queries.getRun(blocked.runId)?.status, 'blocked');
      assert.equal(workspace.store.queries.openReservations().length, 0);
      const state = readCheckpoint(workspace.store.queries.checkpoint(blocked.runId)!.state);
      assert.equal(state.steps[1]!.inFlight, undefined);

      writePolicy(ws.folder, { limits: { task: { hardTokens: 5000 } } });
      assert.equal(await workspace.reloadPolicy(), undefined);
      fake.enqueue({ text: 'B', usage: { input: 600, output: 10 } }, { text: 'C', usage: { input: 30, output: 5 } });
      const done = await runner.resume(blocked.runId);
      assert.equal(done.status, 'completed', done.error);
      assert.equal(done.blockedScope, undefined);
      assert.equal(fake.generationRequests.length, 3, 'step one was not repeated');
      assert.equal(ledgerOf(workspace, blocked.runId).length, 3);
    } finally {
      await close();
    }
  });

  it('a run being resumed cannot be resumed a second time at once', async () => {
    writePolicy(ws.folder, { limits: { task: { hardTokens: 250 } } });
    fake.enqueue({ text: prose(400, 'long'), usage: { input: 20, output: 200 } });
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const blocked = await runner.start('chain', { input: 'x' });
      writePolicy(ws.folder, {});
      await workspace.reloadPolicy();
      fake.enqueue({ text: 'B', eventDelayMs: 20 }, { text: 'C' });
      const first = runner.resume(blocked.runId);
      await assert.rejects(runner.resume(blocked.runId), /already running in this window/);
      assert.equal((await first).status, 'completed');
      assert.equal(fake.generationRequests.length, 3);
    } finally {
      await close();
    }
  });

  it('a session limit blocks across steps', async () => {
    writePolicy(ws.folder, { limits: { session: { hardTokens: 400 } } });
    fake.enqueue({ text: 'short', usage: { input: 30, output: 340 } });
    const { runner, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const outcome = await runner.start('chain', { input: 'x' });
      assert.equal(outcome.status, 'blocked');
      assert.equal(outcome.blockedScope, 'session');
      assert.equal(fake.generationRequests.length, 1);
    } finally {
      await close();
    }
  });

  describe('sub-agents', () => {
    const fanOut = (budget: SubAgentPlan['budget']): RunnerWorkflow => ({
      id: 'fan',
      title: 'Fan out',
      model: 'claude-haiku-4-5',
      version: 'f1',
      steps: [
        { id: 'plan', prompt: 'List questions about {{input}}', maxOutputTokens: 200 },
        {
          id: 'dig',
          prompt: 'Dig into {{item}}',
          maxOutputTokens: 2000,
          subAgents: { itemsFrom: 'plan', max: 5, budget },
        },
        { id: 'sum', prompt: 'Summarize {{steps.dig.output}}', maxOutputTokens: 200 },
      ],
    });
    const PLAN = { text: '1. alpha\n2. beta\n3. gamma', usage: { input: 30, output: 20 } };

    it('a pool shared by siblings blocks the child that would overdraw it; after a raise, resume counts the earlier children (new process)', async () => {
      writePolicy(ws.folder, { limits: { task: { hardTokens: 1000 } } });
      fake.enqueue(
        PLAN,
        { text: 'found alpha', usage: { input: 100, output: 250 } },
        { text: 'found beta', usage: { input: 60, output: 70 } },
      );
      const builtins = [fanOut({ pool: 0.5 })];
      let runId: string;
      let parentId: string;
      {
        const { runner, workspace, close } = await openRunner(
          ws.folder,
          fakeAccess({ anthropic: fake.baseUrl }),
          undefined,
          { builtins },
        );
        const held = reservationsOf(workspace);
        try {
          const outcome = await runner.start('fan', { input: 'caching' });
          runId = outcome.runId;
          assert.equal(outcome.status, 'blocked', outcome.error);
          assert.equal(outcome.blockedScope, 'pool');
          const [, alpha, beta] = held;
          // pool = 0.5 × 1000 = 500 tokens for all children
          assert.deepEqual(maxTokensSent(fake.generationRequests).slice(1), [
            500 - alpha!.inputTokens,
            150 - beta!.inputTokens,
          ]);
          const tasks = workspace.store.queries.tasksOfRun(runId);
          const parent = tasks.find((t) => t.name === 'dig' && t.parentTaskId === null)!;
          parentId = parent.id;
          const children = tasks.filter((t) => t.parentTaskId === parentId);
          assert.deepEqual(
            children.map((c) => [(c.data as { item: string }).item, c.status]),
            [
              ['alpha', 'completed'],
              ['beta', 'completed'],
              ['gamma', 'blocked'],
            ],
          );
          // The children's calls count against the parent's own scope.
          assert.equal(workspace.engine.tokenStatus({ key: `task@${parentId}`, kind: 'task' }).used, 480);
          assert.equal(workspace.store.queries.taskTreeTotals(parentId).tokens, 480);
        } finally {
          await close();
        }
      }
      writePolicy(ws.folder, { limits: { task: { hardTokens: 3000 } } });
      fake.enqueue(
        { text: 'found gamma', usage: { input: 40, output: 40 } },
        { text: 'summary', usage: { input: 90, output: 30 } },
      );
      const { runner, workspace, close } = await openRunner(
        ws.folder,
        fakeAccess({ anthropic: fake.baseUrl }),
        undefined,
        { builtins },
      );
      const held = reservationsOf(workspace);
      try {
        const outcome = await runner.resume(runId);
        assert.equal(outcome.status, 'completed', outcome.error);
        const gamma = ledgerOf(workspace, runId)[3]!;
        assert.equal(gamma.task, 'dig');
        // pool = 0.5 × 3000 = 1500, of which the earlier children used 480 (read back from the store's task tree)
        assert.equal(maxTokensSent(fake.generationRequests)[3], 1500 - 480 - held[0]!.inputTokens);
        assert.match(
          JSON.stringify(fake.generationRequests[4]!.body),
          /### alpha.*found alpha.*### beta.*found beta.*### gamma.*found gamma/s,
        );
        const dig = outcome.steps[1]!;
        const childCost = ledgerOf(workspace, runId)
          .filter((r) => r.task === 'dig')
          .reduce((s, r) => s + r.costMicros, 0);
        assert.equal(dig.costMicros, childCost, "the step's cost is its sub-agents' cost");
        assert.equal(workspace.store.queries.taskTreeTotals(parentId).calls, 3);
      } finally {
        await close();
      }
    });

    it("the step's wall-time limit bounds all its sub-agents together", async () => {
      writePolicy(ws.folder, { limits: { task: { maxWallSeconds: 0.3 } } });
      const slow = { text: 'x'.repeat(24), eventDelayMs: 25 }; // 8 events, ~0.2 s: each child alone fits, two do not
      fake.enqueue(PLAN, slow, slow, slow);
      const { runner, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }), undefined, {
        builtins: [fanOut({ pool: 0.5 })],
      });
      try {
        const outcome = await runner.start('fan', { input: 'caching' });
        assert.equal(outcome.status, 'blocked', outcome.error);
        assert.equal(outcome.blockedScope, 'task.maxWallSeconds');
        assert.equal(fake.generationRequests.length, 3, 'the plan and two children; the third never started');
        assert.deepEqual(
          outcome.steps.map((s) => s.status),
          ['completed', 'blocked', 'pending'],
        );
      } finally {
        await close();
      }
    });

    it('tool calls of sub-agents count against the step as a whole: a child gets what its siblings left', async () => {
      writePolicy(ws.folder, { limits: { task: { maxToolCalls: 1 } } });
      const look = (item: string) => [
        { toolCalls: [{ name: 'listFiles', input: { pattern: `${item}*` } }], usage: { input: 40, output: 10 } },
        { text: `found ${item}`, usage: { input: 60, output: 5 } },
      ];
      fake.enqueue(PLAN, ...look('alpha'), ...look('beta'));
      const workflow = fanOut({ pool: 0.5 });
      workflow.steps[1]!.tools = ['listFiles'];
      const { runner, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }), undefined, {
        builtins: [workflow],
      });
      try {
        const { events, onEvent } = collectEvents();
        const outcome = await runner.start('fan', { input: 'caching' }, { onEvent });
        assert.equal(outcome.status, 'blocked', outcome.error);
        assert.equal(outcome.blockedScope, 'task.maxToolCalls');
        assert.match(outcome.error!, /Step "dig" \(its sub-agents together\) reached its limit of 1 tool calls/);
        assert.equal(events.filter((e) => e.type === 'tool').length, 1, "beta's tool call was over the step's limit");
        assert.equal(fake.generationRequests.length, 4, 'plan, alpha twice, beta once');
      } finally {
        await close();
      }
    });

    it('loop steps of sub-agents count against the step as a whole', async () => {
      writePolicy(ws.folder, { limits: { task: { maxSteps: 2 } } });
      fake.enqueue(PLAN, { text: 'a' }, { text: 'b' }, { text: 'c' });
      const { runner, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }), undefined, {
        builtins: [fanOut({ pool: 0.5 })],
      });
      try {
        const outcome = await runner.start('fan', { input: 'caching' });
        assert.equal(outcome.status, 'blocked', outcome.error);
        assert.equal(outcome.blockedScope, 'task.maxSteps');
        assert.match(outcome.error!, /\(its sub-agents together\) reached its limit of 2 agent-loop steps/);
        assert.equal(fake.generationRequests.length, 3, 'the plan and two children; the third is over the limit');
      } finally {
        await close();
      }
    });

    it('each sub-agent gets the wall time its step has left: the call that would overrun it is stopped', async () => {
      writePolicy(ws.folder, { limits: { task: { maxWallSeconds: 1 } } });
      // 8 events × 50 ms ≈ 0.4 s, then 16 × 50 ms ≈ 0.8 s: the second child alone fits in 1 s, but not after the first.
      fake.enqueue(PLAN, { text: 'x'.repeat(24), eventDelayMs: 50 }, { text: 'y'.repeat(120), eventDelayMs: 50 });
      const { runner, workspace, close } = await openRunner(
        ws.folder,
        fakeAccess({ anthropic: fake.baseUrl }),
        undefined,
        { builtins: [fanOut({ pool: 0.5 })] },
      );
      try {
        const outcome = await runner.start('fan', { input: 'caching' });
        assert.equal(outcome.status, 'blocked', outcome.error);
        assert.equal(outcome.blockedScope, 'task.maxWallSeconds');
        const rows = ledgerOf(workspace, outcome.runId);
        assert.deepEqual(
          rows.map((r) => r.estimated),
          [false, false, true],
          "beta's call was cut at the step's deadline",
        );
        assert.match(
          outcome.error!,
          /Step "dig" \(its sub-agents together\) ran for its limit of 1 s; the claude-haiku-4-5 call in flight was stopped/,
        );
        assert.equal(fake.generationRequests.length, 3);
      } finally {
        await close();
      }
    });

    it('a share gives each child a fraction of what the parent has left', async () => {
      writePolicy(ws.folder, { limits: { task: { hardTokens: 1000 } } });
      fake.enqueue(
        PLAN,
        { text: 'a', usage: { input: 100, output: 300 } },
        { text: 'b', usage: { input: 50, output: 50 } },
        { text: 'c', usage: { input: 20, output: 20 } },
        { text: 'sum', usage: { input: 20, output: 20 } },
      );
      const { runner, workspace, close } = await openRunner(
        ws.folder,
        fakeAccess({ anthropic: fake.baseUrl }),
        undefined,
        { builtins: [fanOut({ share: 0.5 })] },
      );
      const held = reservationsOf(workspace);
      try {
        const outcome = await runner.start('fan', { input: 'caching' });
        assert.equal(outcome.status, 'completed', outcome.error);
        const est = held.map((r) => r.inputTokens);
        // alpha: 0.5 × 1000; beta: 0.5 × (1000 − 400); gamma: 0.5 × (1000 − 500)
        assert.deepEqual(maxTokensSent(fake.generationRequests).slice(1, 4), [
          500 - est[1]!,
          300 - est[2]!,
          250 - est[3]!,
        ]);
      } finally {
        await close();
      }
    });
  });

  describe('loop limits', () => {
    const LOOP: RunnerWorkflow = {
      id: 'loop',
      title: 'Loop',
      model: 'claude-haiku-4-5',
      steps: [{ id: 'look', prompt: 'Look around {{input}}', tools: ['listFiles'] }],
    };
    const list = (n: number) => ({
      toolCalls: Array.from({ length: n }, () => ({ name: 'listFiles', input: { pattern: '*.md' } })),
      usage: { input: 40, output: 10 },
    });

    it('maxToolCalls blocks before the call over the limit; resume runs only the calls not yet made', async () => {
      writePolicy(ws.folder, { limits: { task: { maxToolCalls: 2 } } });
      fake.enqueue(list(2), list(1));
      const { runner, workspace, close } = await openRunner(
        ws.folder,
        fakeAccess({ anthropic: fake.baseUrl }),
        undefined,
        { builtins: [LOOP] },
      );
      try {
        const { events, onEvent } = collectEvents();
        const blocked = await runner.start('loop', { input: 'here' }, { onEvent });
        assert.equal(blocked.status, 'blocked');
        assert.equal(blocked.blockedScope, 'task.maxToolCalls');
        assert.match(blocked.error!, /limit of 2 tool calls/);
        assert.equal(events.filter((e) => e.type === 'tool').length, 2);
        const state = readCheckpoint(workspace.store.queries.checkpoint(blocked.runId)!.state);
        assert.equal(state.steps[0]!.toolCalls, 2);

        writePolicy(ws.folder, { limits: { task: { maxToolCalls: 5 } } });
        await workspace.reloadPolicy();
        fake.enqueue({ text: 'Nothing here.', usage: { input: 60, output: 5 } });
        const { events: more, onEvent: onMore } = collectEvents();
        const done = await runner.resume(blocked.runId, { onEvent: onMore });
        assert.equal(done.status, 'completed', done.error);
        assert.equal(more.filter((e) => e.type === 'tool').length, 1, 'only the third tool call ran on resume');
        assert.equal(fake.generationRequests.length, 3);
        const last = JSON.stringify(fake.generationRequests[2]!.body);
        assert.equal(last.match(/tool_result/g)?.length, 3, 'the last request carries all three tool results');
      } finally {
        await close();
      }
    });

    it('maxSteps blocks the agent loop before a call over the limit', async () => {
      writePolicy(ws.folder, { limits: { task: { maxSteps: 2 } } });
      fake.enqueue(list(1), list(1));
      const { runner, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }), undefined, {
        builtins: [LOOP],
      });
      try {
        const outcome = await runner.start('loop', { input: 'here' });
        assert.equal(outcome.status, 'blocked');
        assert.equal(outcome.blockedScope, 'task.maxSteps');
        assert.equal(fake.generationRequests.length, 2);
      } finally {
        await close();
      }
    });

    it('maxWallSeconds stops a running command at the deadline, tells the model, and blocks saying so', async () => {
      writePolicy(ws.folder, { limits: { task: { maxWallSeconds: 1 } }, tools: { allow: ['runCommand'] } });
      const SHELL: RunnerWorkflow = {
        id: 'shell',
        title: 'Shell',
        model: 'claude-haiku-4-5',
        steps: [{ id: 'work', prompt: 'Do {{input}}', tools: ['runCommand'] }],
      };
      fake.enqueue({
        toolCalls: [{ name: 'runCommand', input: { command: 'sleep 6' } }],
        usage: { input: 40, output: 10 },
      });
      const { runner, workspace, close } = await openRunner(
        ws.folder,
        fakeAccess({ anthropic: fake.baseUrl }),
        undefined,
        { builtins: [SHELL], trustPolicy: true },
      );
      try {
        const started = Date.now();
        const blocked = await runner.start('shell', { input: 'it' });
        assert.ok(
          Date.now() - started < 3_000,
          `stopped at the limit, not when the command ended (${Date.now() - started} ms)`,
        );
        assert.equal(blocked.status, 'blocked');
        assert.equal(blocked.blockedScope, 'task.maxWallSeconds');
        assert.match(blocked.error!, /ran for its limit of 1 s; runCommand sleep 6 was stopped/);

        writePolicy(ws.folder, { limits: { task: { maxWallSeconds: 60 } }, tools: { allow: ['runCommand'] } });
        await workspace.reloadPolicy();
        fake.enqueue({ text: 'It took too long.', usage: { input: 60, output: 5 } });
        const done = await runner.resume(blocked.runId);
        assert.equal(done.status, 'completed', done.error);
        assert.equal(fake.generationRequests.length, 2, 'the command was not run again');
        assert.match(
          JSON.stringify(fake.generationRequests[1]!.body),
          /stopped at the step's wall-time limit of 1 s before it finished; its effect is unknown/,
        );
      } finally {
        await close();
      }
    });

    it('maxWallSeconds stops the call in flight, charges it as estimated, and blocks', async () => {
      writePolicy(ws.folder, { limits: { task: { maxWallSeconds: 0.3 } } });
      fake.enqueue({ text: 'slow '.repeat(100), eventDelayMs: 40 });
      const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
      try {
        const started = Date.now();
        const outcome = await runner.start('chain', { input: 'x' });
        assert.ok(Date.now() - started < 2_000, 'stopped at the limit, not at the end of the stream');
        assert.equal(outcome.status, 'blocked');
        assert.equal(outcome.blockedScope, 'task.maxWallSeconds');
        const rows = ledgerOf(workspace, outcome.runId);
        assert.equal(rows.length, 1);
        assert.equal(rows[0]!.estimated, true);
      } finally {
        await close();
      }
    });
  });

  describe('provider failures', () => {
    it('a long rate-limit wait pauses the run; resume continues', async () => {
      fake.enqueue({ type: 'error', status: 429, headers: { 'retry-after': '3600' } });
      const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
      try {
        const paused = await runner.start('chain', { input: 'x' });
        assert.equal(paused.status, 'paused');
        assert.equal(paused.errorKind, 'rateLimit');
        assert.match(paused.error!, /rate limit/i);
        const data = workspace.store.queries.getRun(paused.runId)!.data as { resumeAfter?: number };
        assert.ok(data.resumeAfter && data.resumeAfter > Date.now() + 3_500_000);
        assert.equal(ledgerOf(workspace, paused.runId).length, 0, 'a refused request is not charged');
        assert.equal(workspace.store.queries.openReservations().length, 0, 'its reservation was released');
        const done = await runner.resume(paused.runId);
        assert.equal(done.status, 'completed', done.error);
      } finally {
        await close();
      }
    });

    it("an authentication error fails the run with the provider's message", async () => {
      const strict = await startFakeAnthropic({ apiKey: 'the-right-key' });
      const { runner, close } = await openRunner(ws.folder, fakeAccess({ anthropic: strict.baseUrl }, 'a-wrong-key'));
      try {
        const outcome = await runner.start('chain', { input: 'x' });
        assert.equal(outcome.status, 'failed');
        assert.equal(outcome.errorKind, 'auth');
        assert.match(outcome.error!, /rejected the API key/);
        assert.doesNotMatch(outcome.error!, /a-wrong-key/);
      } finally {
        await close();
        await strict.close();
      }
    });

    it('server errors after the retries fail the run; resume finishes it', async () => {
      fake.enqueue(...Array.from({ length: 4 }, () => ({ type: 'error' as const, status: 500 })));
      const { runner, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
      try {
        const failed = await runner.start('chain', { input: 'x' });
        assert.equal(failed.status, 'failed');
        assert.equal(failed.errorKind, 'provider');
        const done = await runner.resume(failed.runId);
        assert.equal(done.status, 'completed', done.error);
      } finally {
        await close();
      }
    });
  });
});
