import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../../support/cli';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';
import { nodeStateSystem, workspaceStateDir } from '../../../src/core/statePaths';
import type { StoreRecord } from '../../../src/core/store/records';
import { WorkspaceStore } from '../../../src/core/store/store';
import { Workspace } from '../../../src/core/workspace';

const NOW = Date.now();

/** An older version's store in `<folder>/.agent-budget/`: 3 ledger rows, 2 alerts, a run with a checkpoint, an open reservation. */
async function legacyStore(folder: string): Promise<void> {
  const store = await WorkspaceStore.open({
    dir: path.join(folder, '.agent-budget'),
    pollMs: 0,
  });
  const rand = seededRandom(7);
  const records: StoreRecord[] = [
    ...[0, 1, 2].map((i): StoreRecord => ({
      k: 'ledger',
      entry: randomEntry(rand, NOW - i * 60_000, { id: `old-${i}`, costMicros: 1_000_000 * (i + 1) }),
    })),
    { k: 'alert', scope: 'workspace.daily', periodKey: '2026-11-22', pct: 50, ts: NOW },
    { k: 'alert', scope: 'workspace.monthly', periodKey: '2026-11', pct: 75, ts: NOW },
    {
      k: 'run',
      run: {
        id: 'old-run',
        workflow: 'explain',
        status: 'interrupted',
        title: 'old',
        createdAt: NOW,
        updatedAt: NOW,
        rev: 1,
        owner: 'elsewhere:1:x',
        parentRunId: null,
        variant: null,
        data: {},
      },
    },
    { k: 'checkpoint', checkpoint: { runId: 'old-run', seq: 1, ts: NOW, state: { v: 1 } } },
    {
      k: 'reserve',
      reservation: {
        id: 'old-res',
        ts: NOW,
        owner: 'elsewhere:1:x',
        runId: 'old-run',
        taskId: null,
        task: null,
        workflow: 'explain',
        provider: 'anthropic',
        model: 'claude-haiku-4-5',
        micros: 9_000_000,
        tokens: 10,
        inputTokens: 5,
        outputTokens: 5,
        scopes: ['workspace.daily@x'],
      },
    },
  ];
  await store.commit(records);
  await store.close();
}

function git(folder: string, ...args: string[]): void {
  execFileSync('git', ['-C', folder, ...args], {
    stdio: 'ignore',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@x',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@x',
    },
  });
}

describe('upgrade: an older store in .agent-budget/', () => {
  let base: string;
  let folder: string;
  let env: { AGENT_BUDGET_STATE_HOME: string };
  beforeEach(() => {
    base = realpathSync(mkdtempSync(path.join(tmpdir(), 'ab-upgrade-')));
    folder = path.join(base, 'repo');
    env = { AGENT_BUDGET_STATE_HOME: path.join(base, 'state-home') };
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  const stateDir = () => workspaceStateDir(folder, nodeStateSystem(env));

  it('imports spend only (ledger rows and alerts sent), says so once, and leaves the old files in place', async () => {
    await legacyStore(folder);
    git(folder, 'init', '-q');
    const before = readdirSync(path.join(folder, '.agent-budget')).sort();

    const first = await runCli(['status', '--json', '--workspace', folder], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /now keeps this workspace's spend, runs and checkpoints in .*outside the repository/);
    assert.match(
      first.stderr,
      /Imported the spend history of \.agent-budget\/: 3 ledger rows and 2 alerts already sent/,
    );
    const second = await runCli(['status', '--json', '--workspace', folder], env);
    assert.doesNotMatch(second.stderr, /Imported|now keeps/, 'said once');

    const ws = await Workspace.open(folder, { pollMs: 0, env });
    try {
      assert.equal(ws.store.dir, stateDir());
      assert.equal(ws.upgradeNote, undefined);
      assert.deepEqual(
        [...ws.store.queries.ledgerRows(0, Number.MAX_SAFE_INTEGER)]
          .flat()
          .map((e) => [e.id, e.costMicros])
          .sort(),
        [
          ['old-0', 1_000_000],
          ['old-1', 2_000_000],
          ['old-2', 3_000_000],
        ],
      );
      assert.ok(ws.store.queries.alertFired('workspace.daily', '2026-11-22', 50));
      assert.ok(ws.store.queries.alertFired('workspace.monthly', '2026-11', 75));
      assert.equal(ws.store.queries.getRun('old-run'), undefined, 'runs are not imported');
      assert.equal(ws.store.queries.checkpoint('old-run'), undefined, 'checkpoints are not imported');
      assert.deepEqual(ws.store.queries.openReservations(), [], 'reservations are not imported');
    } finally {
      await ws.close();
    }
    assert.deepEqual(readdirSync(path.join(folder, '.agent-budget')).sort(), before, 'the old folder is untouched');
  });

  it('imports nothing when git tracks a state file (the repository shipped it)', async () => {
    await legacyStore(folder);
    git(folder, 'init', '-q');
    git(folder, 'add', '-f', '.agent-budget');
    git(folder, 'commit', '-qm', 'planted');
    const r = await runCli(['status', '--json', '--workspace', folder], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /was not imported: git tracks \.agent-budget\/(journal|snapshot)-/);
    await assertNothingImported(folder, env);
  });

  it('imports nothing when a state file is a symbolic link', async () => {
    await legacyStore(folder);
    git(folder, 'init', '-q');
    const outside = path.join(base, 'outside');
    writeFileSync(outside, 'secret');
    symlinkSync(outside, path.join(folder, '.agent-budget', 'journal-999999.log'));
    const r = await runCli(['status', '--json', '--workspace', folder], env);
    assert.match(r.stderr, /was not imported: \.agent-budget\/journal-999999\.log is a symbolic link/);
    await assertNothingImported(folder, env);
  });

  it('imports nothing when git cannot say (not a repository), and says why', async () => {
    await legacyStore(folder);
    const r = await runCli(['status', '--json', '--workspace', folder], env);
    assert.match(
      r.stderr,
      /was not imported: git could not say whether the repository tracks them \(.*not a git repository/,
    );
    await assertNothingImported(folder, env);
  });

  it('never imports into a folder named by AGENT_BUDGET_STATE_DIR, and is silent without an older store', async () => {
    await legacyStore(folder);
    git(folder, 'init', '-q');
    const named = await runCli(['status', '--json', '--workspace', folder], {
      ...env,
      AGENT_BUDGET_STATE_DIR: '../elsewhere',
    });
    assert.doesNotMatch(named.stderr, /import/i);
    assert.ok(existsSync(path.join(base, 'elsewhere', '.gitignore')), 'the store is where the variable says');
    assert.ok(!existsSync(stateDir()), 'and not in the per-user folder');
    const empty = path.join(base, 'empty');
    const r = await runCli(['status', '--json', '--workspace', empty], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
  });
});

async function assertNothingImported(folder: string, env: Record<string, string>): Promise<void> {
  const ws = await Workspace.open(folder, { pollMs: 0, env });
  try {
    assert.equal(ws.store.queries.ledgerCount(), 0);
    assert.deepEqual(ws.store.queries.firedAlerts(), []);
  } finally {
    await ws.close();
  }
}
