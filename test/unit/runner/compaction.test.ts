// COMPACT, the fifth action: an agent loop near its soft limit (or told by a rule, or about to pass a hard limit)
// has its older turns summarised by the workflow's cheap model and goes on from the summary — metered, in the
// checkpoint, and never at the price of a hard limit.
import assert from 'node:assert/strict';
import { readCheckpoint } from '../../../src/core/runner/checkpoint';
import { SUMMARY_HEADER } from '../../../src/core/runner/compaction';
import { startFakeAnthropic, type FakeAnthropic, type LoggedRequest, type Running } from '../../fakes';
import { collectEvents, fakeAccess, ledgerOf, openRunner, tempWorkspace, writePolicy } from './helpers';
import { prose } from '../../support/prose';

const FILES = 10;
const WORKFLOW = {
  id: 'dig',
  title: 'Dig',
  model: 'claude-sonnet-5',
  steps: [{ id: 'dig', prompt: 'Read every file, then report.', tools: ['readFile'], maxOutputTokens: 400 }],
};

type Body = { model: string; system?: unknown; messages: Array<{ role: string; content: unknown }> };

/**
 * The scripted model: the step's model reads src/f0 … src/f9 one per turn, then answers; the cheap model (any
 * other) writes a summary naming the files it saw. Which turn comes next is the script's own count, so the same
 * work is done whatever the conversation looks like.
 */
function agent(
  fake: FakeAnthropic,
  files = FILES,
): {
  mainRequests: () => Body[];
  summaries: () => Body[];
  order: Array<'main' | 'summary'>;
} {
  let turn = 0;
  const main: Body[] = [];
  const summaries: Body[] = [];
  const order: Array<'main' | 'summary'> = [];
  fake.responder = (req: LoggedRequest) => {
    const body = req.body as Body;
    order.push(body.model === 'claude-sonnet-5' ? 'main' : 'summary');
    if (body.model !== 'claude-sonnet-5') {
      summaries.push(body);
      const seen = [...JSON.stringify(body).matchAll(/src\/f(\d)\.ts/g)].map((m) => m[1]);
      return {
        text: `Read so far: ${[...new Set(seen)].map((n) => `src/f${n}.ts`).join(', ')}.`,
        usage: { output: 60 },
      };
    }
    main.push(body);
    if (turn < files)
      return { toolCalls: [{ name: 'readFile', input: { path: `src/f${turn++}.ts` } }], usage: { output: 25 } };
    return { text: files === FILES ? 'All ten files read.' : `All ${files} files read.`, usage: { output: 40 } };
  };
  return { mainRequests: () => main, summaries: () => summaries, order };
}

