import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeProviders } from '../../fakes';
import type { AlertPayload } from '../../../src/core/report/alerts';
import { Workspace } from '../../../src/core/workspace';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';
import { runCli } from '../../support/cli';
import { tempWorkspace, writePolicy } from '../runner/helpers';

type Fakes = Awaited<ReturnType<typeof startFakeProviders>>;

/** A webhook receiver answering each POST with the next status of `answers` (the last one repeats). */
async function hookServer(answers: number[]) {
  const received: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const status = answers[Math.min(received.length, answers.length - 1)]!;
      received.push(body);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('CLI run and resume: alerts, policy warnings, resume hints, progress', function () {
  this.timeout(30_000);
  let fakes: Fakes;
  let ws: ReturnType<typeof tempWorkspace>;
  let env: NodeJS.ProcessEnv;
  beforeEach(async () => {
    fakes = await startFakeProviders();
    ws = tempWorkspace({ 'src/app.ts': 'export const x = 1;\n' });
    env = {
      ANTHROPIC_API_KEY: 'k',
      ANTHROPIC_BASE_URL: fakes.anthropic.baseUrl,
      OPENAI_BASE_URL: fakes.openai.baseUrl,
    };
  });
  afterEach(async () => {
    await fakes.close();
    ws.cleanup();
  });

  it('sends the budget alerts a run fires to alerts.webhookUrl before exiting (retries included), and prints them on stderr', async () => {
    const hook = await hookServer([500, 200]);
    try {
      writePolicy(ws.folder, {
        timeZone: 'UTC',
        limits: { workspace: { dailyUsd: 1 } },
        alerts: { thresholdsPct: [50, 75], webhookUrl: hook.url },
      });
      // Earlier spend today: 499,800 µ$ of the $1 cap. The run's call (300 × $1 + 12 × $5 per MTok = 360 µ$) crosses 50 %.
      const before = await Workspace.open(ws.folder, { pollMs: 0 });
      await before.store.commit([
        {
          k: 'ledger',
          entry: randomEntry(seededRandom(3), Date.now(), {
            workflow: 'explain',
            costMicros: 499_800,
            runId: null,
            taskId: null,
          }),
        },
      ]);
      await before.close();
      fakes.anthropic.enqueue({ text: 'Fine.', usage: { input: 300, output: 12 } });

      // The webhook is budget.json's: alerts go there only with the user's consent (here: the environment's).
      const res = await runCli(['run', 'code-review', '--file', 'src/app.ts', '--workspace', ws.folder, '--json'], {
        ...env,
        AGENT_BUDGET_TRUST_POLICY: '1',
      });
      assert.equal(res.code, 0, res.stderr);
      assert.equal(hook.received.length, 2, 'the 500 was retried before the CLI returned');
      const payload = JSON.parse(hook.received[1]!) as AlertPayload;
      assert.equal(payload.scope, 'workspace.daily');
      assert.equal(payload.pct, 50);
      assert.equal(payload.usedMicros, 500_160);
      assert.match(res.stderr, /^ {2}alert: Agent Budget: workspace\.daily \(\d{4}-\d\d-\d\d\) passed 50% of its cap/m);
      assert.match(res.stderr, /alert webhook http:\/\/127\.0\.0\.1:\d+ failed \(HTTP 500\); retry 1 of 2/);
      assert.doesNotThrow(() => JSON.parse(res.stdout), 'stdout stays one JSON document');
    } finally {
      await hook.close();
    }
  });

  it('prints the warnings of budget.json (a mistyped key is ignored) with file and line', async () => {
    writePolicy(ws.folder, { limits: { task: { maxToolcalls: 5 } } });
    fakes.anthropic.enqueue({ text: 'Fine.' });
    const res = await runCli(['run', 'code-review', '--file', 'src/app.ts', '--workspace', ws.folder], env);
    assert.equal(res.code, 0, res.stderr);
    assert.match(
      res.stderr,
      /budget\.json:4:\d+: warning: .*"maxToolcalls" is ignored \(did you mean "maxToolCalls"\?\)/,
    );
  });

  it('a key missing for a later step: exit 1 with the resume hint; resume continues the run and its total', async () => {
    const two = tempWorkspace({
      '.agent-budget/workflows/two.json': {
        steps: [
          { id: 'draft', prompt: 'Draft {{input}}', model: 'claude-haiku-4-5' },
          { id: 'polish', prompt: 'Polish {{steps.draft.output}}', model: 'gpt-4.1-mini' },
        ],
      },
    });
    try {
      // 10,000 × $1 + 2,000 × $5 per MTok = 20,000 µ$; then 10,000 × $0.40 + 1,000 × $1.60 = 5,600 µ$.
      fakes.anthropic.enqueue({ text: 'draft', usage: { input: 10_000, output: 2_000 } });
      // The default OpenAI endpoint for this part: an OPENAI_BASE_URL on loopback is a local server needing no key.
      const { OPENAI_BASE_URL: _local, ...hosted } = env;
      const failed = await runCli(['run', 'two', '--input', 'notes', '--workspace', two.folder], hosted);
      assert.equal(failed.code, 1, failed.stderr);
      assert.match(failed.stderr, /OPENAI_API_KEY is not set/);
      const hint = /Continue it with: agent-budget resume (\S+)/.exec(failed.stderr);
      assert.ok(hint, failed.stderr);

      fakes.openai.enqueue({ text: 'polished', usage: { input: 10_000, output: 1_000 } });
      const resumed = await runCli(['resume', hint[1]!, '--workspace', two.folder], { ...env, OPENAI_API_KEY: 'k' });
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.match(
        resumed.stderr,
        /gpt-4\.1-mini: 11,000 tokens, \$0\.0056 · run so far \$0\.03\n/,
        'the total goes on from what the run had spent',
      );
      assert.match(resumed.stderr, /■ completed · \$0\.03 /);
    } finally {
      two.cleanup();
    }
  });
});
