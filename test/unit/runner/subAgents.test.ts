import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readCheckpoint, type TaskCheckpoint } from '../../../src/core/runner/checkpoint';
import type { RunnerWorkflow } from '../../../src/core/runner/builtins';
import { memoryAccess } from '../metering/memoryProvider';
import { bundleChild } from '../../support/childBundle';
import { collectEvents, fakeAccess, ledgerOf, openRunner, tempWorkspace, writePolicy } from './helpers';
import { promptOfBody, RacingProvider, startPromptAnthropic, type PromptAnthropic } from './promptFakes';
import type { FakeReply, Running } from '../../fakes';

/** A workflow file: a plan, then sub-agents that each list parts of their item and fan out over those parts. */
const AUDIT = {
  id: 'audit',
  title: 'Audit',
  model: 'claude-haiku-4-5',
  version: 'a1',
  steps: [
    { id: 'plan', prompt: 'PLAN {{input}}', maxOutputTokens: 200 },
    {
      id: 'each',
      title: 'Each area',
      subAgents: {
        itemsFrom: 'plan',
        concurrency: 2,
        budget: { pool: 0.8 },
        steps: [
          { id: 'parts', prompt: 'PARTS of {{item}}', maxOutputTokens: 200 },
          {
            id: 'dig',
            prompt: 'DIG {{item}} (area list: {{steps.plan.output}})',
            maxOutputTokens: 300,
            subAgents: { itemsFrom: 'parts', concurrency: 2, budget: { share: 0.5 } },
          },
        ],
      },
    },
    { id: 'sum', prompt: 'SUM {{steps.each.output}}', maxOutputTokens: 200 },
  ],
};

const AREAS = ['alpha', 'beta', 'gamma'];

/** Answers of the audit: the plan lists the areas, each area's parts are `<area>-1` and `<area>-2`. */
function auditAnswer(prompt: string): FakeReply {
  const usage = { input: 40, output: 20 };
  if (prompt.startsWith('PLAN')) return { text: AREAS.map((a, i) => `${i + 1}. ${a}`).join('\n'), usage };
  const parts = /^PARTS of (\S+)/.exec(prompt);
  if (parts) return { text: `- ${parts[1]}-1\n- ${parts[1]}-2`, usage };
  const dig = /^DIG (\S+)/.exec(prompt);
  if (dig) return { text: `found ${dig[1]}`, usage };
  return { text: 'summary', usage };
}

/** What each leaf task asks, from its store record: the prompt prefix its requests start with. */
function labelOf(
  task: { id: string; name: string; parentTaskId: string | null; data: unknown },
  byId: Map<string, { data: unknown }>,
): string | undefined {
  const item = (task.data as { item?: string }).item;
  if (task.name === 'plan') return 'PLAN';
  if (task.name === 'sum') return 'SUM';
  if (task.name === 'parts') return `PARTS of ${(byId.get(task.parentTaskId!)!.data as { item: string }).item}`;
  if (task.name === 'dig' && item && item.includes('-')) return `DIG ${item}`;
  return undefined; // a fan-out or a sub-agent running steps: it makes no call of its own
}

function leafTasks(state: { steps: TaskCheckpoint[] }): TaskCheckpoint[] {
  const out: TaskCheckpoint[] = [];
  const visit = (t: TaskCheckpoint) => {
    if (!t.children && !t.steps) out.push(t);
    for (const c of t.children ?? []) visit(c);
    for (const c of t.steps ?? []) visit(c);
  };
  state.steps.forEach(visit);
  return out;
}

