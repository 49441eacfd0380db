import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CURRENT_OWNER, newId } from '../../../src/core/processIdentity';
import type { StoreRecord } from '../../../src/core/store/records';
import { Workspace } from '../../../src/core/workspace';
import { bundleChild } from '../../support/childBundle';
import { runCli } from '../../support/cli';
import { writePolicy } from '../runner/helpers';

describe('CLI output: --json errors, a closed pipe', function () {
  this.timeout(30_000);
  let folder: string;
  beforeEach(() => {
    folder = mkdtempSync(path.join(tmpdir(), 'ab-output-'));
  });
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  it('--json: an error before a run starts is one JSON document {error, exitCode} on stdout, and a line on stderr', async () => {
    const cases: Array<{ args: string[]; env?: NodeJS.ProcessEnv; exitCode: number; error: RegExp }> = [
      {
        args: ['run', 'code-review', '--file', 'nope.ts'],
        env: { ANTHROPIC_API_KEY: 'k' },
        exitCode: 1,
        error: /Cannot read the file/,
      },
      { args: ['run', 'explain', '--input', 'x'], exitCode: 1, error: /ANTHROPIC_API_KEY is not set/ },
      { args: ['resume', 'nosuchrun'], exitCode: 1, error: /nosuchrun/ },
      { args: ['runs', '--status', 'done'], exitCode: 1, error: /unknown status "done"/ },
      { args: ['runs', '--bogus'], exitCode: 1, error: /Unknown option '--bogus'/ },
      { args: ['nope'], exitCode: 1, error: /unknown command "nope"/ },
    ];
    for (const c of cases) {
      const r = await runCli([...c.args, '--workspace', folder, '--json'], c.env);
      const what = c.args.join(' ');
      assert.equal(r.code, c.exitCode, what);
      const doc = JSON.parse(r.stdout) as { error: string; exitCode: number };
      assert.deepEqual(Object.keys(doc).sort(), ['error', 'exitCode'], what);
      assert.equal(doc.exitCode, c.exitCode, what);
      assert.match(doc.error, c.error, what);
      assert.match(r.stderr, c.error, `${what}: the message stays on stderr`);
    }
    writePolicy(folder, { limits: { task: { hardTokens: '12k' } } });
    const policy = await runCli(['run', 'explain', '--input', 'x', '--workspace', folder, '--json'], {
      ANTHROPIC_API_KEY: 'k',
    });
    assert.equal(policy.code, 1);
    assert.match(
      (JSON.parse(policy.stdout) as { error: string }).error,
      /budget\.json:\d+:\d+: limits\.task\.hardTokens/,
    );

    const human = await runCli(['runs', '--status', 'done', '--workspace', folder]);
    assert.equal(human.stdout, '', 'without --json stdout stays empty');
  });

  it('`agent-budget runs | head -4`: the reader closing the pipe ends the command normally (exit 0, no EPIPE trace)', async () => {
    const ws = await Workspace.open(folder, { pollMs: 0 });
    const at = Date.now();
    // Far more than a pipe's buffer (64 KiB), so the CLI is still writing when the reader goes.
    const records: StoreRecord[] = Array.from({ length: 3_000 }, (_, i) => ({
      k: 'run',
      run: {
        id: newId(at + i),
        workflow: 'explain',
        status: 'completed',
        title: `run ${i}`,
        createdAt: at + i,
        updatedAt: at + i,
        rev: 1,
        owner: CURRENT_OWNER,
        parentRunId: null,
        variant: null,
        data: null,
      },
    }));
    await ws.store.commit(records);
    await ws.close();

    const cli = await bundleChild('src/cli/main.ts');
    const child = spawn(process.execPath, [cli, 'runs', '--limit', '3000', '--workspace', folder], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    let head = '';
    child.stdout.on('data', (c: Buffer) => {
      head += c.toString();
      if (head.split('\n').length > 4) child.stdout.destroy();
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.match(head, /^RUN\s+STATUS/);
    assert.ok(!head.includes('run 0\n'), 'the reader left before the end');
    assert.equal(stderr, '');
    assert.equal(code, 0);
  });
});
