import assert from 'node:assert/strict';
import { startFakeAnthropic, type FakeAnthropic, type Running } from '../../fakes';
import { parsePolicyText } from '../../../src/core/policy/load';
import { degradeModelProblems } from '../../../src/core/pricing/degrade';
import { collectEvents, fakeAccess, ledgerOf, openRunner, tempWorkspace, writePolicy } from '../runner/helpers';

describe('a degradeModel of another provider', () => {
  const parse = (policy: object) => parsePolicyText(JSON.stringify(policy, null, 2), '/ws/.agent-budget/budget.json');

  it('is refused when the policy loads, where the workflow names its model: at the key, saying why', () => {
    const { policy, issues } = parse({
      workflows: { 'code-review': { model: 'claude-sonnet-4-5', degradeModel: 'gemini-2.5-flash' } },
    });
    assert.equal(policy, undefined, 'an invalid file is never used');
    assert.equal(issues.length, 1);
    const [issue] = issues;
    assert.equal(issue!.severity, 'error');
    assert.equal(issue!.path, 'workflows.code-review.degradeModel');
    assert.equal(issue!.line, 2 + 3);
    assert.match(
      issue!.message,
      /"gemini-2\.5-flash" runs on gemini but this workflow's model "claude-sonnet-4-5" runs on anthropic: a call degrades within its own provider/,
    );
  });

  it('checks complexModel too, and counts the models the file prices itself', () => {
    const complex = parse({
      workflows: { x: { complexModel: 'gpt-5', degradeModel: 'claude-haiku-4-5' } },
    });
    assert.match(complex.issues[0]?.message ?? '', /this workflow's complexModel "gpt-5" runs on openai/);
    const own = degradeModelProblems({
      prices: { 'my-cheap': { provider: 'openai', inputPerMTok: 0.1, outputPerMTok: 0.2 } },
      workflows: { x: { model: 'claude-sonnet-4-5', degradeModel: 'my-cheap' } },
    });
    assert.deepEqual(
      own.map((p) => p.path),
      [['workflows', 'x', 'degradeModel']],
    );
  });

  it('lets through what is fine or cannot be known yet: the same provider, a model chosen at run time, an unpriced one', () => {
    for (const workflows of [
      { a: { model: 'claude-sonnet-4-5', degradeModel: 'claude-haiku-4-5' } },
      { a: { model: 'gemini-2.5-pro', complexModel: 'gemini-2.5-pro', degradeModel: 'gemini-2.5-flash' } },
      { a: { degradeModel: 'gemini-2.5-flash' } }, // the model comes from the workflow or the key set: the run decides
      { a: { model: 'gpt-5', degradeModel: 'llama3.2:3b' } }, // unknown to the table: may be a local model
    ]) {
      const { policy, issues } = parse({ workflows });
      assert.ok(policy, JSON.stringify(issues));
      assert.deepEqual(degradeModelProblems({ workflows }), []);
    }
  });

  describe('at run time, when the policy could not tell', function () {
    this.timeout(20_000);
    let fake: Running<FakeAnthropic>;
    let ws: ReturnType<typeof tempWorkspace>;
    beforeEach(async () => {
      fake = await startFakeAnthropic();
      ws = tempWorkspace({});
    });
    afterEach(async () => {
      await fake.close();
      ws.cleanup();
    });

    it('the runner says it cannot degrade there instead of dropping it silently', async () => {
      writePolicy(ws.folder, {
        workflows: { explain: { degradeModel: 'gemini-2.5-flash' } },
        rules: [{ when: { scope: 'workspace.daily', atLeastPct: 0 }, action: 'degrade' }],
      });
      const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
      try {
        const { events, onEvent } = collectEvents();
        const outcome = await runner.start('explain', { selection: 'let x = 1;' }, { onEvent });
        assert.equal(outcome.status, 'completed', outcome.error);
        const warnings = events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message);
        assert.ok(
          warnings.some((w) =>
            /degradeModel "gemini-2\.5-flash" is not a model of anthropic, which this step runs on \(claude-haiku-4-5\): it cannot degrade/.test(
              w,
            ),
          ),
          warnings.join('\n'),
        );
        // The call ran on the step's own model, through its own provider.
        const [row] = ledgerOf(workspace, outcome.runId);
        assert.deepEqual([row!.provider, row!.model], ['anthropic', 'claude-haiku-4-5']);
      } finally {
        await close();
      }
    });
  });
});
