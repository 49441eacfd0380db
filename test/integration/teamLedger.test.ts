// The team ledger in the real extension host: *Set Team Database…* keeps the connection string in SecretStorage,
// the workspace makes its team ledger from it (and drops it when cleared), the meter's tooltip shows who the
// window debits as, the team's scopes, and the offline allowance while the server is down, and the budget panel's
// team section breaks the team's spend down by member after the snapshot is painted. A real PostgreSQL server
// (Debian's package, started by the test as an unprivileged user; test/support/postgres.ts).
import assert from 'node:assert/strict';
import pg from 'pg';
import * as vscode from 'vscode';
import { PostgresTeamLedger } from '../../src/core/team/postgresLedger';
import type { Workspace } from '../../src/core/workspace';
import type { AgentBudgetApi } from '../../src/vscode/extension';
import { Commands } from '../../src/vscode/ids';
import type { HostMessage, RangeId, TeamSection } from '../../src/webview/protocol';
import { PostgresServer } from '../support/postgres';
import { activeApi, closeAllEditors, policyUri, readText, spend, waitFor, writeText } from './helpers';

/** Opens the budget panel afresh and returns once the page has painted its first snapshot. */
async function openPanel(api: AgentBudgetApi): Promise<void> {
  // A panel left open behind other editors by an earlier suite reloads its page when revealed: start from none.
  await closeAllEditors();
  await waitFor('the panel to close', () => !api.panel.isOpen, 10_000);
  let sub: vscode.Disposable | undefined;
  const painted = new Promise((resolve) => (sub = api.panel.onDidPaint(resolve)));
  try {
    await vscode.commands.executeCommand(Commands.openPanel);
    await Promise.race([
      painted,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('the panel never reported painting its first snapshot')), 45_000),
      ),
    ]);
  } finally {
    sub?.dispose();
  }
}

/** Every message the panel posts while `during` runs and until `until` matches one of them. */
async function postsUntil(
  api: AgentBudgetApi,
  during: () => Promise<unknown>,
  until: (m: HostMessage) => boolean,
  what: string,
): Promise<HostMessage[]> {
  const posted: HostMessage[] = [];
  const sub = api.panel.onDidPost((m) => posted.push(m));
  try {
    await during();
    await waitFor(what, () => posted.some(until), 30_000);
    return posted;
  } finally {
    sub.dispose();
  }
}

const teamMessage = (m: HostMessage, match: (t: TeamSection) => boolean): boolean => m.type === 'team' && match(m.team);

