import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startFakeProviders, type FakeReply } from '../../fakes';
import { DEFAULT_MODELS } from '../../../src/core/runner/builtins';
import type { ProviderId } from '../../../src/core/usage';
import { runCli } from '../../support/cli';
import { tempWorkspace, writePolicy } from './helpers';

type Fakes = Awaited<ReturnType<typeof startFakeProviders>>;

const APP = `export const greeting = "hello";\n\nexport function greet(name: string): string {\n  return \`\${greeting}, \${name}\`;\n}\n`;

/** Keys and base URLs for the given providers only (so a workflow with no model runs on that provider). */
function envFor(fakes: Fakes, providers: ProviderId[], key = 'test-key'): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ANTHROPIC_BASE_URL: fakes.anthropic.baseUrl,
    OPENAI_BASE_URL: fakes.openai.baseUrl,
    GEMINI_BASE_URL: fakes.gemini.baseUrl,
  };
  for (const p of providers)
    env[{ anthropic: 'ANTHROPIC_API_KEY', openai: 'OPENAI_API_KEY', gemini: 'GEMINI_API_KEY' }[p]] = key;
  return env;
}

function json<T = Record<string, unknown>>(stdout: string): T {
  return JSON.parse(stdout) as T;
}

describe('CLI: run, resume, runs', function () {
  this.timeout(60_000);
  let fakes: Fakes;
  let ws: ReturnType<typeof tempWorkspace>;
  beforeEach(async () => {
    fakes = await startFakeProviders();
    ws = tempWorkspace({ 'src/app.ts': APP, 'README.md': '# Greeter\nSays hello.\n' });
  });
  afterEach(async () => {
    await fakes.close();
    ws.cleanup();
  });

  describe('every built-in workflow on every provider', () => {
    const cases: Array<{ workflow: string; args: string[]; calls: number; script?: (p: ProviderId) => FakeReply[] }> = [
      { workflow: 'code-review', args: ['--file', 'src/app.ts'], calls: 1 },
      { workflow: 'explain', args: ['--file', 'src/app.ts', '--input', 'Why a template string?'], calls: 1 },
      { workflow: 'test-gen', args: ['--file', 'src/app.ts'], calls: 2 },
      {
        workflow: 'draft-requirements',
        args: ['--input', 'Users want a greeting in their own language; admins set the default.'],
        calls: 2,
      },
      {
        workflow: 'research',
        args: ['--input', 'How is the greeting built?'],
        // plan, sub-agent 1 (a search, then its findings), sub-agent 2, outline, write, review
        calls: 7,
        script: () => [
          { text: '1. Where is the greeting defined?\n2. Who formats it?' },
          { toolCalls: [{ name: 'searchText', input: { query: 'greeting' } }] },
          { text: 'greeting is defined in src/app.ts:1.' },
          { text: 'greet formats it in src/app.ts:4.' },
        ],
      },
    ];
    for (const provider of ['anthropic', 'openai', 'gemini'] as const) {
      for (const c of cases) {
        it(`${c.workflow} on ${provider}`, async () => {
          const fake = fakes[provider];
          if (c.script) fake.enqueue(...c.script(provider));
          const res = await runCli(
            ['run', c.workflow, ...c.args, '--workspace', ws.folder, '--json'],
            envFor(fakes, [provider]),
          );
          assert.equal(res.code, 0, res.stderr);
          const out = json<{
            status: string;
            workflow: string;
            costMicros: number;
            steps: Array<{ status: string; costMicros: number }>;
            output: string;
          }>(res.stdout);
          assert.equal(out.status, 'completed');
          assert.equal(out.workflow, c.workflow);
          assert.ok(out.costMicros > 0);
          assert.ok(out.steps.every((s) => s.status === 'completed' && s.costMicros > 0));
          assert.ok(out.output.length > 0);
          const requests = fake.generationRequests;
          assert.equal(requests.length, c.calls);
          for (const r of requests) {
            const model = (r.body as { model?: string }).model ?? r.path;
            assert.ok(String(model).includes(DEFAULT_MODELS[provider]), `${provider} got ${model}`);
          }
          if (c.workflow === 'code-review')
            assert.match(JSON.stringify(requests[0]!.body), /return `\$\{greeting\}, \$\{name\}`/);
          if (c.workflow === 'research') {
            // The two sub-agents run concurrently (concurrency 2): the one that searched gets its result back.
            assert.ok(
              requests.some((r) => /src\/app\.ts:1: export const greeting/.test(JSON.stringify(r.body))),
              'the search result went back to the model',
            );
            assert.match(res.stderr, /searchText "greeting"/);
          }
          for (const other of (['anthropic', 'openai', 'gemini'] as const).filter((p) => p !== provider)) {
            assert.equal(fakes[other].generationRequests.length, 0);
          }
        });
      }
    }
  });

  it('prints progress and streamed text on stderr and the result on stdout', async () => {
    fakes.anthropic.enqueue({ text: '**Looks good** — nothing to change.', usage: { input: 300, output: 12 } });
    const res = await runCli(
      ['run', 'code-review', '--file', 'src/app.ts', '--workspace', ws.folder],
      envFor(fakes, ['anthropic']),
    );
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, '**Looks good** — nothing to change.\n');
    assert.match(res.stderr, /▸ Review src\/app\.ts — run \S{10} \(code-review\)/);
    assert.match(res.stderr, /▸ step review \(claude-haiku-4-5\)/);
    assert.match(res.stderr, /\*\*Looks good\*\* — nothing to change\./);
    assert.match(res.stderr, /claude-haiku-4-5: 312 tokens, \$0\.\d{4} · run so far \$0\.\d{4}/);
    assert.match(res.stderr, /■ completed · \$0\.\d{4} · 312 tokens · run \S{10}/);
  });

  it('a missing key is exit 1 naming the variable, and records no run', async () => {
    const noKeys = await runCli(
      ['run', 'code-review', '--file', 'src/app.ts', '--workspace', ws.folder],
      envFor(fakes, []),
    );
    assert.equal(noKeys.code, 1);
    assert.match(noKeys.stderr, /ANTHROPIC_API_KEY is not set/);
    // The default endpoint: an OPENAI_BASE_URL on loopback would be a local server, which needs no key.
    const { OPENAI_BASE_URL: _local, ...hosted } = envFor(fakes, ['anthropic']);
    const openai = await runCli(
      ['run', 'explain', '--file', 'src/app.ts', '--model', 'gpt-4.1-mini', '--workspace', ws.folder],
      hosted,
    );
    assert.equal(openai.code, 1);
    assert.match(openai.stderr, /OPENAI_API_KEY is not set/);
    const runs = await runCli(['runs', '--workspace', ws.folder, '--json']);
    assert.deepEqual(json(runs.stdout), []);
    assert.equal(fakes.anthropic.requests.length + fakes.openai.requests.length, 0);
  });

  it('a hard task limit: run exits 2 (blocked); after raising it, resume <prefix> finishes (exit 0)', async () => {
    writePolicy(ws.folder, { limits: { task: { hardTokens: 200 } } });
    const blocked = await runCli(
      ['run', 'code-review', '--file', 'src/app.ts', '--workspace', ws.folder, '--json'],
      envFor(fakes, ['anthropic']),
    );
    assert.equal(blocked.code, 2, blocked.stderr);
    const out = json<{ runId: string; status: string; blockedScope: string; error: string }>(blocked.stdout);
    assert.equal(out.status, 'blocked');
    assert.equal(out.blockedScope, 'task');
    assert.match(out.error, /hardTokens/);
    assert.equal(fakes.anthropic.generationRequests.length, 0);

    writePolicy(ws.folder, { limits: { task: { hardTokens: 20000 } } });
    fakes.anthropic.enqueue({ text: 'Looks good.' });
    const resumed = await runCli(
      ['resume', out.runId.slice(0, 10), '--workspace', ws.folder, '--json'],
      envFor(fakes, ['anthropic']),
    );
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(json<{ status: string; runId: string }>(resumed.stdout).status, 'completed');
    assert.equal(json<{ runId: string }>(resumed.stdout).runId, out.runId);

    const again = await runCli(['resume', out.runId, '--workspace', ws.folder], envFor(fakes, ['anthropic']));
    assert.equal(again.code, 0, 'resuming a completed run is a no-op');
    assert.equal(fakes.anthropic.generationRequests.length, 1);
  });

  it("runs lists newest first, filters by status, and has the contract's JSON shape", async () => {
    fakes.anthropic.enqueue({ text: 'one' }, { type: 'error', status: 401 });
    assert.equal(
      (
        await runCli(
          ['run', 'code-review', '--file', 'src/app.ts', '--workspace', ws.folder],
          envFor(fakes, ['anthropic']),
        )
      ).code,
      0,
    );
    const failed = await runCli(
      ['run', 'explain', '--file', 'src/app.ts', '--workspace', ws.folder],
      envFor(fakes, ['anthropic']),
    );
    assert.equal(failed.code, 4, 'an authentication failure is exit 4');
    const all = json<Array<Record<string, unknown>>>(
      (await runCli(['runs', '--workspace', ws.folder, '--json'])).stdout,
    );
    assert.deepEqual(
      all.map((r) => [r.workflow, r.status]),
      [
        ['explain', 'failed'],
        ['code-review', 'completed'],
      ],
    );
    assert.deepEqual(Object.keys(all[0]!).sort(), [
      'costMicros',
      'createdAt',
      'runId',
      'status',
      'title',
      'updatedAt',
      'workflow',
    ]);
    assert.match(String(all[0]!.createdAt), /^\d{4}-\d\d-\d\dT/);
    const done = json<unknown[]>(
      (await runCli(['runs', '--status', 'completed', '--workspace', ws.folder, '--json'])).stdout,
    );
    assert.equal(done.length, 1);
    const table = await runCli(['runs', '--workspace', ws.folder]);
    assert.match(table.stdout, /^RUN\s+STATUS\s+WORKFLOW\s+COST\s+UPDATED\s+TITLE\n/);
    assert.match(table.stdout, /completed\s+code-review\s+\$\S+\s+\S+ \S+\s+Review src\/app\.ts/);
    const bad = await runCli(['runs', '--status', 'done', '--workspace', ws.folder]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unknown status "done"/);
  });

  it('usage, policy and workflow errors are exit 1 with a located message', async () => {
    const unknown = await runCli(['run', 'no-such', '--workspace', ws.folder], envFor(fakes, ['anthropic']));
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no workflow "no-such".*code-review, explain, test-gen, draft-requirements, research/);
    const noInput = await runCli(['run', 'code-review', '--workspace', ws.folder], envFor(fakes, ['anthropic']));
    assert.equal(noInput.code, 1);
    assert.match(noInput.stderr, /needs input/);
    const missingFile = await runCli(
      ['run', 'code-review', '--file', 'nope.ts', '--workspace', ws.folder],
      envFor(fakes, ['anthropic']),
    );
    assert.equal(missingFile.code, 1);
    assert.match(missingFile.stderr, /Cannot read the file/);

    const wf = tempWorkspace({
      '.agent-budget/workflows/broken.json': '{ "steps": [ { "id": "a", "prompt": "{{steps.b.output}}" } ] }',
    });
    try {
      const broken = await runCli(
        ['run', 'broken', '--input', 'x', '--workspace', wf.folder],
        envFor(fakes, ['anthropic']),
      );
      assert.equal(broken.code, 1);
      assert.match(broken.stderr, /broken\.json:1:\d+: steps\[0\]\.prompt: \{\{steps\.b\.output\}\} refers to no step/);
    } finally {
      wf.cleanup();
    }
    writePolicy(ws.folder, { limits: { task: { hardTokens: '12k' } } });
    const policy = await runCli(
      ['run', 'code-review', '--file', 'src/app.ts', '--workspace', ws.folder],
      envFor(fakes, ['anthropic']),
    );
    assert.equal(policy.code, 1);
    assert.match(policy.stderr, /budget\.json:\d+:\d+: limits\.task\.hardTokens/);
    const ambiguous = await runCli(['resume', '-', '--workspace', ws.folder]);
    assert.equal(ambiguous.code, 1);
  });

  it('writing tools: refused with a message unless the policy allows them', async () => {
    const writer = tempWorkspace({
      '.agent-budget/workflows/scribe.json': {
        model: 'claude-haiku-4-5',
        steps: [{ id: 'write', prompt: 'Write notes about {{input}}', tools: ['writeFile'] }],
      },
    });
    try {
      const script = () =>
        fakes.anthropic.enqueue(
          { toolCalls: [{ name: 'writeFile', input: { path: 'NOTES.md', content: 'notes\n' } }] },
          { text: 'done' },
        );
      script();
      const refused = await runCli(
        ['run', 'scribe', '--input', 'x', '--workspace', writer.folder],
        envFor(fakes, ['anthropic']),
      );
      assert.equal(refused.code, 0, refused.stderr);
      assert.match(
        refused.stderr,
        /refused writeFile NOTES\.md .*the CLI does not ask for approval.*add "writeFile" to tools\.allow/s,
      );
      assert.throws(() => readFileSync(path.join(writer.folder, 'NOTES.md')));

      writePolicy(writer.folder, { tools: { allow: ['writeFile'] } });
      script();
      const ignored = await runCli(
        ['run', 'scribe', '--input', 'x', '--workspace', writer.folder],
        envFor(fakes, ['anthropic']),
      );
      assert.equal(ignored.code, 0, ignored.stderr);
      assert.match(
        ignored.stderr,
        /ignoring what .*budget\.json loosens.*\n {2}tools\.allow: writeFile writes files without asking you/,
      );
      assert.match(ignored.stderr, /refused writeFile NOTES\.md/, "allowing a writing tool is the user's decision");
      assert.throws(() => readFileSync(path.join(writer.folder, 'NOTES.md')));

      script();
      const allowed = await runCli(
        ['run', 'scribe', '--input', 'x', '--workspace', writer.folder, '--trust-policy'],
        envFor(fakes, ['anthropic']),
      );
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.equal(readFileSync(path.join(writer.folder, 'NOTES.md'), 'utf8'), 'notes\n');
    } finally {
      writer.cleanup();
    }
  });
});
