// An OpenAI-compatible local server (Ollama, LM Studio, vLLM) that ignores stream_options.include_usage: the answer
// is kept, the call is charged at its reservation marked estimated (spend is never under-counted), and the user is
// told why the cost is an estimate.
import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI, type Running } from '../../fakes';
import { collectEvents, fakeAccess, ledgerOf, openRunner, tempWorkspace } from './helpers';

describe('Runner: a provider that reports no usage', function () {
  this.timeout(20_000);
  let fake: Running<FakeOpenAI>;
  let ws: ReturnType<typeof tempWorkspace>;
  beforeEach(async () => {
    fake = await startFakeOpenAI();
    ws = tempWorkspace({
      '.agent-budget/workflows/local.json': {
        id: 'local',
        provider: 'openai',
        model: 'gpt-5-mini',
        steps: [{ id: 'answer', prompt: 'Answer {{input}}', maxOutputTokens: 200 }],
      },
    });
  });
  afterEach(async () => {
    await fake.close();
    ws.cleanup();
  });

  it('completes with the answer, charges the reservation as estimated, and warns', async () => {
    fake.enqueue({ text: 'A local answer.', usage: { input: 30, output: 5 }, omitUsage: true });
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ openai: fake.baseUrl }));
    try {
      const { events, onEvent } = collectEvents();
      const outcome = await runner.start('local', { input: 'hello' }, { onEvent });
      assert.equal(outcome.status, 'completed', outcome.error);
      assert.equal(outcome.output, 'A local answer.');
      const [row] = ledgerOf(workspace, outcome.runId);
      assert.ok(row?.estimated, 'charged as estimated');
      assert.equal(row.costMicros, row.reservedMicros, 'at its reservation');
      const warnings = events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message);
      assert.ok(
        warnings.some((w) => /^answer: .*usage/i.test(w)),
        warnings.join('\n'),
      );
    } finally {
      await close();
    }
  });
});