describe('Team ledger (real extension host)', function () {
  this.timeout(180_000);
  let api: AgentBudgetApi;
  let workspace: Workspace;
  let server: PostgresServer;
  let original: string | undefined;
  /** The team database the window is set to (by the test that sets it). */
  let teamUrl = '';

  before(async function () {
    this.timeout(180_000);
    server = await PostgresServer.start();
    api = await activeApi();
    workspace = await api.workspace.ready;
    original = await readText(policyUri());
    // Who this window debits as: VS Code's environment, as for the CLI (the test folder has no git identity).
    process.env.AGENT_BUDGET_TEAM_MEMBER = 'ana@x.dev';
    await writeText(policyUri(), JSON.stringify({ timeZone: 'UTC', limits: { team: { dailyUsd: 50 } } }, null, 2));
    const error = await workspace.reloadPolicy();
    assert.equal(error, undefined, error?.message);
  });

  after(async function () {
    this.timeout(60_000);
    await api.teamDatabase.set(undefined);
    await waitFor('the team ledger dropped', () => workspace.team === undefined, 10_000);
    if (original !== undefined) await writeText(policyUri(), original);
    await workspace.reloadPolicy();
    delete process.env.AGENT_BUDGET_TEAM_MEMBER;
    await closeAllEditors();
    await server?.stop();
  });

  it('without a team database the meter says the team caps are ignored, and offers to set one', () => {
    assert.equal(workspace.team, undefined);
    const state = api.meter.redraw();
    assert.match(state.tooltip, /\*\*Team ledger\*\* — not set: the team caps in budget\.json are ignored/);
    assert.match(state.tooltip, /\[Set Team Database…\]\(command:agentBudget\.setTeamDatabase\)/);
  });

  it('without a team database the budget panel has no team section', async function () {
    this.timeout(60_000);
    await openPanel(api);
    const posted = await postsUntil(
      api,
      () => api.panel.refresh(),
      (m) => m.type === 'snapshot',
      'a snapshot',
    );
    const snapshot = posted.find((m) => m.type === 'snapshot');
    assert.ok(snapshot?.type === 'snapshot');
    assert.equal(snapshot.snapshot.team, null);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!posted.some((m) => m.type === 'team'), 'a team message without a team ledger');
  });

  it('a connection string in SecretStorage makes the team ledger; the meter lists its scopes and the member', async () => {
    teamUrl = await server.createDatabase('vscode_team');
    const url = teamUrl;
    await api.teamDatabase.set(url);
    const team = await waitFor('the workspace to make its team ledger', () => workspace.team, 10_000);
    assert.equal(team.member, 'ana@x.dev');
    await waitFor(
      'the team scopes read from the ledger',
      async () => {
        await api.meter.readTeam();
        return workspace.team?.latest;
      },
      30_000,
    );
    const state = api.meter.redraw();
    assert.match(state.tooltip, /\*\*Team ledger\*\* — as ana@x\.dev/);
    assert.match(state.tooltip, /\| team today \| \$0\.00 \| {2}\| \$50\.00 \| 0% \|/);
    assert.doesNotMatch(state.text, /team offline/);
  });

  it('the budget panel’s team section breaks the team’s spend down by member, after the snapshot it follows', async function () {
    this.timeout(90_000);
    const url = teamUrl;
    // Another machine of the team: its rows reach the ledger through the ledger's own API, as its outbox ships them.
    // (node-postgres from node_modules: the extension's own copy is dist/pgDriver.js, beside its bundle, not this one.)
    const other = new PostgresTeamLedger({ url, timeZone: 'UTC', driver: pg });
    try {
      await other.ship([
        {
          id: 'bo-ci-1',
          reservationId: null,
          member: 'bo@x.dev',
          machine: 'ci',
          ts: Date.now(),
          workflow: 'triage',
          provider: 'openai',
          model: 'gpt-5-mini',
          client: 'agent-budget',
          runId: null,
          task: null,
          costMicros: 120_000,
          estimated: false,
          usage: { input: 1000, output: 200, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
        },
      ]);
    } finally {
      await other.close();
    }
    // This machine's own spend: it lands in the local store and ships from its outbox.
    await spend(workspace, 0.25, 'team-panel', 'runCommand');
    await openPanel(api);
    const both = (t: TeamSection) =>
      t.state === 'online' &&
      ['ana@x.dev', 'bo@x.dev'].every((member) => t.spend?.by.member.some((r) => r.key === member));
    const posted = await postsUntil(
      api,
      () => api.panel.refresh(),
      (m) => teamMessage(m, both),
      'the team section with both members',
    );
    const snapshotAt = posted.findIndex((m) => m.type === 'snapshot');
    const teamAt = posted.findIndex((m) => teamMessage(m, both));
    assert.ok(snapshotAt >= 0 && snapshotAt < teamAt, 'the snapshot goes out first; the team ledger’s reading follows');
    const team = api.panel.lastSnapshot!.team!;
    assert.equal(team.member, 'ana@x.dev');
    const members = new Map(team.spend!.by.member.map((r) => [r.key, r.costMicros]));
    assert.ok(members.get('ana@x.dev')! >= 250_000, JSON.stringify(team.spend));
    assert.equal(members.get('bo@x.dev'), 120_000);
    assert.ok(team.spend!.by.workflow.some((r) => r.key === 'triage' && r.costMicros === 120_000));
    assert.ok(team.spend!.by.workflow.some((r) => r.key === 'team-panel'));
    assert.ok(team.spend!.by.model.some((r) => r.key === 'gpt-5-mini'));
    assert.equal(team.spend!.range, api.panel.state.range);
    const daily = team.scopes.find((s) => s.scope === 'team.daily');
    assert.ok(daily && daily.limitMicros === 50_000_000 && daily.usedMicros >= 370_000, JSON.stringify(team.scopes));

    // The range picker reads it again for the new range (another than the one the panel kept from earlier tests).
    const next: RangeId = api.panel.state.range === 'today' ? '30d' : 'today';
    const again = await postsUntil(
      api,
      () => api.panel.receive({ type: 'view', state: { range: next, tab: 'overview' } }),
      (m) => teamMessage(m, (t) => t.spend?.range === next),
      `the team section for ${next}`,
    );
    assert.ok(again.some((m) => m.type === 'snapshot' && m.snapshot.range === next));
    assert.ok(both(api.panel.lastSnapshot!.team!), JSON.stringify(api.panel.lastSnapshot!.team));
  });

  it('with the server stopped, the panel’s team section says offline with the allowance left', async function () {
    this.timeout(90_000);
    server.stopNow('fast');
    try {
      await postsUntil(
        api,
        () => api.panel.refresh(),
        (m) => teamMessage(m, (t) => t.state === 'offline'),
        'the team section to say offline',
      );
      const team = api.panel.lastSnapshot!.team!;
      assert.match(team.message!, /^team ledger offline — \$\d+\.\d\d offline allowance left$/);
      assert.equal(team.spend, null);
      assert.ok(
        team.scopes.some((s) => s.scope === 'team.daily'),
        'the scopes as last read stay',
      );
    } finally {
      server.startNow();
    }
  });

  it('with the server stopped, the meter says the team ledger is offline and how much allowance is left', async () => {
    server.stopNow('fast');
    try {
      const state = await waitFor(
        'the meter to say the team ledger is offline',
        async () => {
          await api.meter.readTeam();
          const s = api.meter.redraw();
          return /team ledger offline — \$1\.00 offline allowance left/.test(s.tooltip) ? s : undefined;
        },
        30_000,
      );
      // 10 % of the $50 left, at most $1.00 an outage (README "Team budgets").
      assert.match(state.text, / · team offline$/);
    } finally {
      server.startNow();
    }
  });
});
