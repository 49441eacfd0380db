import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startFakeAnthropic, type FakeAnthropic, type Running } from '../../fakes';
import type { RunnerWorkflow } from '../../../src/core/runner/builtins';
import { globToRegExp, matchesGlob } from '../../../src/core/runner/glob';
import { WorkspaceTools } from '../../../src/core/runner/tools';
import { ToolError } from '../../../src/core/runner/toolSpecs';
import { itWhere, processTrees, symbolicLinks } from '../../support/platform';
import { collectEvents, fakeAccess, ledgerOf, openRunner, ScriptedApprover, writePolicy } from './helpers';

async function refused(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ToolError, `expected a ToolError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('Workspace tools', function () {
  this.timeout(20_000);
  let root: string;
  let folder: string;
  let outside: string;
  let tools: WorkspaceTools;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'ab-tools-'));
    folder = path.join(root, 'ws');
    outside = path.join(root, 'secret');
    mkdirSync(path.join(folder, 'src', 'lib'), { recursive: true });
    mkdirSync(path.join(folder, '.git'), { recursive: true });
    mkdirSync(path.join(folder, '.agent-budget'), { recursive: true });
    mkdirSync(outside, { recursive: true });
    writeFileSync(path.join(outside, 'key.txt'), 'TOP SECRET');
    writeFileSync(path.join(folder, 'README.md'), '# Demo\nHello world\n');
    writeFileSync(path.join(folder, 'src', 'app.ts'), 'export const greeting = "hello";\nconsole.log(greeting);\n');
    writeFileSync(
      path.join(folder, 'src', 'lib', 'util.ts'),
      'export function add(a: number, b: number) {\n  return a + b; // hello\n}\n',
    );
    writeFileSync(path.join(folder, '.git', 'config'), '[core]\n');
    if (symbolicLinks.holds) {
      symlinkSync(path.join(outside, 'key.txt'), path.join(folder, 'leak.txt'));
      symlinkSync(outside, path.join(folder, 'leakdir'));
      symlinkSync(path.join(folder, 'src', 'app.ts'), path.join(folder, 'alias.ts'));
      symlinkSync(path.join(outside, 'nothing-yet.txt'), path.join(folder, 'dangling.txt'));
    }
    tools = new WorkspaceTools(folder, { limits: { commandTimeoutMs: 1_000, commandOutputBytes: 200 } });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const run = async (name: string, input: unknown) => (await tools.plan(name, input)).execute();
  const nothingCreatedOutside = () => {
    assert.equal(readFileSync(path.join(outside, 'key.txt'), 'utf8'), 'TOP SECRET');
    assert.deepEqual(readdirSync(outside).sort(), ['key.txt'], 'nothing was created outside');
  };

  describe('confinement', () => {
    it('refuses ../ paths and absolute paths outside — for reading and writing', async () => {
      await refused(run('readFile', { path: '../secret/key.txt' }), /outside the workspace folder/);
      await refused(run('readFile', { path: 'src/../../secret/key.txt' }), /outside the workspace folder/);
      await refused(run('readFile', { path: path.join(outside, 'key.txt') }), /outside the workspace folder/);
      await refused(run('readFile', { path: '/etc/passwd' }), /outside the workspace folder/);
      await refused(tools.plan('writeFile', { path: '../evil.txt', content: 'x' }), /outside/);
      await refused(tools.plan('editFile', { path: '../secret/key.txt', oldText: 'TOP', newText: 'x' }), /outside/);
      nothingCreatedOutside();
    });

    itWhere(symbolicLinks, 'refuses symbolic links that lead outside — for reading, writing and search', async () => {
      await refused(run('readFile', { path: 'leak.txt' }), /symbolic link/);
      await refused(run('readFile', { path: 'leakdir/key.txt' }), /symbolic link/);
      await refused(tools.plan('writeFile', { path: 'leakdir/new.txt', content: 'x' }), /symbolic link/);
      await refused(tools.plan('writeFile', { path: 'leak.txt', content: 'x' }), /symbolic link/);
      await refused(
        tools.plan('writeFile', { path: 'dangling.txt', content: 'x' }),
        /symbolic link whose target does not exist/,
      );
      await refused(tools.plan('editFile', { path: 'leak.txt', oldText: 'TOP', newText: 'x' }), /symbolic link/);
      assert.doesNotMatch(
        await run('searchText', { query: 'SECRET' }),
        /TOP SECRET/,
        'search does not follow links outside',
      );
      nothingCreatedOutside();
    });

    it('allows absolute paths inside', async () => {
      assert.match(await run('readFile', { path: path.join(folder, 'README.md') }), /Hello world/);
      assert.match(await run('readFile', { path: './src/../README.md' }), /Demo/);
    });

    itWhere(symbolicLinks, 'allows links that stay inside', async () => {
      assert.match(await run('readFile', { path: 'alias.ts' }), /greeting/);
    });

    const credentials = () => {
      writeFileSync(
        path.join(folder, '.git', 'config'),
        '[remote "origin"]\n  url = https://user:ghp_TOKEN@github.com/o/r\n',
      );
      writeFileSync(path.join(folder, '.git-credentials'), 'https://user:ghp_TOKEN@github.com\n');
    };

    it('refuses reads of .git/ and of git credential stores; search skips them', async () => {
      credentials();
      await refused(run('readFile', { path: '.git/config' }), /may hold credentials/);
      await refused(run('readFile', { path: '.git-credentials' }), /may hold credentials/);
      assert.equal(await run('searchText', { query: 'ghp_TOKEN' }), 'No matches.');
      assert.match(await run('readFile', { path: 'README.md' }), /Hello world/, 'other dot-less files stay readable');
    });

    itWhere(symbolicLinks, 'refuses reads of git credential stores through links', async () => {
      credentials();
      symlinkSync(path.join(folder, '.git', 'config'), path.join(folder, 'gitconfig-link'));
      await refused(run('readFile', { path: 'gitconfig-link' }), /may hold credentials/);
      assert.equal(await run('searchText', { query: 'ghp_TOKEN' }), 'No matches.');
    });

    it('refuses writes into .git/ and the state folder', async () => {
      await refused(
        tools.plan('writeFile', { path: '.git/hooks/pre-commit', content: 'x' }),
        /\.git\/, which agents may not change/,
      );
      await refused(
        tools.plan('writeFile', { path: '.agent-budget/budget.json', content: '{}' }),
        /\.agent-budget\/, which agents may not change/,
      );
      await refused(tools.plan('editFile', { path: '.git/config', oldText: 'core', newText: 'x' }), /may not change/);
      const elsewhere = new WorkspaceTools(folder, { stateDir: path.join(folder, 'state') });
      await refused(
        elsewhere.plan('writeFile', { path: 'state/journal-000001.log', content: 'x' }),
        /inside Agent Budget's state folder, which agents may not use/,
      );
      await refused(elsewhere.plan('readFile', { path: 'state/journal-000001.log' }), /state folder/);
    });

    it('protected names are compared as file systems compare them: case, trailing dots, invisible characters', async () => {
      mkdirSync(path.join(folder, '.github', 'workflows'), { recursive: true });
      mkdirSync(path.join(folder, 'sub'), { recursive: true });
      for (const p of [
        '.GIT/hooks/pre-commit',
        '.Git./config',
        '.git /config',
        '.g\u200cit/config',
        '.VSCode/tasks.json',
        'sub/.vscode/settings.json',
        '.github/Workflows/ci.yml',
        '.GitHub/workflows/release.yml',
        '.husky/pre-commit',
        '.envrc',
        'sub/.ENVRC',
        '.git-credentials',
        '.Agent-Budget/budget.json',
        'src/../.git/config',
      ])
        await refused(tools.plan('writeFile', { path: p, content: 'x' }), /which agents may not change/);
      for (const p of ['.GIT/config', '.Git-Credentials'])
        await refused(tools.plan('readFile', { path: p }), /may hold credentials/);
      // Names that only look alike stay usable.
      await run('writeFile', { path: '.github/CODEOWNERS', content: '* @me\n' });
      await run('writeFile', { path: 'src/.gitignore-notes.md', content: 'x' });
      assert.match(await run('readFile', { path: '.github/CODEOWNERS' }), /@me/);
    });

    itWhere(
      symbolicLinks,
      'a write is checked again when it runs: a link swapped in after approval is refused, nothing outside changes',
      async () => {
        // An existing file replaced by a link to a file outside, between the plan (the diff) and the approval.
        const edit = await tools.plan('writeFile', { path: 'src/app.ts', content: 'overwritten' });
        rmSync(path.join(folder, 'src', 'app.ts'));
        symlinkSync(path.join(outside, 'key.txt'), path.join(folder, 'src', 'app.ts'));
        await refused(edit.execute(), /symbolic link|changed since it was approved/);
        // A new file whose folder becomes a link to a folder outside.
        const create = await tools.plan('writeFile', { path: 'src/lib/new.ts', content: 'planted' });
        rmSync(path.join(folder, 'src', 'lib'), { recursive: true });
        symlinkSync(outside, path.join(folder, 'src', 'lib'));
        await refused(create.execute(), /outside the workspace folder through a symbolic link|changed since/);
        // An edit whose file became a link to a file inside the workspace is not followed either.
        writeFileSync(path.join(folder, 'notes.txt'), 'alpha\n');
        const inside = await tools.plan('editFile', { path: 'notes.txt', oldText: 'alpha', newText: 'beta' });
        rmSync(path.join(folder, 'notes.txt'));
        symlinkSync(path.join(folder, 'README.md'), path.join(folder, 'notes.txt'));
        await refused(inside.execute(), /changed since it was approved/);
        assert.equal(readFileSync(path.join(folder, 'README.md'), 'utf8'), '# Demo\nHello world\n');
        assert.equal(readFileSync(path.join(outside, 'key.txt'), 'utf8'), 'TOP SECRET');
        assert.deepEqual(readdirSync(outside).sort(), ['key.txt']);
      },
    );

    it('a write is checked again when it runs: a file created or removed after approval is left as it is', async () => {
      const gone = await tools.plan('writeFile', { path: 'src/app.ts', content: 'overwritten' });
      rmSync(path.join(folder, 'src', 'app.ts'));
      await refused(gone.execute(), /removed meanwhile/);
      assert.ok(!readdirSync(path.join(folder, 'src')).includes('app.ts'), 'not written back');
      // A file created by someone else after approving "new file" is not overwritten.
      const fresh = await tools.plan('writeFile', { path: 'fresh.txt', content: 'agent' });
      writeFileSync(path.join(folder, 'fresh.txt'), 'user');
      await refused(fresh.execute(), /was created meanwhile/);
      assert.equal(readFileSync(path.join(folder, 'fresh.txt'), 'utf8'), 'user');
    });

    it('before approval a file is read at most previewBytes: a huge file is summarised, not read whole', async () => {
      const small = new WorkspaceTools(folder, { limits: { previewBytes: 100 } });
      writeFileSync(path.join(folder, 'big.log'), 'x'.repeat(101));
      writeFileSync(path.join(folder, 'ok.txt'), 'y'.repeat(100));
      const overwrite = await small.plan('writeFile', { path: 'big.log', content: 'short' });
      assert.equal(overwrite.before, '[big.log has 101 bytes: too large to show; writeFile replaces all of it]');
      assert.equal((await small.plan('writeFile', { path: 'ok.txt', content: 'z' })).before, 'y'.repeat(100));
      await refused(
        small.plan('editFile', { path: 'big.log', oldText: 'x', newText: 'y' }),
        /big\.log has 101 bytes; editFile works on files up to 100 bytes/,
      );
      await overwrite.execute();
      assert.equal(readFileSync(path.join(folder, 'big.log'), 'utf8'), 'short');
    });
  });

  it('readFile reads line ranges; listFiles globs; searchText finds lines; all skip .git and .agent-budget', async () => {
    assert.equal(
      await run('readFile', { path: 'src/lib/util.ts', startLine: 2, endLine: 2 }),
      '  return a + b; // hello',
    );
    assert.equal(
      await run('listFiles', { pattern: '*.ts' }),
      [...(symbolicLinks.holds ? ['alias.ts'] : []), 'src/app.ts', 'src/lib/util.ts'].join('\n'),
    );
    assert.equal(await run('listFiles', { pattern: 'src/**' }), 'src/app.ts\nsrc/lib/util.ts');
    assert.doesNotMatch(await run('listFiles', {}), /\.git|config/);
    const found = await run('searchText', { query: 'HELLO', pattern: 'src/**/*.ts' });
    assert.equal(found, 'src/app.ts:1: export const greeting = "hello";\nsrc/lib/util.ts:2: return a + b; // hello');
    assert.match(await run('searchText', { query: 'a \\+ b', regex: true }), /util\.ts:2/);
  });

  it('a regular expression that backtracks without end is stopped at its deadline, and the event loop keeps running', async () => {
    writeFileSync(path.join(folder, 'src', 'aaa.txt'), `${'a'.repeat(28)}!\n`);
    const quick = new WorkspaceTools(folder, { limits: { searchRegexMs: 300 } });
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 20);
    const started = Date.now();
    try {
      await refused(
        (await quick.plan('searchText', { query: '^(a+)+$', regex: true })).execute(),
        /ran for more than 0\.3 s on src\/aaa\.txt and was stopped/,
      );
    } finally {
      clearInterval(ticker);
    }
    const took = Date.now() - started;
    assert.ok(took < 2_000, `stopped at the deadline (${took} ms)`);
    assert.ok(ticks >= 5, `the event loop ran meanwhile (${ticks} ticks in ${took} ms)`);
    assert.match(
      await (await quick.plan('searchText', { query: '^a+!$', regex: true })).execute(),
      /src\/aaa\.txt:1/,
      'a sane expression still matches',
    );
  });

  it('a regular expression search stops when its signal fires', async () => {
    writeFileSync(path.join(folder, 'src', 'aaa.txt'), `${'a'.repeat(28)}!\n`);
    const controller = new AbortController();
    setTimeout(() => controller.abort('cancelled'), 100);
    const started = Date.now();
    await refused(
      (await tools.plan('searchText', { query: '^(a+)+$', regex: true })).execute(controller.signal),
      /search was stopped/,
    );
    assert.ok(Date.now() - started < 1_500, 'stopped with the signal, not at the 2 s deadline');
  });

  it('editFile replaces one exact occurrence and says why it will not otherwise', async () => {
    const planned = await tools.plan('editFile', { path: 'src/app.ts', oldText: '"hello"', newText: '"hi"' });
    assert.equal(planned.before, 'export const greeting = "hello";\nconsole.log(greeting);\n');
    assert.equal(planned.after, 'export const greeting = "hi";\nconsole.log(greeting);\n');
    await planned.execute();
    assert.equal(readFileSync(path.join(folder, 'src', 'app.ts'), 'utf8'), planned.after);
    await refused(tools.plan('editFile', { path: 'src/app.ts', oldText: 'nope', newText: 'x' }), /not found/);
    await refused(tools.plan('editFile', { path: 'src/app.ts', oldText: 'greeting', newText: 'x' }), /more than once/);
    await refused(tools.plan('editFile', { path: 'src/missing.ts', oldText: 'a', newText: 'b' }), /does not exist/);
  });

  // Node scripts as the commands, so the same tests run through sh and through Windows' cmd.exe.
  const node = `"${process.execPath}" -e`;

  it('runCommand runs in the workspace without provider keys and caps output', async () => {
    // Time for node to start (over a second under Wine); the 1 s limit of `tools` is for the next test.
    const patient = new WorkspaceTools(folder, { limits: { commandTimeoutMs: 30_000, commandOutputBytes: 200 } });
    const finish = async (command: string) => (await patient.plan('runCommand', { command })).execute();
    process.env.ANTHROPIC_API_KEY = 'sk-should-not-leak';
    try {
      const out = await finish(
        `${node} "console.log(process.cwd()); console.log('key=[' + (process.env.ANTHROPIC_API_KEY || '') + ']')"`,
      );
      assert.match(out, /\[exit code 0\]/);
      assert.ok(out.includes(await (await import('node:fs/promises')).realpath(folder)) || out.includes(folder));
      assert.match(out, /key=\[\]/);
    } finally {
      delete process.env.ANTHROPIC_API_KEY;
    }
    const long = await finish(`${node} "for (let i = 1; i <= 200; i++) console.log('line' + i)"`);
    assert.match(long, /line1\n/);
    assert.match(long, /line200/);
    assert.match(long, /bytes of output cut/);
  });

  itWhere(processTrees, 'runCommand stops a command at its timeout, with everything it started', async () => {
    const started = Date.now();
    const slow = await run('runCommand', { command: `${node} "setTimeout(() => {}, 5000)"` });
    assert.match(slow, /killed: timed out after 1 s/);
    assert.ok(
      Date.now() - started < 3_000,
      `stopped at the timeout, with what it started (${Date.now() - started} ms)`,
    );
  });

  it('runCommand sees an allow-listed environment: no keys, tokens, cloud credentials or AGENT_BUDGET_*', async () => {
    const planted: Record<string, string> = {
      ANTHROPIC_API_KEY: 'sk-planted-1',
      GITHUB_TOKEN: 'ghp_planted',
      NPM_TOKEN: 'npm_planted',
      AWS_ACCESS_KEY_ID: 'AKIAPLANTED',
      AWS_SECRET_ACCESS_KEY: 'aws-planted',
      AZURE_CLIENT_SECRET: 'azure-planted',
      GOOGLE_APPLICATION_CREDENTIALS: '/home/x/planted.json',
      DB_PASSWORD: 'pw-planted',
      HTTPS_PROXY: 'http://user:proxy-planted@proxy:3128',
      AGENT_BUDGET_TEAM_DATABASE_URL: 'postgres://u:team-planted@db/x',
      SOMETHING_ELSE: 'unlisted-planted',
      LC_ALL: 'C.UTF-8',
      CI: '1',
    };
    const saved = Object.fromEntries(Object.keys(planted).map((k) => [k, process.env[k]]));
    Object.assign(process.env, planted);
    try {
      const wide = new WorkspaceTools(folder, { limits: { commandOutputBytes: 100_000 } });
      // Node prints the environment, where `env` is not a command (Windows' cmd.exe has `set`).
      const printEnv = `${node} "for (const [k, v] of Object.entries(process.env)) console.log(k + '=' + v)"`;
      const out = await (await wide.plan('runCommand', { command: printEnv })).execute();
      assert.match(out, /\[exit code 0\]/);
      for (const [name, value] of Object.entries(planted)) {
        const seen = out.includes(value);
        assert.equal(seen, name === 'LC_ALL' || name === 'CI', `${name} ${seen ? 'was' : 'was not'} visible`);
      }
      assert.match(out, /^PATH=/im, 'PATH is kept, so commands are found (Windows spells it Path)');
      assert.doesNotMatch(out, /^AGENT_BUDGET_/m);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('glob patterns', () => {
    assert.ok(matchesGlob('src/a/b.ts', 'src/**/*.ts'));
    assert.ok(matchesGlob('src/b.ts', 'src/**/*.ts'));
    assert.ok(!matchesGlob('lib/b.ts', 'src/**/*.ts'));
    assert.ok(matchesGlob('deep/x/y.test.ts', '*.test.ts'));
    assert.ok(matchesGlob('a.js', '*.{ts,js}'));
    assert.ok(!matchesGlob('a.jsx', '*.{ts,js}'));
    assert.ok(matchesGlob('file1.txt', 'file[0-9].txt'));
    assert.ok(!matchesGlob('filea.txt', 'file[!a-z].txt'));
    assert.ok(matchesGlob('file1.txt', 'file[!a-z].txt'));
    assert.ok(!matchesGlob('src/a.ts', 'src/?.js'));
    assert.throws(() => globToRegExp('{a,b'), /unclosed/);
  });
});

describe('Runner: tools in an agent loop, approvals', function () {
  this.timeout(20_000);
  let fake: Running<FakeAnthropic>;
  let folder: string;
  const EDITOR: RunnerWorkflow = {
    id: 'editor',
    title: 'Editor',
    model: 'claude-haiku-4-5',
    steps: [{ id: 'edit', prompt: 'Fix {{input}}', tools: ['readFile', 'writeFile', 'editFile', 'runCommand'] }],
  };
  beforeEach(async () => {
    fake = await startFakeAnthropic();
    folder = mkdtempSync(path.join(tmpdir(), 'ab-approve-'));
    writeFileSync(path.join(folder, 'a.txt'), 'one two three\n');
  });
  afterEach(async () => {
    await fake.close();
    rmSync(folder, { recursive: true, force: true });
  });

  const script = () =>
    fake.enqueue(
      {
        toolCalls: [{ name: 'editFile', input: { path: 'a.txt', oldText: 'two', newText: 'TWO' } }],
        usage: { input: 50, output: 20 },
      },
      {
        toolCalls: [{ name: 'runCommand', input: { command: 'echo ran > ran.txt' } }],
        usage: { input: 80, output: 20 },
      },
      { toolCalls: [{ name: 'readFile', input: { path: '../outside.txt' } }], usage: { input: 90, output: 20 } },
      { text: 'Done.', usage: { input: 120, output: 5 } },
    );

  const toolResults = () =>
    fake.generationRequests.slice(1).map((r) => {
      const messages = (r.body as { messages: Array<{ content: unknown }> }).messages;
      const last = messages[messages.length - 1]!.content as Array<{
        type: string;
        content: string;
        is_error?: boolean;
      }>;
      return last.filter((c) => c.type === 'tool_result').map((c) => `${c.is_error ? 'ERR ' : ''}${c.content}`)[0]!;
    });

  it('a denied edit and command change nothing, and the model is told; the run still completes', async () => {
    script();
    const approver = new ScriptedApprover(() => false);
    const { runner, close } = await openRunner(folder, fakeAccess({ anthropic: fake.baseUrl }), approver, {
      builtins: [EDITOR],
    });
    try {
      const outcome = await runner.start('editor', { input: 'a.txt' });
      assert.equal(outcome.status, 'completed', outcome.error);
      assert.deepEqual(
        approver.seen.map((r) => [r.tool, r.summary]),
        [
          ['editFile', 'editFile a.txt'],
          ['runCommand', 'runCommand echo ran > ran.txt'],
        ],
      );
      assert.equal(approver.seen[0]!.before, 'one two three\n');
      assert.equal(approver.seen[0]!.after, 'one TWO three\n');
      assert.equal(approver.seen[0]!.path, 'a.txt');
      assert.equal(approver.seen[1]!.command, 'echo ran > ran.txt');
      assert.equal(readFileSync(path.join(folder, 'a.txt'), 'utf8'), 'one two three\n');
      assert.throws(() => readFileSync(path.join(folder, 'ran.txt')));
      const results = toolResults();
      assert.match(results[0]!, /^ERR Error: the user did not approve this change/);
      assert.match(results[1]!, /^ERR Error: the user did not approve this command/);
      assert.match(results[2]!, /^ERR Error: "\.\.\/outside\.txt" is outside the workspace folder/);
    } finally {
      await close();
    }
  });

  it('approved changes are applied; tools the policy allows are not asked about; fixed tool costs are charged', async () => {
    writePolicy(folder, { tools: { allow: ['readFile', 'runCommand'], costsUsd: { runCommand: 0.01 } } });
    script();
    const approver = new ScriptedApprover(() => true);
    const { runner, workspace, close } = await openRunner(folder, fakeAccess({ anthropic: fake.baseUrl }), approver, {
      builtins: [EDITOR],
      trustPolicy: true,
    });
    try {
      const { events, onEvent } = collectEvents();
      const outcome = await runner.start('editor', { input: 'a.txt' }, { onEvent });
      assert.equal(outcome.status, 'completed', outcome.error);
      assert.deepEqual(
        approver.seen.map((r) => r.tool),
        ['editFile'],
        'runCommand is allowed by the policy',
      );
      assert.equal(readFileSync(path.join(folder, 'a.txt'), 'utf8'), 'one TWO three\n');
      // sh writes "ran\n", cmd.exe "ran \r\n".
      assert.equal(readFileSync(path.join(folder, 'ran.txt'), 'utf8').trimEnd(), 'ran');
      const results = toolResults();
      assert.equal(results[0], 'Edited a.txt.');
      assert.match(results[1]!, /^\$ echo ran > ran\.txt\n\[exit code 0\]/);
      const toolRow = ledgerOf(workspace, outcome.runId).find((r) => r.provider === 'tool')!;
      assert.equal(toolRow.tool, 'runCommand');
      assert.equal(toolRow.costMicros, 10_000);
      assert.equal(toolRow.task, 'edit');
      const summaries = events.filter((e) => e.type === 'tool').map((e) => (e as { summary: string }).summary);
      assert.deepEqual(summaries.slice(0, 2), ['editFile a.txt', 'runCommand echo ran > ran.txt']);
      assert.match(summaries[2]!, /^refused: "\.\.\/outside\.txt" is outside the workspace folder/);
    } finally {
      await close();
    }
  });

  it('a tool in neither tools.allow nor tools.approve is refused without asking, a writing one too', async () => {
    writePolicy(folder, { tools: { allow: [], approve: [] } });
    fake.enqueue(
      { toolCalls: [{ name: 'readFile', input: { path: 'a.txt' } }] },
      { toolCalls: [{ name: 'editFile', input: { path: 'a.txt', oldText: 'two', newText: 'TWO' } }] },
      { text: 'ok' },
    );
    const approver = new ScriptedApprover(() => true);
    const { runner, close } = await openRunner(folder, fakeAccess({ anthropic: fake.baseUrl }), approver, {
      builtins: [EDITOR],
    });
    try {
      const outcome = await runner.start('editor', { input: 'a.txt' });
      assert.equal(outcome.status, 'completed');
      assert.deepEqual(approver.seen, []);
      const [read, edit] = toolResults();
      assert.match(
        read!,
        /^ERR Error: readFile is in neither tools\.allow nor tools\.approve of \.agent-budget\/budget\.json/,
      );
      assert.match(edit!, /^ERR Error: editFile is in neither tools\.allow nor tools\.approve/);
      assert.equal(readFileSync(path.join(folder, 'a.txt'), 'utf8'), 'one two three\n');
    } finally {
      await close();
    }
  });

  it('a tool listed in both tools.allow and tools.approve asks before running, as the policy warns', async () => {
    writePolicy(folder, { tools: { allow: ['readFile'], approve: ['readFile'] } });
    fake.enqueue(
      { toolCalls: [{ name: 'readFile', input: { path: 'a.txt' } }] },
      { toolCalls: [{ name: 'readFile', input: { path: 'a.txt' } }] },
      { text: 'ok' },
    );
    let asked = 0;
    const approver = new ScriptedApprover(() => ++asked === 1); // yes, then no
    const { runner, workspace, close } = await openRunner(folder, fakeAccess({ anthropic: fake.baseUrl }), approver, {
      builtins: [EDITOR],
    });
    try {
      assert.ok(
        workspace.policyInfo?.warnings.some((w) => /also in "approve"; it will ask before running/.test(w.message)),
      );
      const outcome = await runner.start('editor', { input: 'a.txt' });
      assert.equal(outcome.status, 'completed', outcome.error);
      assert.deepEqual(
        approver.seen.map((r) => [r.tool, r.summary, r.path]),
        [
          ['readFile', 'readFile a.txt', 'a.txt'],
          ['readFile', 'readFile a.txt', 'a.txt'],
        ],
      );
      const [first, second] = toolResults();
      assert.equal(first, 'one two three\n', 'approved: read');
      assert.match(second!, /^ERR Error: the user did not approve this tool call/);
    } finally {
      await close();
    }
  });
});
