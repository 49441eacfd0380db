// What the run view shows (src/vscode/runViewModel.ts) and the messages its page may send
// (src/webview/runProtocol.ts), and the inventory "Estimate Workflow Cost…" makes (src/vscode/inventoryTemplate.ts):
// built from a real store after real runs against the in-memory provider.
import assert from 'node:assert/strict';
import { parseRunViewMessage, parseRunViewState, MAX_RUN_VIEW_TEXT } from '../../../src/webview/runProtocol';
import { inventoryTemplate, GUESS } from '../../../src/vscode/inventoryTemplate';
import { emptyLive, runViewModel, toolLine } from '../../../src/vscode/runViewModel';
import { memoryAccess, MemoryProvider } from '../metering/memoryProvider';
import { openRunner, tempWorkspace } from '../runner/helpers';

const WORKFLOW = {
  id: 'inspect',
  title: 'Inspect',
  model: 'claude-haiku-4-5',
  version: 'v1',
  steps: [
    { id: 'look', title: 'Look', prompt: 'Look at {{input}}', maxOutputTokens: 400 },
    { id: 'sum', title: 'Sum up', prompt: 'Sum up: {{steps.look.output}}', maxOutputTokens: 300 },
  ],
};

describe('The run view', function () {
  this.timeout(20_000);
  let ws: ReturnType<typeof tempWorkspace>;
  beforeEach(() => {
    ws = tempWorkspace({ '.agent-budget/workflows/inspect.json': WORKFLOW });
  });
  afterEach(() => ws.cleanup());

  it("shows the final step as the answer, the earlier ones with their cost, follow-ups in order, and what's live", async () => {
    const provider = new MemoryProvider().enqueue(
      { text: 'Saw **42**.', usage: { input: 50, output: 4 } },
      { text: '## 42', usage: { input: 60, output: 5 } },
      { text: 'Because.', usage: { input: 90, output: 2 } },
    );
    const { runner, workspace, close } = await openRunner(ws.folder, memoryAccess({ anthropic: provider }));
    try {
      const run = await runner.start('inspect', { input: 'notes' });
      const view = (live = emptyLive(), canRun = true) =>
        runViewModel({ queries: workspace.store.queries, runId: run.runId, live, approval: null, canRun })!;
      let m = view();
      assert.deepEqual(
        m.steps.map((s) => [s.title, s.final, s.output, s.calls]),
        [
          ['Look', false, 'Saw **42**.', 1],
          ['Sum up', true, '## 42', 1],
        ],
      );
      assert.equal(m.costMicros, m.steps[0]!.costMicros + m.steps[1]!.costMicros);
      assert.equal(m.estimatedMicros, 0);
      assert.equal(m.canFollowUp, true);
      assert.equal(m.canResume, false);
      assert.equal(view(emptyLive(), false).canFollowUp, false, 'not in an untrusted workspace');

      await runner.continue(run.runId, 'Why?');
      m = view();
      assert.deepEqual(
        m.followUps.map((s) => [s.question, s.output, s.final]),
        [['Why?', 'Because.', false]],
      );
      assert.equal(m.steps.length, 2, 'a follow-up is not an earlier step');

      // While this window runs it: the streamed text of the step under way, and no follow-up meanwhile.
      const live = emptyLive();
      live.running = true;
      live.texts.set('follow-up-2', 'Stream');
      assert.equal(view(live).canFollowUp, false);
      assert.equal(view(live).status, 'running');
    } finally {
      await close();
    }
  });

  it('a stopped run: its error, Resume, and no follow-up until its steps complete', async () => {
    const provider = new MemoryProvider();
    provider.enqueue({ fail: provider.error('badRequest', 'The request was refused.', { status: 400 }) });
    const { runner, workspace, close } = await openRunner(ws.folder, memoryAccess({ anthropic: provider }));
    try {
      const run = await runner.start('inspect', { input: 'notes' });
      const m = runViewModel({
        queries: workspace.store.queries,
        runId: run.runId,
        live: undefined,
        approval: null,
        canRun: true,
      })!;
      assert.equal(m.status, 'failed');
      assert.match(m.error ?? '', /refused/);
      assert.equal(m.canResume, true);
      assert.equal(m.canFollowUp, false);
      assert.equal(
        m.steps.find((s) => s.final),
        undefined,
        'no answer',
      );
    } finally {
      await close();
    }
  });

  it('the inventory made from the workspace: history where a workflow ran, a stated guess where it did not', async () => {
    const provider = new MemoryProvider().enqueue(
      { text: 'a', usage: { input: 100, output: 10 } },
      { text: 'b', usage: { input: 200, output: 20 } },
    );
    const { runner, workspace, close } = await openRunner(ws.folder, memoryAccess({ anthropic: provider }));
    try {
      await runner.start('inspect', { input: 'notes' });
      const { workflows } = await runner.listWorkflows();
      const inventory = inventoryTemplate({
        workflows,
        queries: workspace.store.queries,
        now: Date.now(),
        defaultModel: 'claude-haiku-4-5',
      });
      const inspect = inventory.workflows.find((w) => w.id === 'inspect');
      assert.deepEqual(inspect, {
        id: 'inspect',
        model: 'claude-haiku-4-5',
        runsPerMonth: 1,
        inputTokensPerRun: 300,
        outputTokensPerRun: 30,
      });
      const review = inventory.workflows.find((w) => w.id === 'code-review');
      assert.deepEqual(review && { ...review, model: undefined }, { id: 'code-review', model: undefined, ...GUESS });
      assert.ok(inventory.workflows.length >= 6, 'every built-in workflow and the workspace’s own');
    } finally {
      await close();
    }
  });
});

