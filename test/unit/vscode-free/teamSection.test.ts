// The budget panel's team section (src/vscode/teamSection.ts) read from a real PostgreSQL team ledger: the member's
// team scopes and the range's spend of every member; the meter's offline line while the server is down; a refusal as
// a line; names other machines wrote arrive cleaned; one reading at a time however often the panel asks.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../../src/core/clock';
import { PostgresTeamLedger } from '../../../src/core/team/postgresLedger';
import { Workspace } from '../../../src/core/workspace';
import { readTeamSection, TeamSectionReader } from '../../../src/vscode/teamSection';
import type { RangeId, TeamSection } from '../../../src/webview/protocol';
import { tempWorkspace, writePolicy } from '../runner/helpers';
import { NOON, row, usePostgres } from '../team/helpers';

const POLICY = {
  timeZone: 'UTC',
  limits: { team: { dailyUsd: 50, monthlyUsd: 800 } },
  team: { tiers: { senior: { dailyUsd: 20 } }, members: { 'ana@x.dev': 'senior' } },
};

describe('The panel’s team section, read from a real team ledger', function () {
  this.timeout(60_000);
  const pg = usePostgres();
  let ws: ReturnType<typeof tempWorkspace>;
  let states: string;
  let clock: ManualClock;
  const open: Array<{ close(): Promise<void> }> = [];

  beforeEach(() => {
    ws = tempWorkspace();
    writePolicy(ws.folder, POLICY);
    states = mkdtempSync(path.join(tmpdir(), 'ab-teamsection-'));
    clock = new ManualClock(NOON);
  });
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
    ws.cleanup();
    rmSync(states, { recursive: true, force: true });
  });

  async function ana(url: string): Promise<Workspace> {
    const workspace = await Workspace.open(ws.folder, {
      stateDir: path.join(states, 'ana'),
      clock,
      pollMs: 0,
      team: { connection: { url, member: 'ana@x.dev' }, machine: 'ana-laptop', connectTimeoutMs: 2_000 },
    });
    open.push(workspace);
    return workspace;
  }

  /** Rows another machine shipped to the team ledger (as its outbox would). */
  async function shipFromAnotherMachine(url: string, ...rows: ReturnType<typeof row>[]): Promise<void> {
    const ledger = new PostgresTeamLedger({ url, timeZone: 'UTC' });
    try {
      await ledger.ship(rows);
    } finally {
      await ledger.close();
    }
  }

  it('shows the team scopes and the range’s spend by member, workflow, model and client', async () => {
    const url = await pg.database();
    const workspace = await ana(url);
    clock.advance(1_000);
    await workspace.engine.chargeTool({
      workflow: 'review',
      runId: null,
      taskId: null,
      task: null,
      tool: 'runCommand',
      usd: 0.25,
    });
    await shipFromAnotherMachine(
      url,
      row({
        member: 'bo@x.dev',
        machine: 'ci',
        workflow: 'triage',
        model: 'gpt-5-mini',
        client: 'cursor',
        costMicros: 100_000,
      }),
      row({ member: 'bo@x.dev', machine: 'ci', workflow: 'triage', costMicros: 50_000, estimated: true }),
      // Last month: outside "this month", inside "last month".
      row({ member: 'cy@x.dev', ts: Date.UTC(2026, 9, 30, 12), costMicros: 70_000 }),
    );

    const team = await readTeamSection(workspace.team!, 'month', clock.now());
    assert.equal(team.state, 'online');
    assert.equal(team.message, null);
    assert.equal(team.member, 'ana@x.dev');
    assert.equal(team.tier, 'senior');
    const spend = team.spend!;
    assert.deepEqual(
      { range: spend.range, fromDay: spend.fromDay, toDay: spend.toDay, timeZone: spend.timeZone },
      { range: 'month', fromDay: '2026-11-01', toDay: '2026-11-22', timeZone: 'UTC' },
    );
    assert.deepEqual(
      spend.by.member.map((r) => [r.key, r.costMicros, r.estimatedMicros, r.calls]),
      [
        ['ana@x.dev', 250_000, 0, 1],
        ['bo@x.dev', 150_000, 50_000, 2],
      ],
    );
    assert.deepEqual(spend.total, {
      costMicros: 400_000,
      estimatedMicros: 50_000,
      calls: 3,
      tokens: spend.by.member.reduce((n, r) => n + r.tokens, 0),
    });
    assert.deepEqual(
      spend.by.workflow.map((r) => [r.key, r.costMicros]),
      [
        ['review', 250_000],
        ['triage', 150_000],
      ],
    );
    assert.ok(spend.by.model.some((r) => r.key === 'gpt-5-mini' && r.costMicros === 100_000));
    assert.ok(spend.by.client.some((r) => r.key === 'cursor' && r.costMicros === 100_000));
    // The team's scopes as the meter shows them: the team's, and hers by tier.
    const daily = team.scopes.find((s) => s.scope === 'team.daily')!;
    assert.deepEqual(
      { used: daily.usedMicros, limit: daily.limitMicros, label: daily.label, resetsAt: daily.resetsAt },
      { used: 400_000, limit: 50_000_000, label: 'team today', resetsAt: Date.UTC(2026, 10, 23) },
    );
    const hers = team.scopes.find((s) => s.scope === 'team.member.senior.daily')!;
    assert.equal(hers.usedMicros, 250_000);
    assert.equal(hers.label, 'your team cap today');
    assert.equal(team.scopesAt, clock.now());

    const lastMonth = await readTeamSection(workspace.team!, 'lastMonth', clock.now());
    assert.deepEqual(
      lastMonth.spend!.by.member.map((r) => [r.key, r.costMicros]),
      [['cy@x.dev', 70_000]],
    );
    assert.equal(lastMonth.spend!.fromDay, '2026-10-01');
  });

  it('cleans names another machine wrote: direction overrides and controls become spaces, long names are cut', async () => {
    const url = await pg.database();
    const workspace = await ana(url);
    await shipFromAnotherMachine(
      url,
      row({ member: 'eve\u202e@x.dev\u0007', costMicros: 2_000 }),
      row({ member: 'x'.repeat(5_000), costMicros: 1_000 }),
    );
    const team = await readTeamSection(workspace.team!, 'today', clock.now());
    assert.equal(team.state, 'online');
    assert.deepEqual(
      team.spend!.by.member.map((r) => r.key),
      ['eve @x.dev ', `${'x'.repeat(119)}…`],
    );
  });

  it('says the ledger refused, as a line with why, and shows nothing else', async () => {
    const url = await pg.database();
    const workspace = await ana(url.replace(/\/[^/?]+(\?|$)/, '/no_such_database$1'));
    const team = await readTeamSection(workspace.team!, 'month', clock.now());
    assert.equal(team.state, 'error');
    assert.match(team.message!, /no_such_database/);
    assert.equal(team.spend, null);
    assert.deepEqual(team.scopes, []);
  });

  it('one reading at a time: asked three times during one, it reads once more after it, for the newest range', async () => {
    const url = await pg.database();
    const workspace = await ana(url);
    let range: RangeId = 'month';
    const delivered: Array<[RangeId, TeamSection['state']]> = [];
    const reader = new TeamSectionReader(
      () => ({ team: workspace.team, range }),
      (_team, r, section) => delivered.push([r, section.state]),
      () => clock.now(),
    );
    assert.equal(reader.current(undefined, 'month'), null, 'no team ledger, no section');
    assert.equal(reader.current(workspace.team, 'month')!.state, 'reading');
    reader.read();
    range = '7d';
    reader.read();
    range = 'today';
    reader.read();
    reader.read();
    await reader.idle;
    assert.deepEqual(delivered, [
      ['month', 'online'],
      ['today', 'online'],
    ]);
    assert.equal(reader.current(workspace.team, 'today')!.spend!.range, 'today');
    assert.equal(reader.current(workspace.team, 'month')!.state, 'reading', 'a reading is of its range only');
  });

  // Last: it stops the suite's server (and starts it again).
  it('with the server stopped, says the ledger is offline with the allowance left, and the scopes as last read', async () => {
    const url = await pg.database();
    const workspace = await ana(url);
    const online = await readTeamSection(workspace.team!, 'month', clock.now());
    assert.equal(online.state, 'online');
    const readAt = online.scopesAt;
    pg.server().stopNow('fast');
    try {
      clock.advance(60_000);
      const team = await readTeamSection(workspace.team!, 'month', clock.now());
      assert.equal(team.state, 'offline');
      // 10 % of the tightest cap's room ($20 of her tier), at most $1.00 an outage: the meter's words.
      assert.equal(team.message, 'team ledger offline — $1.00 offline allowance left');
      assert.equal(team.spend, null);
      assert.equal(team.scopesAt, readAt);
      assert.ok(team.scopes.some((s) => s.scope === 'team.monthly'));
    } finally {
      pg.server().startNow();
    }
  });
});
