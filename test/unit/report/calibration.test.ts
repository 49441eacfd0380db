// Honest estimates: the prompt estimate people see comes from the tokenizer for OpenAI models and from a per-model
// calibration learned from this workspace's calls for the others; it converges on what the provider bills, and a
// new process starts from what earlier runs learned.
import assert from 'node:assert/strict';
import {
  CALIBRATION_WINDOW,
  DEFAULT_LIKELY_OUTPUT,
  PRIOR_FACTOR,
  PromptCalibration,
  readSamples,
} from '../../../src/core/report/calibration';
import { startFakeAnthropic, startFakeGemini, startFakeOpenAI } from '../../fakes';
import { fakeAccess, ledgerOf, openRunner, tempWorkspace, writePolicy } from '../runner/helpers';

function doc(tokens: number, seed: string): string {
  const words: string[] = [];
  for (let i = 0; words.join(' ').length < tokens * 4; i++) words.push(`${seed}${(i * 7919) % 997}`);
  return words.join(' ');
}

describe('PromptCalibration', () => {
  it('OpenAI models take the tokenizer’s count as it is; others start from a prior and learn Σ actual ÷ Σ basis', () => {
    const c = new PromptCalibration();
    assert.deepEqual(c.estimate('openai', 'gpt-4.1-mini', 1_000), { tokens: 1_000, method: 'tokenizer', calls: 0 });
    assert.deepEqual(c.estimate('anthropic', 'claude-x', 1_000), {
      tokens: 1_000 * PRIOR_FACTOR.anthropic,
      method: 'prior',
      calls: 0,
    });
    assert.equal(c.likelyOutput('claude-x'), DEFAULT_LIKELY_OUTPUT);
    c.learn('claude-x', { basis: 1_000, actual: 1_500, output: 300 });
    c.learn('claude-x', { basis: 3_000, actual: 4_500, output: 500 });
    // (6,000 + 1.2 × 200) ÷ (4,000 + 200): the prior weighs one small call's worth.
    const e = c.estimate('anthropic', 'claude-x', 2_000);
    assert.equal(e.method, 'calibrated');
    assert.equal(e.calls, 2);
    assert.equal(e.tokens, Math.round(2_000 * (6_240 / 4_200)));
    assert.equal(c.likelyOutput('claude-x'), 400);
    assert.equal(c.estimate('anthropic', 'claude-y', 1_000).method, 'prior', 'per model');
  });

  it('keeps the last calls only, and reads earlier runs’ samples (hostile ones ignored) newest first', () => {
    const history = [
      {
        'claude-x': { basis: 100, actual: 300, output: 10, calls: 1 },
        bad: { basis: -1, actual: 1, output: 1, calls: 1 },
      },
      'not an object',
      { 'claude-x': { basis: 1_000, actual: 1_000, output: 10, calls: CALIBRATION_WINDOW } },
      { 'claude-x': { basis: 1e9, actual: 1, output: 0, calls: 5 } }, // older than the window holds: never read
    ];
    const c = new PromptCalibration(() => history);
    // Newest run (×3) and the next (×1, 50 calls) fill the window; the oldest does not count.
    assert.equal(c.estimate('anthropic', 'claude-x', 1_100).calls, 1 + CALIBRATION_WINDOW);
    assert.equal(c.estimate('anthropic', 'bad', 100).method, 'prior');
    for (let i = 0; i < CALIBRATION_WINDOW; i++) c.learn('claude-x', { basis: 100, actual: 200, output: 0 });
    assert.equal(c.estimate('anthropic', 'claude-x', 100).tokens, Math.round(100 * ((10_000 + 240) / (5_000 + 200))));
    assert.deepEqual(readSamples({ m: { basis: 1, actual: 2, output: 3, calls: 4 }, n: null, o: [1] }), {
      m: { basis: 1, actual: 2, output: 3, calls: 4 },
    });
  });
});

describe('estimates shown to people', function () {
  this.timeout(60_000);

  it('after a few calls the ledger’s prompt estimate is within ±15 % of what each provider billed; OpenAI’s from the start', async () => {
    const anthropic = await startFakeAnthropic();
    const openai = await startFakeOpenAI();
    const gemini = await startFakeGemini();
    const files: Record<string, string> = {};
    for (let i = 0; i < 6; i++)
      files[`src/f${i}.ts`] = `// file ${i}\n${doc(400 + i * 300, `v${i}`).replace(/ /g, i % 2 ? '\n' : ' ')}`;
    const ws = tempWorkspace(files);
    writePolicy(ws.folder, { caching: 'off' });
    const access = fakeAccess({ anthropic: anthropic.baseUrl, openai: openai.baseUrl, gemini: gemini.baseUrl });
    const errors = (rows: ReturnType<typeof ledgerOf>) =>
      rows.map((r) => {
        const actual = r.usage.input + r.usage.cacheRead + r.usage.cacheWrite5m + r.usage.cacheWrite1h;
        return Math.abs(r.estimatedInputTokens! - actual) / actual;
      });
    try {
      for (const model of ['claude-sonnet-5', 'gemini-2.5-flash', 'gpt-4.1-mini']) {
        const { runner, workspace, close } = await openRunner(ws.folder, access);
        try {
          const runs: string[] = [];
          for (let i = 0; i < 6; i++) runs.push((await runner.start('explain', { file: `src/f${i}.ts`, model })).runId);
          const errs = runs.map((id) => errors(ledgerOf(workspace, id))[0]!);
          if (model.startsWith('gpt'))
            assert.ok(
              errs.every((e) => e <= 0.02),
              `${model}: ${errs.join(', ')}`,
            );
          // The first call goes by the prior; from the third on the calibration has learned this model.
          for (const e of errs.slice(2))
            assert.ok(e <= 0.15, `${model}: errors ${errs.map((x) => x.toFixed(3)).join(', ')}`);
        } finally {
          await close();
        }
      }
      // A new process (a new runner over the same store) starts calibrated from the runs' samples.
      const { runner, workspace, close } = await openRunner(ws.folder, access);
      try {
        const run = await runner.start('explain', { file: 'src/f5.ts', model: 'claude-sonnet-5' });
        assert.ok(errors(ledgerOf(workspace, run.runId))[0]! <= 0.15);
        const data = workspace.store.queries.getRun(run.runId)!.data as { prompts?: Record<string, { calls: number }> };
        assert.equal(data.prompts?.['claude-sonnet-5']?.calls, 1, 'each run keeps its samples');
      } finally {
        await close();
      }
    } finally {
      await anthropic.close();
      await openai.close();
      await gemini.close();
      ws.cleanup();
    }
  });
});
