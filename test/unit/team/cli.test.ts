import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import type { LedgerEntry } from '../../../src/core/store/records';
import { OUTBOX_FILE } from '../../../src/core/team/storeOutbox';
import { Workspace } from '../../../src/core/workspace';
import { startFakeProviders } from '../../fakes';
import { bundleChild } from '../../support/childBundle';
import { tempWorkspace, writePolicy } from '../runner/helpers';
import { usePostgres } from './helpers';

type Fakes = Awaited<ReturnType<typeof startFakeProviders>>;

interface Machine {
  member: string;
  /** The machine's per-user state root: its own store of the same repository. */
  home: string;
}

/**
 * The CLI as CI jobs and terminals run it — a separate node process per command, each its own "machine" (its own
 * state home and member) — against a real PostgreSQL team ledger.
 */
describe('team ledger through the CLI: two machines debit one team cap', function () {
  this.timeout(240_000);
  const pg = usePostgres();
  let cli: string;
  let fakes: Fakes;
  let ws: ReturnType<typeof tempWorkspace>;
  let root: string;

  before(async function () {
    this.timeout(120_000);
    cli = await bundleChild('src/cli/main.ts');
    // The CLI loads node-postgres from beside itself (postgresLedger.ts loadPgDriver), as in dist/.
    await bundleChild('src/core/team/pgDriver.ts');
  });
  beforeEach(async () => {
    fakes = await startFakeProviders();
    ws = tempWorkspace({ 'src/app.ts': 'export const answer = 42;\n' });
    root = mkdtempSync(path.join(tmpdir(), 'ab-teamcli-'));
  });
  afterEach(async () => {
    await fakes.close();
    ws.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  const machine = (member: string): Machine => ({ member, home: path.join(root, member.replace(/\W/g, '_')) });

  function agentBudget(
    m: Machine,
    url: string,
    args: string[],
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, [cli, ...args, '--workspace', ws.folder], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        AGENT_BUDGET_USER_POLICY: process.env.AGENT_BUDGET_USER_POLICY,
        AGENT_BUDGET_STATE_HOME: m.home,
        AGENT_BUDGET_TEAM_DATABASE_URL: url,
        AGENT_BUDGET_TEAM_MEMBER: m.member,
        ANTHROPIC_API_KEY: 'k',
        ANTHROPIC_BASE_URL: fakes.anthropic.baseUrl,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
  }

  /** One `explain` run; the fake bills the whole `max_tokens` as output (the worst case a budget must hold). */
  async function spend(m: Machine, url: string) {
    fakes.anthropic.enqueue({ usage: { input: 300 }, outputAtLimit: true });
    return agentBudget(m, url, ['run', 'explain', '--file', 'src/app.ts', '--json']);
  }

  async function localRows(m: Machine): Promise<LedgerEntry[]> {
    const w = await Workspace.open(ws.folder, { env: { AGENT_BUDGET_STATE_HOME: m.home }, pollMs: 0, recover: false });
    try {
      return [...w.store.queries.ledgerRows(0, Number.MAX_SAFE_INTEGER)].flat();
    } finally {
      await w.close();
    }
  }

  async function teamRows(url: string): Promise<Array<{ id: string; member: string; cost: number }>> {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ id: string; member: string; cost_micros: string }>(
        'SELECT id, member, cost_micros FROM agent_budget.ledger ORDER BY id',
      );
      return rows.map((r) => ({ id: r.id, member: r.member, cost: Number(r.cost_micros) }));
    } finally {
      await client.end();
    }
  }

  const sum = (xs: Array<{ costMicros?: number; cost?: number }>) =>
    xs.reduce((a, x) => a + (x.costMicros ?? x.cost ?? 0), 0);

  it('the cap holds across both machines, every row lands once, status and report --team see the whole team', async () => {
    const url = await pg.database();
    const capMicros = 30_000;
    writePolicy(ws.folder, { timeZone: 'UTC', limits: { team: { dailyUsd: capMicros / 1e6 } } });
    const ana = machine('ana@x.dev');
    const ci = machine('ci@x.dev');

    // Both at once, then turn by turn until the team cap stops both.
    const results = await Promise.all([spend(ana, url), spend(ci, url)]);
    for (let turn = 0; turn < 12 && results.slice(-2).some((r) => r.code !== 2); turn++)
      results.push(await spend(turn % 2 ? ci : ana, url));
    for (const r of results) assert.ok(r.code === 0 || r.code === 2, `exit ${r.code}: ${r.stderr}`);
    if (process.env.DEBUG_TEAM)
      console.log(
        results.map((r) => r.code),
        results.map((r) => r.stderr),
      );
    const blocked = results.filter((r) => r.code === 2);
    assert.ok(blocked.length >= 2, 'the team cap stopped runs on both machines');
    for (const r of blocked) assert.match(r.stdout + r.stderr, /team\.daily/);
    assert.ok(results.filter((r) => r.code === 0).length >= 2, 'calls were made before the cap was reached');

    const [anaRows, ciRows, team] = await Promise.all([localRows(ana), localRows(ci), teamRows(url)]);
    assert.ok(anaRows.length > 0 && ciRows.length > 0, 'both machines spent');
    // Every local row is in the team ledger once, under its machine's member, at its cost.
    assert.deepEqual(
      team,
      [
        ...anaRows.map((e) => ({ id: e.id, member: ana.member, cost: e.costMicros })),
        ...ciRows.map((e) => ({ id: e.id, member: ci.member, cost: e.costMicros })),
      ].sort((a, b) => (a.id < b.id ? -1 : 1)),
    );
    const billed = sum(team);
    assert.ok(billed <= capMicros, `billed ${billed} µ$ > team cap ${capMicros} µ$`);
    assert.ok(billed > capMicros / 2, `only ${billed} µ$ of ${capMicros} spent: the cap was not approached`);

    const status = await agentBudget(ana, url, ['status', '--json']);
    assert.equal(status.code, 0, status.stderr);
    const doc = JSON.parse(status.stdout) as {
      scopes: Array<{ scope: string; usedMicros: number; limitMicros: number }>;
      team: { member: string; online: boolean; offline: string | null };
    };
    assert.deepEqual(doc.team, { member: 'ana@x.dev', tier: null, online: true, offline: null });
    const daily = doc.scopes.find((s) => s.scope === 'team.daily');
    assert.deepEqual(daily && [daily.usedMicros, daily.limitMicros], [billed, capMicros]);

    const report = await agentBudget(ci, url, ['report', '--team', '--json']);
    assert.equal(report.code, 0, report.stderr);
    const byMember = (JSON.parse(report.stdout) as { byMember: Array<{ key: string; costMicros: number }> }).byMember;
    assert.deepEqual(byMember.map((m) => [m.key, m.costMicros]).sort(), [
      ['ana@x.dev', sum(anaRows)],
      ['ci@x.dev', sum(ciRows)],
    ]);
  });

  it('with the server stopped, runs go on against the offline allowance and say so; on restart the outbox ships once', async () => {
    const url = await pg.database();
    writePolicy(ws.folder, { timeZone: 'UTC', limits: { team: { monthlyUsd: 1 } } });
    const ana = machine('ana@x.dev');
    const first = await spend(ana, url);
    assert.equal(first.code, 0, first.stderr);
    const [online] = await localRows(ana);
    const allowance = Math.floor(0.1 * (1_000_000 - online!.costMicros));

    pg.server().stopNow('fast');
    try {
      const offline = await spend(ana, url);
      assert.equal(offline.code, 0, `the run goes on offline: ${offline.stderr}`);
      const rows = await localRows(ana);
      assert.equal(rows.length, 2);
      const offlineCost = rows.find((r) => r.id !== online!.id)!.costMicros;
      assert.ok(offlineCost <= allowance, `the offline call (${offlineCost} µ$) fits the allowance (${allowance} µ$)`);

      const status = await agentBudget(ana, url, ['status', '--json']);
      assert.equal(status.code, 0, status.stderr);
      const team = (JSON.parse(status.stdout) as { team: { online: boolean; offline: string } }).team;
      assert.equal(team.online, false);
      // The outage's allowance spans processes: what the earlier run spent offline is gone from it.
      const left = /^team ledger offline — \$(\d+\.\d+) offline allowance left$/.exec(team.offline);
      assert.ok(left, team.offline);
      assert.ok(
        Math.abs(Number(left[1]) * 1e6 - (allowance - offlineCost)) < 10_000,
        `${team.offline}: expected about ${(allowance - offlineCost) / 1e6}`,
      );
    } finally {
      pg.server().startNow();
    }

    // Back online: the outbox ships the offline row, and shipping it again (a lost cursor) counts nothing twice.
    const back = await agentBudget(ana, url, ['status', '--json']);
    assert.equal(back.code, 0, back.stderr);
    const rows = await localRows(ana);
    const expected = rows
      .map((e) => ({ id: e.id, member: ana.member, cost: e.costMicros }))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    assert.deepEqual(await teamRows(url), expected);
    const monthly = (JSON.parse(back.stdout) as { scopes: Array<{ scope: string; usedMicros: number }> }).scopes.find(
      (s) => s.scope === 'team.monthly',
    );
    assert.equal(monthly?.usedMicros, sum(rows));

    const stateDirs = await Workspace.open(ws.folder, { env: { AGENT_BUDGET_STATE_HOME: ana.home }, pollMs: 0 });
    const cursor = path.join(stateDirs.store.dir, OUTBOX_FILE);
    await stateDirs.close();
    writeFileSync(cursor, '{"watermark": "garbage"');
    const again = await agentBudget(ana, url, ['status', '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /could not be read .*every local ledger row is shipped again/);
    assert.deepEqual(await teamRows(url), expected);
    const reread = (JSON.parse(again.stdout) as { scopes: Array<{ scope: string; usedMicros: number }> }).scopes.find(
      (s) => s.scope === 'team.monthly',
    );
    assert.equal(reread?.usedMicros, sum(rows));
  });
});