describe('Runner: COMPACT', function () {
  this.timeout(30_000);
  let fake: Running<FakeAnthropic>;
  let ws: ReturnType<typeof tempWorkspace>;
  beforeEach(async () => {
    fake = await startFakeAnthropic();
    const files = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`src/f${i}.ts`, prose(1_200, `f${i}x`)]));
    ws = tempWorkspace({ ...files, '.agent-budget/workflows/dig.json': WORKFLOW });
  });
  afterEach(async () => {
    await fake.close();
    ws.cleanup();
  });

  it('near the task’s soft limit, older turns are summarised by the degrade model and the loop goes on from the summary', async () => {
    writePolicy(ws.folder, {
      caching: 'off',
      limits: { task: { softTokens: 12_000, hardTokens: 500_000 } },
      workflows: { dig: { degradeModel: 'claude-haiku-4-5' } },
    });
    const script = agent(fake);
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const { events, onEvent } = collectEvents();
      const outcome = await runner.start('dig', {}, { onEvent });
      assert.equal(outcome.status, 'completed', outcome.error);
      assert.equal(outcome.output, 'All ten files read.', 'the same work, to the end');
      const rows = ledgerOf(workspace, outcome.runId);
      const compactRows = rows.filter((r) => r.task === 'compact');
      assert.ok(compactRows.length >= 1, 'a summary call was made');
      assert.ok(compactRows.every((r) => r.model === 'claude-haiku-4-5' && r.costMicros > 0 && !r.estimated));
      assert.equal(script.summaries().length, compactRows.length);
      // The first main request after a summary: the opening message (prompt + summary) and the last two turns.
      const after = script.mainRequests().find((b) => JSON.stringify(b.messages[0]).includes(SUMMARY_HEADER))!;
      assert.ok(after, 'the loop continued from the summary');
      assert.equal(after.messages.length, 5);
      assert.match(JSON.stringify(after.messages[0]), /Read so far: src\/f0\.ts/);
      // Without it each turn re-sends every file; with it the last prompt is far shorter than ten files.
      const lastPrompt = rows.filter((r) => r.task === 'dig').at(-1)!.usage.input;
      assert.ok(lastPrompt < 8_000, `last prompt ${lastPrompt} tokens`);
      const said = events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message);
      assert.ok(
        said.some((m) =>
          /compacted \d+ older messages \(task soft limit reached\) with claude-haiku-4-5 \(workflows\.dig\.degradeModel\)/.test(
            m,
          ),
        ),
        said.join('\n'),
      );
    } finally {
      await close();
    }
  });

  it('a rule can ask for it; without a degradeModel the cheapest model of the provider summarises, and it says so', async () => {
    writePolicy(ws.folder, {
      caching: 'off',
      limits: { task: { softTokens: null, hardTokens: 500_000 } },
      rules: [{ when: { scope: 'task', atLeastPct: 1 }, action: 'compact' }],
    });
    const script = agent(fake);
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const { events, onEvent } = collectEvents();
      const outcome = await runner.start('dig', {}, { onEvent });
      assert.equal(outcome.status, 'completed', outcome.error);
      const compactRows = ledgerOf(workspace, outcome.runId).filter((r) => r.task === 'compact');
      assert.ok(compactRows.length >= 1);
      assert.equal(compactRows[0]!.model, 'claude-haiku-5-5');
      assert.equal(script.summaries()[0]!.model, 'claude-haiku-5-5');
      assert.ok(
        events.some(
          (e) =>
            e.type === 'warning' &&
            /rules\[0\] \(task ≥ 1% → compact\).*with claude-haiku-5-5 \(the cheapest anthropic model in the price table; set workflows\.dig\.degradeModel to choose\)/.test(
              e.message,
            ),
        ),
      );
    } finally {
      await close();
    }
  });

  it('without a soft limit or rule nothing is compacted, and the whole conversation is re-sent', async () => {
    writePolicy(ws.folder, { caching: 'off', limits: { task: { softTokens: null, hardTokens: 500_000 } } });
    const script = agent(fake);
    // Switching the default soft limit off loosens the user's policy: the user consents (trust/policyMerge.ts).
    const { runner, workspace, close } = await openRunner(
      ws.folder,
      fakeAccess({ anthropic: fake.baseUrl }),
      undefined,
      {
        trustPolicy: true,
      },
    );
    try {
      const outcome = await runner.start('dig', {});
      assert.equal(outcome.status, 'completed', outcome.error);
      assert.equal(script.summaries().length, 0);
      assert.ok(ledgerOf(workspace, outcome.runId).every((r) => r.task === 'dig'));
      assert.equal(script.mainRequests().at(-1)!.messages.length, 1 + 2 * FILES);
    } finally {
      await close();
    }
  });

  it('the compacted conversation is in the checkpoint: a blocked run resumes from it, and does not summarise again', async () => {
    writePolicy(ws.folder, {
      caching: 'off',
      limits: { task: { softTokens: 12_000, hardTokens: 500_000, maxSteps: 7 } },
      workflows: { dig: { degradeModel: 'claude-haiku-4-5' } },
    });
    const script = agent(fake);
    let runId: string;
    {
      const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
      try {
        const blocked = await runner.start('dig', {});
        runId = blocked.runId;
        assert.equal(blocked.status, 'blocked');
        assert.equal(blocked.blockedScope, 'task.maxSteps');
        const state = readCheckpoint(workspace.store.queries.checkpoint(runId)!.state);
        const task = state.steps[0]!;
        assert.ok((task.compactions ?? 0) >= 1);
        assert.match(JSON.stringify(task.messages[0]), new RegExp(SUMMARY_HEADER.replace(/[[\]]/g, '\\$&')));
      } finally {
        await close();
      }
    }
    const callsBefore = script.order.length;
    const mainBefore = script.mainRequests().length;
    writePolicy(ws.folder, {
      caching: 'off',
      limits: { task: { softTokens: 12_000, hardTokens: 500_000, maxSteps: 50 } },
      workflows: { dig: { degradeModel: 'claude-haiku-4-5' } },
    });
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const done = await runner.resume(runId);
      assert.equal(done.status, 'completed', done.error);
      assert.equal(script.order[callsBefore], 'main', 'the resumed loop calls the model before any new summary');
      const first = script.mainRequests()[mainBefore]!;
      assert.match(JSON.stringify(first.messages[0]), /Read so far/, 'resumed from the compacted state');
      assert.ok(first.messages.length < 1 + 2 * 7, `${first.messages.length} messages, not the whole conversation`);
      assert.equal(ledgerOf(workspace, runId).filter((r) => r.task === 'dig').length, FILES + 1);
    } finally {
      await close();
    }
  });

  it('compacting from the soft limit on keeps a long loop under a hard limit it would otherwise pass', async () => {
    // Sixteen 1,200-token files, each turn re-sending every file read so far: the whole conversation grows as the
    // square of the turns; compacted, each turn stays short and each summary reads only what it drops.
    const used = async (softTokens: number | null, hardTokens: number) => {
      writePolicy(ws.folder, {
        caching: 'off',
        limits: { task: { softTokens, hardTokens } },
        workflows: { dig: { degradeModel: 'claude-haiku-4-5' } },
      });
      fake.reset();
      agent(fake, 16);
      const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
      try {
        const outcome = await runner.start('dig', {});
        const tokens = ledgerOf(workspace, outcome.runId).reduce(
          (n, r) => n + r.usage.input + r.usage.output + r.usage.cacheRead + r.usage.reasoning,
          0,
        );
        return { outcome, tokens };
      } finally {
        await close();
      }
    };
    const full = await used(null, 10_000_000);
    const compacted = await used(10_000, 10_000_000);
    assert.equal(full.outcome.output, 'All 16 files read.');
    assert.equal(compacted.outcome.output, 'All 16 files read.');
    assert.ok(
      compacted.tokens < full.tokens * 0.85,
      `${compacted.tokens} vs ${full.tokens} tokens, summaries included`,
    );
    // A hard limit between the two: the whole conversation passes it, the compacted one finishes under it.
    const hard = Math.round((compacted.tokens + full.tokens) / 2);
    const blocked = await used(null, hard);
    assert.equal(blocked.outcome.status, 'blocked');
    assert.equal(blocked.outcome.blockedScope, 'task');
    const done = await used(10_000, hard);
    assert.equal(done.outcome.status, 'completed', done.outcome.error);
    assert.ok(done.tokens <= hard);
  });

  it('a summary the budget refuses is not made: the turn goes on with the whole conversation', async () => {
    writePolicy(ws.folder, {
      caching: 'off',
      limits: { task: { softTokens: 8_000, hardTokens: 500_000 } },
      workflows: { dig: { degradeModel: 'claude-haiku-4-5' } },
      rules: [{ when: { modelMatches: 'haiku' }, action: 'block' }],
    });
    const script = agent(fake);
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const { events, onEvent } = collectEvents();
      const outcome = await runner.start('dig', {}, { onEvent });
      assert.equal(outcome.status, 'completed', outcome.error);
      assert.equal(script.summaries().length, 0, 'no summary call reached the provider');
      assert.ok(ledgerOf(workspace, outcome.runId).every((r) => r.task === 'dig'));
      assert.equal(script.mainRequests().at(-1)!.messages.length, 1 + 2 * FILES);
      assert.ok(
        events.some(
          (e) => e.type === 'warning' && /not compacted .*does not fit the budget.*Blocked by a rule/.test(e.message),
        ),
      );
    } finally {
      await close();
    }
  });
});
