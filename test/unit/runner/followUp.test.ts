// Follow-ups (src/core/runner/followUp.ts): a completed run continued with a question is one more step of the same
// run — the model sees the conversation so far, the call is metered against the run, the turn is checkpointed, and
// a follow-up stopped short resumes like any step.
import assert from 'node:assert/strict';
import { readCheckpoint } from '../../../src/core/runner/checkpoint';
import { RunInputError } from '../../../src/core/runner/errors';
import { memoryAccess, MemoryProvider } from '../metering/memoryProvider';
import { ledgerOf, openRunner, tempWorkspace } from './helpers';

const WORKFLOW = {
  id: 'inspect',
  title: 'Inspect',
  model: 'claude-haiku-4-5',
  version: 'f1',
  system: 'Be brief.',
  steps: [
    { id: 'look', prompt: 'Look at {{input}}', maxOutputTokens: 400 },
    { id: 'sum', prompt: 'Sum up: {{steps.look.output}}', maxOutputTokens: 300 },
  ],
};

const texts = (m: { role: string; content: Array<{ type: string; text?: string }> }) =>
  `${m.role}: ${m.content.map((p) => p.text ?? '').join('')}`;

describe('Runner.continue: a follow-up question on a completed run', function () {
  this.timeout(20_000);
  let ws: ReturnType<typeof tempWorkspace>;
  beforeEach(() => {
    ws = tempWorkspace({ '.agent-budget/workflows/inspect.json': WORKFLOW });
  });
  afterEach(() => ws.cleanup());

  it('sends the conversation so far with the question, charges the run, and keeps every turn in the checkpoint', async () => {
    const provider = new MemoryProvider().enqueue(
      { text: 'Saw 42.', usage: { input: 50, output: 4 } },
      { text: 'It is 42.', usage: { input: 60, output: 5 } },
      { text: 'Because the notes say so.', usage: { input: 90, output: 6 } },
      { text: 'Yes, {{input}} stays as typed.', usage: { input: 120, output: 7 } },
    );
    const { runner, workspace, close } = await openRunner(ws.folder, memoryAccess({ anthropic: provider }));
    // What call `i` sent (the runner appends the answer to the same array afterwards: cut it off).
    const sent = (i: number) => {
      const messages = provider.requests[i]!.messages.map(texts);
      return messages.at(-1)!.startsWith('assistant:') ? messages.slice(0, -1) : messages;
    };
    try {
      const first = await runner.start('inspect', { input: 'the notes' });
      assert.equal(first.status, 'completed', first.error);

      const turn = await runner.continue(first.runId, '  Why 42?  ');
      assert.equal(turn.status, 'completed', turn.error);
      assert.equal(turn.runId, first.runId, 'the same run');
      assert.equal(turn.output, 'Because the notes say so.');
      assert.deepEqual(
        sent(2),
        ['user: Sum up: Saw 42.', 'assistant: It is 42.', 'user: Why 42?'],
        'the last step’s prompt and answer, then the question',
      );
      assert.equal(provider.requests[2]!.system, 'Be brief.');

      // A second follow-up sees the first, and its question is never rendered as a template.
      const second = await runner.continue(first.runId, 'Does {{input}} expand?');
      assert.equal(second.output, 'Yes, {{input}} stays as typed.');
      assert.deepEqual(sent(3), [
        'user: Sum up: Saw 42.',
        'assistant: It is 42.',
        'user: Why 42?',
        'assistant: Because the notes say so.',
        'user: Does {{input}} expand?',
      ]);

      // Every turn is a ledger row of this run, and the run's cost is theirs together.
      const rows = ledgerOf(workspace, first.runId);
      assert.equal(rows.length, 4);
      assert.equal(
        second.costMicros,
        rows.reduce((n, r) => n + r.costMicros, 0),
      );
      const state = readCheckpoint(workspace.store.queries.checkpoint(first.runId)!.state);
      assert.deepEqual(
        state.workflow.steps.map((s) => s.id),
        ['look', 'sum', 'follow-up-1', 'follow-up-2'],
      );
      assert.deepEqual(
        state.steps.map((t) => [t.status, t.output]),
        [
          ['completed', 'Saw 42.'],
          ['completed', 'It is 42.'],
          ['completed', 'Because the notes say so.'],
          ['completed', 'Yes, {{input}} stays as typed.'],
        ],
      );
      assert.equal(workspace.store.queries.getRun(first.runId)?.status, 'completed');
    } finally {
      await close();
    }
  });

  it('a follow-up cut short stops the run resumable; resume answers it without asking the earlier steps again', async () => {
    const provider = new MemoryProvider();
    provider.enqueue(
      { text: 'Saw 42.', usage: { input: 50, output: 4 } },
      { text: 'It is 42.', usage: { input: 60, output: 5 } },
      { fail: provider.error('server', 'overloaded', { status: 500 }) },
    );
    const { runner, workspace, close } = await openRunner(ws.folder, memoryAccess({ anthropic: provider }));
    try {
      const first = await runner.start('inspect', { input: 'the notes' });
      const failed = await runner.continue(first.runId, 'Why?');
      assert.equal(failed.status, 'failed');
      provider.enqueue({ text: 'Because.', usage: { input: 90, output: 2 } });
      const resumed = await runner.resume(first.runId);
      assert.equal(resumed.status, 'completed', resumed.error);
      assert.equal(resumed.output, 'Because.');
      assert.equal(provider.requests.length, 4, 'the two workflow steps were not asked again');
      assert.equal(texts(provider.requests[3]!.messages[2]!), 'user: Why?');
      assert.equal(workspace.store.queries.getRun(first.runId)?.status, 'completed');
    } finally {
      await close();
    }
  });

  it('refuses an empty question, and a run whose steps have not all completed, recording nothing', async () => {
    const provider = new MemoryProvider();
    provider.enqueue({ fail: provider.error('badRequest', 'bad', { status: 400 }) });
    const { runner, workspace, close } = await openRunner(ws.folder, memoryAccess({ anthropic: provider }));
    try {
      const failed = await runner.start('inspect', { input: 'the notes' });
      assert.equal(failed.status, 'failed');
      const seq = workspace.store.queries.checkpoint(failed.runId)!.seq;
      await assert.rejects(runner.continue(failed.runId, 'Why?'), RunInputError);
      await assert.rejects(runner.continue(failed.runId, '   '), RunInputError);
      assert.equal(workspace.store.queries.checkpoint(failed.runId)!.seq, seq, 'no checkpoint written');
      assert.equal(workspace.store.queries.getRun(failed.runId)?.status, 'failed');
    } finally {
      await close();
    }
  });

  it("a run that ends in a fan-out: the follow-up shows its sub-agents' answers after a sentence saying what they are, never an empty prompt", async () => {
    const fanOut = {
      id: 'fan',
      title: 'Fan',
      model: 'claude-haiku-4-5',
      version: 'f1',
      steps: [
        { id: 'plan', prompt: 'List parts of {{input}}', maxOutputTokens: 200 },
        {
          id: 'each',
          title: 'Each part',
          subAgents: { itemsFrom: 'plan', max: 2, steps: [{ id: 'look', prompt: 'Look at {{item}}' }] },
        },
      ],
    };
    const folder = tempWorkspace({ '.agent-budget/workflows/fan.json': fanOut });
    const provider = new MemoryProvider().enqueue(
      { text: '- a\n- b', usage: { input: 20, output: 4 } },
      { text: 'A is fine.', usage: { input: 20, output: 4 } },
      { text: 'B is fine.', usage: { input: 20, output: 4 } },
      { text: 'Both are.', usage: { input: 60, output: 3 } },
    );
    const { runner, close } = await openRunner(folder.folder, memoryAccess({ anthropic: provider }));
    try {
      const first = await runner.start('fan', { input: 'the app' });
      assert.equal(first.status, 'completed', first.error);
      const turn = await runner.continue(first.runId, 'Are both fine?');
      assert.equal(turn.status, 'completed', turn.error);
      const sent = provider.requests[3]!.messages.map(texts);
      assert.equal(
        sent[0],
        'user: Step "Each part" ran one sub-agent per item; their answers follow, each under its item.',
      );
      assert.match(sent[1]!, /^assistant: [\s\S]*A is fine\.[\s\S]*B is fine\./);
      assert.equal(sent[2], 'user: Are both fine?');
    } finally {
      await close();
      folder.cleanup();
    }
  });
});
