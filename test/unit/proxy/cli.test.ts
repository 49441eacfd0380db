import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Workspace } from '../../../src/core/workspace';
import { startFakeProviders } from '../../fakes';
import { runCli } from '../../support/cli';
import { RATES, startHarness, type Harness } from './harness';

const ROOT = path.resolve(__dirname, '../../..');

describe('CLI: agent-budget proxy', function () {
  this.timeout(60_000);
  let root: string;
  let folder: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'ab-proxy-cli-'));
    folder = path.join(root, 'ws');
    mkdirSync(path.join(folder, '.agent-budget'), { recursive: true });
    writeFileSync(
      path.join(folder, '.agent-budget', 'budget.json'),
      JSON.stringify({ timeZone: 'UTC', prices: RATES, limits: { workspace: { dailyUsd: 10 } } }),
    );
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('proxy token create / list / revoke (--json as docs/cli.md; the token is printed once)', async () => {
    const created = await runCli([
      'proxy',
      'token',
      'create',
      '--name',
      'ci',
      '--daily-usd',
      '2',
      '--json',
      '--workspace',
      folder,
    ]);
    assert.equal(created.code, 0, created.stderr);
    const { name, token } = JSON.parse(created.stdout) as { name: string; token: string };
    assert.equal(name, 'ci');
    assert.match(token, /^abp_[A-Za-z0-9_-]{43}$/);
    const list = await runCli(['proxy', 'token', 'list', '--json', '--workspace', folder]);
    const clients = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(Object.keys(clients[0]!).sort(), ['createdAt', 'dailyUsd', 'monthlyUsd', 'name']);
    assert.deepEqual([clients[0]!.name, clients[0]!.dailyUsd, clients[0]!.monthlyUsd], ['ci', 2, null]);
    assert.ok(!list.stdout.includes(token));
    const text = await runCli(['proxy', 'token', 'list', '--workspace', folder]);
    assert.match(text.stdout, /^CLIENT\s+CREATED\s+DAILY\s+MONTHLY\nci\s+\S+ \S+\s+\$2\s+—\n$/);
    const again = await runCli(['proxy', 'token', 'create', '--name', 'ci', '--workspace', folder]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already has a token/);
    const revoked = await runCli(['proxy', 'token', 'revoke', 'ci', '--json', '--workspace', folder]);
    assert.deepEqual(JSON.parse(revoked.stdout), { name: 'ci', revoked: true });
    const missing = await runCli(['proxy', 'token', 'revoke', 'ci', '--workspace', folder]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no client named "ci"/);
    const bad = await runCli([
      'proxy',
      'token',
      'create',
      '--name',
      'x',
      '--monthly-usd',
      'lots',
      '--workspace',
      folder,
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--monthly-usd must be a positive amount in USD/);
  });

  it('serves until Ctrl+C: prints the lines to use, meters a call, lets the call in flight finish, exits 0', async () => {
    const fakes = await startFakeProviders({ anthropic: { apiKey: 'sk-ant-real' } });
    const created = await runCli(['proxy', 'token', 'create', '--name', 'term', '--json', '--workspace', folder]);
    const { token } = JSON.parse(created.stdout) as { token: string };
    let child: ChildProcess | undefined;
    try {
      child = spawn(
        process.execPath,
        ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'proxy', '--port', '0', '--workspace', folder],
        {
          cwd: ROOT,
          env: {
            PATH: process.env.PATH,
            // This test run's own state root and user policy (test/support/isolatedUser.mjs).
            AGENT_BUDGET_STATE_HOME: process.env.AGENT_BUDGET_STATE_HOME,
            AGENT_BUDGET_USER_POLICY: process.env.AGENT_BUDGET_USER_POLICY,
            ANTHROPIC_API_KEY: 'sk-ant-real',
            ANTHROPIC_BASE_URL: fakes.anthropic.baseUrl,
            OPENAI_API_KEY: `abp_${'x'.repeat(43)}`, // another proxy's token: that upstream is refused
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
      for (let i = 0; i < 300 && !stdout.includes('Ctrl+C stops it.'); i++) await new Promise((r) => setTimeout(r, 50));
      const url = /Agent Budget proxy on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1];
      assert.ok(url, `banner: ${stdout}\n${stderr}`);
      assert.ok(stdout.includes(`ANTHROPIC_BASE_URL=${url}\n`));
      assert.ok(stdout.includes(`OPENAI_BASE_URL=${url}/v1\n`));
      assert.ok(stdout.includes(`GOOGLE_GEMINI_BASE_URL=${url}\n`));
      assert.match(stdout, /OpenAI\s+→ unavailable: .*OPENAI_API_KEY holds an Agent Budget proxy token/);
      assert.match(stdout, /Gemini\s+→ unavailable: .*set GEMINI_API_KEY/);

      // A slow stream is in flight when Ctrl+C arrives: it finishes, and is settled from its usage.
      fakes.anthropic.enqueue({ text: 'a'.repeat(240), usage: { input: 50, output: 60 }, eventDelayMs: 40 });
      const client = new Anthropic({ baseURL: url, apiKey: token, maxRetries: 0 });
      const stream = client.messages.stream({
        model: 'claude-haiku-4-5',
        max_tokens: 200,
        messages: [{ role: 'user', content: 'Slowly.' }],
      });
      await new Promise<void>((resolve) => stream.on('text', () => resolve()));
      child.kill('SIGINT');
      const final = await stream.finalMessage();
      assert.equal(final.usage.output_tokens, 60);
      assert.equal(await exited, 0, stderr);
      assert.match(stderr, /term anthropic claude-haiku-4-5: \$0\.000[34]\n/);
      assert.match(stderr, /Stopped\. Every call is on the ledger\./);
      const workspace = await Workspace.open(folder, { pollMs: 0 });
      try {
        const rows = [...workspace.store.queries.ledgerRows(0, Number.MAX_SAFE_INTEGER)].flat();
        assert.deepEqual(
          rows.map((r) => [r.client, r.costMicros, r.estimated]),
          [['term', 50 * 1 + 60 * 5, false]],
        );
      } finally {
        await workspace.close();
      }
    } finally {
      child?.kill('SIGKILL');
      await fakes.close();
    }
  });
});

