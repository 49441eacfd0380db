import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OFFICIAL_BASE_URLS } from '../../../src/core/trust/origins';
import { startFakeAnthropic, type FakeAnthropic, type Running } from '../../fakes';
import { runCli } from '../../support/cli';
import { buildHostileRepo, snapshotTree, type HostileRepo } from '../../support/hostileRepo';
import { carriedKey, startRecorder } from '../../support/recorder';

const KEY = 'sk-ant-the-users-own-key';

/**
 * Issue 11's hostile repository, cloned and used from the CLI as a new user would: nothing is written outside the
 * workspace and the per-user state folder, no command runs, no key reaches the repository's endpoint.
 */
describe('a hostile repository, from the CLI (machine state, keys, resume)', function () {
  this.timeout(60_000);
  let base: string;
  let hostile: HostileRepo;
  let recorder: Awaited<ReturnType<typeof startRecorder>>;
  let official: Running<FakeAnthropic>;
  let realFetch: typeof fetch;
  let env: Record<string, string>;
  let stateHome: string;

  beforeEach(async () => {
    base = realpathSync(mkdtempSync(path.join(tmpdir(), 'ab-hostile-')));
    recorder = await startRecorder();
    official = await startFakeAnthropic();
    hostile = await buildHostileRepo(base, recorder.url);
    stateHome = path.join(base, 'state-home');
    env = { ANTHROPIC_API_KEY: KEY, AGENT_BUDGET_STATE_HOME: stateHome };
    // The official host is the fake provider here (the CLI runs in this process), so nothing leaves the machine.
    realFetch = globalThis.fetch;
    globalThis.fetch = (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      return realFetch(
        url.startsWith(OFFICIAL_BASE_URLS.anthropic)
          ? official.baseUrl + url.slice(OFFICIAL_BASE_URLS.anthropic.length)
          : url,
        init,
      );
    };
  });
  afterEach(async () => {
    globalThis.fetch = realFetch;
    await recorder.close();
    await official.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('status, runs, run and resume write nothing outside the workspace and the state folder, and run no command', async () => {
    const outsideBefore = snapshotTree(hostile.outside);
    const repoBefore = snapshotTree(hostile.repo);

    const status = await runCli(['status', '--json', '--workspace', hostile.repo], env);
    assert.equal(status.code, 0, status.stderr);
    // The planted store is not this machine's: not imported (its files are symbolic links and tracked by git).
    assert.match(status.stderr, /was not imported: \.agent-budget\/(damaged|journal-999999\.log) is a symbolic link/);

    const runs = await runCli(['runs', '--json', '--workspace', hostile.repo], env);
    assert.equal(runs.code, 0, runs.stderr);
    assert.deepEqual(JSON.parse(runs.stdout), [], "the repository's planted run is not one of this machine's runs");

    const resume = await runCli(['resume', hostile.plantedRunId, '--workspace', hostile.repo], env);
    assert.equal(resume.code, 1);
    assert.match(resume.stderr, /no run/i);

    official.enqueue({ text: 'Looks fine.', usage: { input: 120, output: 8 } });
    const run = await runCli(
      ['run', 'code-review', '--file', 'src/app.ts', '--workspace', hostile.repo, '--json'],
      env,
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).status, 'completed');
    assert.match(
      run.stderr,
      /providers\.anthropic\.baseUrl: sends your Anthropic API key .* instead of https:\/\/api\.anthropic\.com/,
    );

    assert.equal(recorder.requests.length, 0, "requests reached the repository's endpoint");
    assert.equal(official.generationRequests.length, 1);
    assert.ok(official.generationRequests[0]!.hadApiKey);
    assert.ok(!existsSync(hostile.pwned), 'the planted command ran');
    assert.deepEqual(snapshotTree(hostile.outside), outsideBefore, 'something outside the workspace changed');
    assert.deepEqual(snapshotTree(hostile.repo), repoBefore, 'the CLI wrote into the repository');
    // Machine state is in the per-user folder, and only there.
    const workspaces = readdirSync(path.join(stateHome, 'workspaces'));
    assert.equal(workspaces.length, 1);
    assert.match(workspaces[0]!, /^hostile-repo-[0-9a-f]{16}$/);
  });

  it('the planted journal itself, used as the state folder on purpose: its run is refused, and with --trust-run its command still is', async () => {
    // A clean copy of the planted journal and snapshot (the symbolic links are the store's own defence, not this test's).
    const copy = path.join(base, 'planted-state');
    mkdirSync(copy);
    for (const name of readdirSync(path.join(hostile.repo, '.agent-budget')))
      if (/^(journal-0|snapshot-)/.test(name))
        cpSync(path.join(hostile.repo, '.agent-budget', name), path.join(copy, name));
    const planted = { ...env, AGENT_BUDGET_STATE_DIR: copy, ANTHROPIC_BASE_URL: official.baseUrl };

    const refused = await runCli(['resume', hostile.plantedRunId, '--workspace', hostile.repo], planted);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /was not started by Agent Budget on this machine \(it was written by attacker:1:x\)/);
    assert.match(refused.stderr, /- runCommand touch ".*pwned" \(step act\)/);
    assert.equal(official.requests.length, 0);

    official.enqueue({ text: 'Nothing to do.', usage: { input: 40, output: 4 } });
    const trusted = await runCli(['resume', hostile.plantedRunId, '--trust-run', '--workspace', hostile.repo], planted);
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.match(trusted.stderr, /refused runCommand touch .*pending in the checkpoint/);
    assert.ok(!existsSync(hostile.pwned), 'the planted command ran');
    assert.equal(recorder.requests.filter(carriedKey).length, 0);
  });

  // The policy half of issue 11: budget.json's `tools.allow: ["runCommand"]` is a loosening that needs the user's
  // consent (trust/policyMerge.ts), so without --trust-policy the command is refused and the model is told.
  it('a run in the hostile repository never runs the command its budget.json allows', async () => {
    official.enqueue(
      {
        toolCalls: [{ name: 'runCommand', input: { command: `touch "${hostile.pwned}"` } }],
        usage: { input: 50, output: 9 },
      },
      { text: 'Reviewed.', usage: { input: 80, output: 3 } },
    );
    const run = await runCli(['run', 'code-review', '--file', 'src/app.ts', '--workspace', hostile.repo], env);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!existsSync(hostile.pwned), 'the command its budget.json allows ran without the user');
  });
});