describe('run view messages from the page', () => {
  it('accepts exactly the requests it knows', () => {
    assert.deepEqual(parseRunViewMessage({ type: 'ready' }), { message: { type: 'ready' } });
    assert.deepEqual(parseRunViewMessage({ type: 'request', id: 3, request: { kind: 'followUp', text: 'Why?' } }), {
      message: { type: 'request', id: 3, request: { kind: 'followUp', text: 'Why?' } },
    });
    assert.deepEqual(
      parseRunViewMessage({ type: 'request', id: 4, request: { kind: 'approve', id: 1, answer: 'apply' } }),
      { message: { type: 'request', id: 4, request: { kind: 'approve', id: 1, answer: 'apply' } } },
    );
  });

  const hostile: Array<[string, unknown]> = [
    ['not an object', 'ready'],
    ['an unknown type', { type: 'eval', code: '1' }],
    ['an extra key', { type: 'ready', runId: 'x' }],
    ['a negative id', { type: 'request', id: -1, request: { kind: 'cancel' } }],
    ['an unknown request', { type: 'request', id: 1, request: { kind: 'runCommand', text: 'rm -rf /' } }],
    ['a text that is not a string', { type: 'request', id: 1, request: { kind: 'insert', text: { toString: 1 } } }],
    [
      'a text past the limit',
      { type: 'request', id: 1, request: { kind: 'followUp', text: 'x'.repeat(MAX_RUN_VIEW_TEXT + 1) } },
    ],
    [
      'an answer other than apply or reject',
      { type: 'request', id: 1, request: { kind: 'approve', id: 1, answer: 'yes' } },
    ],
    ['a prototype trick', JSON.parse('{"type":"ready","__proto__":{"x":1}}')],
  ];
  for (const [name, raw] of hostile) {
    it(`rejects ${name}`, () => assert.ok('error' in parseRunViewMessage(raw)));
  }

  it('restores only a run id after a reload', () => {
    assert.deepEqual(parseRunViewState({ runId: 'r-1_a' }), { runId: 'r-1_a' });
    assert.equal(parseRunViewState({ runId: '../x' }), undefined);
    assert.equal(parseRunViewState(null), undefined);
  });

  it('a tool line names the tool once: summaries name it already, refusals do not', () => {
    assert.equal(
      toolLine({ tool: 'runCommand', summary: 'runCommand echo ran > ran.txt' }),
      'runCommand echo ran > ran.txt',
    );
    assert.equal(
      toolLine({ tool: 'writeFile', summary: 'refused: outside the workspace' }),
      'writeFile refused: outside the workspace',
    );
  });
});