describe('Runner: sub-agents in workflow files', function () {
  this.timeout(60_000);
  let ws: ReturnType<typeof tempWorkspace>;
  let fake: Running<PromptAnthropic> | undefined;
  afterEach(async () => {
    fake?.destroyOpen();
    await fake?.close();
    fake = undefined;
    ws.cleanup();
  });

  it('nested sub-agents: items rendered at every level, the tree in the store, the parent paying for its children', async () => {
    ws = tempWorkspace({ '.agent-budget/workflows/audit.json': AUDIT });
    fake = await startPromptAnthropic((prompt) => auditAnswer(prompt));
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const { events, onEvent } = collectEvents();
      const outcome = await runner.start('audit', { input: 'the payment service' }, { onEvent });
      assert.equal(outcome.status, 'completed', outcome.error);
      // 1 plan + 3 areas × (1 parts + 2 digs) + 1 summary, each asked once.
      assert.equal(fake.generationRequests.length, 11);
      for (const area of AREAS) {
        assert.equal(fake.requestsFor(`PARTS of ${area}`), 1);
        for (const n of [1, 2]) assert.equal(fake.requestsFor(`DIG ${area}-${n} `), 1);
      }
      const dig = fake.generationRequests.map((r) => promptOfBody(r.body)).find((p) => p.startsWith('DIG beta-2'));
      assert.match(dig!, /area list: 1\. alpha\n2\. beta\n3\. gamma/, 'a nested step sees the run’s earlier outputs');
      assert.match(
        outcome.steps[1]!.output!,
        /### alpha\n\n### alpha-1\n\nfound alpha-1\n\n### alpha-2\n\nfound alpha-2/,
      );
      assert.match(outcome.output!, /summary/);
      assert.ok(
        events.some((e) => e.type === 'stepStarted' && e.title === 'Each area 2/3: beta › dig 1/2: beta-1'),
        'progress names the path of a nested sub-agent',
      );

      const tasks = workspace.store.queries.tasksOfRun(outcome.runId);
      const byId = new Map(tasks.map((t) => [t.id, t]));
      const each = tasks.find((t) => t.name === 'each' && t.parentTaskId === null)!;
      const areas = tasks.filter((t) => t.parentTaskId === each.id);
      assert.deepEqual(
        areas.map((t) => (t.data as { item: string }).item),
        AREAS,
        'sub-agents listed in item order',
      );
      assert.ok(tasks.every((t) => t.status === 'completed'));
      // The fan-out's cost is its whole tree's: every call below it, three levels down.
      const below = tasks.filter((t) => {
        for (let p = t.parentTaskId; p; p = byId.get(p)?.parentTaskId ?? null) if (p === each.id) return true;
        return false;
      });
      assert.equal(below.length, 3 + 3 * (1 + 1 + 2));
      const rows = ledgerOf(workspace, outcome.runId);
      const treeCost = rows.filter((r) => below.some((t) => t.id === r.taskId)).reduce((a, r) => a + r.costMicros, 0);
      assert.ok(treeCost > 0);
      assert.equal(outcome.steps[1]!.costMicros, treeCost);
      assert.equal(workspace.store.queries.taskTreeTotals(each.id).costMicros, treeCost);
    } finally {
      await close();
    }
  });

  it('SIGKILLed mid-fan-out under a pool and resumed: no finished sub-agent lost, no billed call repeated, the pool held', async () => {
    ws = tempWorkspace({ '.agent-budget/workflows/audit.json': AUDIT });
    writePolicy(ws.folder, { limits: { task: { hardTokens: 4000 } } });
    // beta-1's first dig hangs after a few events; everything else answers at once.
    fake = await startPromptAnthropic((prompt, nth) =>
      prompt.startsWith('DIG beta-1') && nth === 0
        ? { ...auditAnswer(prompt), hangAfterEvents: 3 }
        : auditAnswer(prompt),
    );
    const script = await bundleChild('test/unit/runner/runChild.ts');
    const child = spawn(process.execPath, [script, ws.folder, fake.baseUrl, 'start', 'audit', 'the payment service'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise((r) => child.on('exit', r));
    const deadline = Date.now() + 20_000;
    while (fake.requestsFor('DIG beta-1') === 0) {
      if (Date.now() > deadline) throw new Error(`the hanging call never came:\n${out}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 150)); // the hung stream has sent its first events
    child.kill('SIGKILL');
    await exited;
    const runId = /^run (\S+)$/m.exec(out)![1]!;
    const before = fake.generationRequests.length;

    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      assert.equal(workspace.store.queries.getRun(runId)?.status, 'interrupted');
      const atKill = readCheckpoint(workspace.store.queries.checkpoint(runId)!.state);
      const done = new Set(
        leafTasks(atKill)
          .filter((t) => t.status === 'completed')
          .map((t) => t.taskId),
      );
      assert.ok(done.size >= 2, 'some sub-agents had finished before the kill');
      assert.ok(
        leafTasks(atKill).some((t) => t.inFlight),
        'the checkpoint marks the call that was in flight',
      );

      const outcome = await runner.resume(runId);
      assert.equal(outcome.status, 'completed', outcome.error);
      assert.ok(fake.generationRequests.length > before);

      // Per task: one request per ledger row; exactly one exact row (its answer); the others are attempts the kill
      // cut, charged as estimated. A task that had finished before the kill was never asked again.
      const tasks = workspace.store.queries.tasksOfRun(runId);
      const byId = new Map(tasks.map((t) => [t.id, t]));
      const rows = ledgerOf(workspace, runId);
      let cut = 0;
      let leaves = 0;
      for (const task of tasks) {
        const label = labelOf(task, byId);
        if (!label) continue;
        leaves += 1;
        const mine = rows.filter((r) => r.taskId === task.id);
        const asked = fake.requestsFor(label.startsWith('DIG') ? `${label} ` : label);
        assert.equal(mine.filter((r) => !r.estimated).length, 1, `${label} billed once`);
        assert.equal(asked, mine.length, `${label}: ${asked} requests for ${mine.length} ledger rows`);
        if (done.has(task.id)) assert.equal(asked, 1, `${label} finished before the kill and was not asked again`);
        cut += mine.filter((r) => r.estimated).length;
      }
      assert.equal(leaves, 11);
      assert.ok(cut >= 1, 'the hung call was charged as estimated');
      assert.equal(fake.generationRequests.length, 11 + cut);

      // The pool (0.8 of the fan-out's 4,000 tokens) and the fan-out's own limit held, across both processes.
      const each = tasks.find((t) => t.name === 'each' && t.parentTaskId === null)!;
      const tree = workspace.store.queries.taskTreeTotals(each.id).tokens;
      assert.ok(tree <= 0.8 * 4000, `the sub-agents used ${tree} tokens`);
      assert.equal(workspace.store.queries.openReservations().length, 0);
    } finally {
      await close();
    }
  });

  it('concurrency 4 under a tight share: four calls race, every admission is atomic, nothing overshoots', async () => {
    ws = tempWorkspace();
    writePolicy(ws.folder, { limits: { task: { softTokens: 100, hardTokens: 3000 } } });
    const items = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    const racing = new RacingProvider(4, (prompt) =>
      prompt.startsWith('List') ? items.map((i) => `- ${i}`).join('\n') : 'done',
    );
    const workflow: RunnerWorkflow = {
      id: 'race',
      title: 'Race',
      model: 'claude-haiku-4-5',
      steps: [
        { id: 'plan', prompt: 'List items', maxOutputTokens: 50 },
        {
          id: 'fan',
          prompt: 'Work on {{item}}',
          maxOutputTokens: 2000,
          subAgents: { itemsFrom: 'plan', max: 8, concurrency: 4, budget: { share: 0.3 } },
        },
      ],
    };
    const { runner, workspace, close } = await openRunner(
      ws.folder,
      memoryAccess({ anthropic: racing as unknown as never }),
      undefined,
      { builtins: [workflow] },
    );
    try {
      const outcome = await runner.start('race', {});
      assert.equal(racing.maxInFlight, 4, 'four sub-agents were in flight at once');
      assert.equal(outcome.status, 'blocked', 'the share runs out');
      assert.ok(['task', 'pool'].includes(outcome.blockedScope!), outcome.blockedScope);
      const state = readCheckpoint(workspace.store.queries.checkpoint(outcome.runId)!.state);
      const fan = state.steps[1]!;
      const rows = ledgerOf(workspace, outcome.runId);
      const tokensOf = (id: string) => workspace.store.queries.taskTreeTotals(id).tokens;
      assert.ok(tokensOf(fan.taskId) <= 3000, `the fan-out used ${tokensOf(fan.taskId)} of 3000 tokens`);
      assert.ok(tokensOf(fan.taskId) > 0.9 * 3000, 'the limit was nearly used: the calls raced for it');
      for (const child of fan.children!) {
        if (child.shareFrom === undefined) continue; // never started
        const share = Math.floor(0.3 * (3000 - child.shareFrom));
        assert.ok(tokensOf(child.taskId) <= share, `${child.item}: ${tokensOf(child.taskId)} > its share ${share}`);
      }
      // Every call billed its whole worst case, so the sum of what was granted is what was used.
      assert.equal(
        rows.filter((r) => r.task === 'fan').reduce((a, r) => a + r.usage.input + r.usage.output, 0),
        tokensOf(fan.taskId),
      );
      assert.equal(workspace.store.queries.openReservations().length, 0);
    } finally {
      await close();
    }
  });

  it("a fan-out's maxSteps holds exactly across concurrent siblings", async () => {
    ws = tempWorkspace();
    writePolicy(ws.folder, {});
    const racing = new RacingProvider(
      3,
      (prompt) => (prompt.startsWith('List') ? '- a\n- b\n- c\n- d\n- e' : 'ok'),
      300,
    );
    const workflow: RunnerWorkflow = {
      id: 'steps',
      title: 'Steps',
      model: 'claude-haiku-4-5',
      steps: [
        { id: 'plan', prompt: 'List items', maxOutputTokens: 50 },
        {
          id: 'fan',
          prompt: 'Work on {{item}}',
          maxOutputTokens: 50,
          limits: { maxSteps: 3 },
          subAgents: { itemsFrom: 'plan', concurrency: 5 },
        },
      ],
    };
    const { runner, close } = await openRunner(
      ws.folder,
      memoryAccess({ anthropic: racing as unknown as never }),
      undefined,
      {
        builtins: [workflow],
      },
    );
    try {
      const outcome = await runner.start('steps', {});
      assert.equal(outcome.status, 'blocked');
      assert.equal(outcome.blockedScope, 'task.maxSteps');
      assert.match(outcome.error!, /Step "fan" \(its sub-agents together\) reached its limit of 3 agent-loop steps/);
      assert.equal(racing.prompts.filter((p) => p.startsWith('Work on')).length, 3, 'exactly maxSteps calls');
    } finally {
      await close();
    }
  });

  it('a dollar pool (maxUsd) bounds the sub-agents together and blocks the one that would overdraw it', async () => {
    ws = tempWorkspace();
    writePolicy(ws.folder, {});
    const racing = new RacingProvider(1, (prompt) => (prompt.startsWith('List') ? '- a\n- b\n- c\n- d' : 'ok'), 0);
    const workflow: RunnerWorkflow = {
      id: 'usd',
      title: 'Dollars',
      model: 'claude-haiku-4-5',
      steps: [
        { id: 'plan', prompt: 'List items', maxOutputTokens: 50 },
        {
          id: 'fan',
          prompt: 'Work on {{item}}',
          maxOutputTokens: 400,
          // claude-haiku-4-5 output is $5/MTok: 400 tokens ≈ $0.002; the pool is half of $0.004.
          subAgents: { itemsFrom: 'plan', budget: { pool: 0.5, maxUsd: 0.004 } },
        },
      ],
    };
    const { runner, workspace, close } = await openRunner(
      ws.folder,
      memoryAccess({ anthropic: racing as unknown as never }),
      undefined,
      {
        builtins: [workflow],
      },
    );
    try {
      const outcome = await runner.start('usd', {});
      assert.equal(outcome.status, 'blocked', outcome.error);
      assert.equal(outcome.blockedScope, 'pool.usd');
      assert.match(outcome.error!, /pool\.usd limit reached: \$0\.0\d+ of \$0\.0020 spent or held/);
      const fan = readCheckpoint(workspace.store.queries.checkpoint(outcome.runId)!.state).steps[1]!;
      assert.ok(workspace.store.queries.taskTreeTotals(fan.taskId).costMicros <= 2000);
      assert.ok(racing.prompts.filter((p) => p.startsWith('Work on')).length >= 1);
      // Every call of a sub-agent was clamped to what the pool had left.
      const held = ledgerOf(workspace, outcome.runId).filter((r) => r.task === 'fan');
      assert.ok(held.every((r) => r.costMicros <= 2000));
    } finally {
      await close();
    }
  });

  it("budget.json's task dollars (limits.task.hardUsd) bound the fan-out's whole tree, racing sub-agents included", async () => {
    ws = tempWorkspace();
    // claude-haiku-4-5 output is $5/MTok: a 400-token answer may cost $0.002, so the fan-out's $0.003 holds one and
    // a half of them however the two sub-agents race.
    writePolicy(ws.folder, { limits: { task: { hardUsd: 0.003 } } });
    const racing = new RacingProvider(2, (prompt) => (prompt.startsWith('List') ? '- a\n- b\n- c\n- d' : 'ok'), 200);
    const workflow: RunnerWorkflow = {
      id: 'taskusd',
      title: 'Task dollars',
      model: 'claude-haiku-4-5',
      steps: [
        { id: 'plan', prompt: 'List items', maxOutputTokens: 50 },
        {
          id: 'fan',
          prompt: 'Work on {{item}}',
          maxOutputTokens: 400,
          subAgents: { itemsFrom: 'plan', concurrency: 2, budget: { share: 1 } },
        },
      ],
    };
    const { runner, workspace, close } = await openRunner(
      ws.folder,
      memoryAccess({ anthropic: racing as unknown as never }),
      undefined,
      { builtins: [workflow] },
    );
    try {
      const outcome = await runner.start('taskusd', {});
      assert.equal(outcome.status, 'blocked', outcome.error);
      assert.equal(outcome.blockedScope, 'task.usd');
      assert.match(outcome.error!, /task\.usd limit reached: .*Raise limits\.task\.hardUsd/);
      const fan = readCheckpoint(workspace.store.queries.checkpoint(outcome.runId)!.state).steps[1]!;
      const spent = workspace.store.queries.taskTreeTotals(fan.taskId).costMicros;
      assert.ok(spent <= 3000, `the fan-out's tree spent ${spent} µ$ of 3000`);
      assert.ok(spent > 2000, 'more than one sub-agent was paid for: the limit is the tree’s, not each call’s');
      assert.ok(
        racing.maxTokensSent.slice(1).some((n) => n < 400),
        'a racing sub-agent was clamped to what was left',
      );
    } finally {
      await close();
    }
  });

  it('a fan-out over files: confined like the tools, {{itemContent}} from each file, readFile must be allowed', async () => {
    ws = tempWorkspace({
      'src/a.ts': 'export const a = 1;\n',
      'src/deep/b.ts': 'export const b = 2;\n',
      'node_modules/dep/index.ts': 'never',
      '.git/hooks.ts': 'never',
      '.agent-budget/workflows/files.json': {
        id: 'files',
        model: 'claude-haiku-4-5',
        steps: [
          {
            id: 'review',
            prompt: 'REVIEW {{item}}:\n{{itemContent}}',
            subAgents: { files: '**/*.ts', concurrency: 2 },
          },
        ],
      },
    });
    fake = await startPromptAnthropic(() => ({ text: 'fine', usage: { input: 10, output: 2 } }));
    {
      const { runner, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
      try {
        const outcome = await runner.start('files', {});
        assert.equal(outcome.status, 'completed', outcome.error);
        const prompts = fake.generationRequests.map((r) => promptOfBody(r.body)).sort();
        assert.deepEqual(prompts, [
          'REVIEW src/a.ts:\nexport const a = 1;\n',
          'REVIEW src/deep/b.ts:\nexport const b = 2;\n',
        ]);
        assert.equal(outcome.output, '### src/a.ts\n\nfine\n\n### src/deep/b.ts\n\nfine');
      } finally {
        await close();
      }
    }
    writePolicy(ws.folder, { tools: { allow: ['listFiles'], approve: [] } });
    const { runner, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const outcome = await runner.start('files', {});
      assert.equal(outcome.status, 'failed');
      assert.equal(outcome.errorKind, 'config');
      assert.match(outcome.error!, /fans out over the files matching "\*\*\/\*\.ts".*readFile is not in tools\.allow/s);
      assert.equal(fake.generationRequests.length, 2, 'no call was made');
    } finally {
      await close();
    }
  });
});
