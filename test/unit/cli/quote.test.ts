// `agent-budget run <wf> --quote` and the user's threshold (AGENT_BUDGET_ASK_ABOVE_USD): a quote before a run, and a
// run whose worst case is above the threshold needing --yes (docs/cli.md).
import assert from 'node:assert/strict';
import { startFakeProviders } from '../../fakes';
import { runCli } from '../../support/cli';
import { prose } from '../../support/prose';
import { tempWorkspace, writePolicy } from '../runner/helpers';

describe('CLI run --quote and --yes', function () {
  this.timeout(30_000);
  let fakes: Awaited<ReturnType<typeof startFakeProviders>>;
  let ws: ReturnType<typeof tempWorkspace>;
  let env: NodeJS.ProcessEnv;
  beforeEach(async () => {
    fakes = await startFakeProviders();
    ws = tempWorkspace({ 'src/app.ts': prose(600, 'app') });
    writePolicy(ws.folder, { limits: { workspace: { dailyUsd: 20 } } });
    env = { ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: fakes.anthropic.baseUrl };
  });
  afterEach(async () => {
    await fakes.close();
    ws.cleanup();
  });

  it('--quote prints the quote and exits without a call; --json gives {workflow, p50Micros, p90Micros, worstMicros, basedOnRuns}', async () => {
    const text = await runCli(['run', 'code-review', '--file', 'src/app.ts', '--quote', '--workspace', ws.folder], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^code-review: no earlier runs of code-review here to go by; at most \$0\.\d+\n$/);
    for (let i = 0; i < 3; i++)
      assert.equal(
        (await runCli(['run', 'code-review', '--file', 'src/app.ts', '--workspace', ws.folder], env)).code,
        0,
      );
    const calls = fakes.anthropic.generationRequests.length;
    const json = await runCli(
      ['run', 'code-review', '--file', 'src/app.ts', '--quote', '--json', '--workspace', ws.folder],
      env,
    );
    assert.equal(json.code, 0, json.stderr);
    const quote = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(quote).sort(), ['basedOnRuns', 'p50Micros', 'p90Micros', 'workflow', 'worstMicros']);
    assert.equal(quote.workflow, 'code-review');
    assert.equal(quote.basedOnRuns, 3);
    assert.ok((quote.p50Micros as number) > 0 && (quote.p50Micros as number) <= (quote.p90Micros as number));
    assert.ok((quote.worstMicros as number) > (quote.p90Micros as number));
    assert.equal(fakes.anthropic.generationRequests.length, calls, 'a quote makes no call');
    // A quote needs no key: it prices, it calls nothing.
    const keyless = await runCli(
      ['run', 'code-review', '--file', 'src/app.ts', '--quote', '--workspace', ws.folder],
      {},
    );
    assert.equal(keyless.code, 0, keyless.stderr);
  });

  it('a worst case above AGENT_BUDGET_ASK_ABOVE_USD needs --yes: exit 1 with the quote, nothing called', async () => {
    const threshold = { ...env, AGENT_BUDGET_ASK_ABOVE_USD: '0.001' };
    const refused = await runCli(['run', 'code-review', '--file', 'src/app.ts', '--workspace', ws.folder], threshold);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /code-review: no earlier runs of code-review here to go by; at most \$0\.\d+ — above your AGENT_BUDGET_ASK_ABOVE_USD of \$0\.0010\. Run it again with --yes/,
    );
    assert.equal(fakes.anthropic.generationRequests.length, 0);
    const asJson = await runCli(
      ['run', 'code-review', '--file', 'src/app.ts', '--json', '--workspace', ws.folder],
      threshold,
    );
    assert.equal(asJson.code, 1);
    assert.match((JSON.parse(asJson.stdout) as { error: string }).error, /above your AGENT_BUDGET_ASK_ABOVE_USD/);
    const yes = await runCli(
      ['run', 'code-review', '--file', 'src/app.ts', '--yes', '--workspace', ws.folder],
      threshold,
    );
    assert.equal(yes.code, 0, yes.stderr);
    assert.equal(fakes.anthropic.generationRequests.length, 1);
    // Under the threshold it just runs, saying the quote on stderr.
    const under = await runCli(['run', 'code-review', '--file', 'src/app.ts', '--workspace', ws.folder], {
      ...env,
      AGENT_BUDGET_ASK_ABOVE_USD: '5',
    });
    assert.equal(under.code, 0, under.stderr);
    assert.match(
      under.stderr,
      /code-review: usually \$0\.\d+ \(p50\) – \$0\.\d+ \(p90\) from your last 1 run of code-review; at most/,
    );
    const bad = await runCli(['run', 'code-review', '--file', 'src/app.ts', '--workspace', ws.folder], {
      ...env,
      AGENT_BUDGET_ASK_ABOVE_USD: 'lots',
    });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /AGENT_BUDGET_ASK_ABOVE_USD must be a dollar amount such as 0\.50, got "lots"/);
  });
});