describe('read API: /agent-budget/v1/ serves the CLI --json documents', function () {
  this.timeout(60_000);
  let h: Harness;
  beforeEach(async () => (h = await startHarness({ caps: { dailyUsd: 3 } })));
  afterEach(async () => h.close());

  const api = async (resource: string, token = h.token) => {
    const res = await fetch(`${h.proxy.url}/agent-budget/v1/${resource}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: res.status, body: (await res.json()) as unknown };
  };

  it('status, report and runs equal agent-budget status|report|runs --json, spend by client included', async () => {
    h.fakes.anthropic.enqueue({ text: 'ok', usage: { input: 100, output: 20 } });
    await h.anthropic.messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'x' }],
    });
    await h.calls(1);
    const cli = async (args: string[]) =>
      JSON.parse((await runCli([...args, '--json', '--workspace', h.folder])).stdout) as unknown;

    const status = await api('status');
    assert.equal(status.status, 200);
    assert.deepEqual(status.body, await cli(['status']));
    const scopes = (status.body as { scopes: Array<{ scope: string; usedMicros: number; limitMicros: number }> })
      .scopes;
    const mine = scopes.find((s) => s.scope === 'client.test-client.daily');
    assert.deepEqual([mine?.usedMicros, mine?.limitMicros], [100 + 20 * 5, 3_000_000]);

    const month = new Date().toISOString().slice(0, 7);
    const report = await api(`report?month=${month}`);
    const fromCli = (await cli(['report', '--month', month])) as Record<string, unknown>;
    const strip = (r: unknown) => ({ ...(r as Record<string, unknown>), generatedAt: null, forecast: null });
    assert.deepEqual(strip(report.body), strip(fromCli));
    const byClient = (report.body as { byClient: Array<{ key: string; micros: number; calls: number }> }).byClient;
    assert.deepEqual(
      byClient.map((r) => [r.key, r.micros, r.calls]),
      [['test-client', 200, 1]],
    );

    const runs = await api('runs?status=completed&limit=5');
    assert.deepEqual(runs.body, await cli(['runs', '--status', 'completed', '--limit', '5']));
  });

  it('needs a token, and says what is wrong with a parameter (400 {error})', async () => {
    assert.equal((await api('status', 'abp_nope')).status, 401);
    const bad = await api('report?month=2026-13');
    assert.equal(bad.status, 400);
    assert.match((bad.body as { error: string }).error, /is not a month/);
    const runs = await api('runs?status=sleeping');
    assert.equal(runs.status, 400);
    assert.match((runs.body as { error: string }).error, /unknown status "sleeping"/);
  });
});
