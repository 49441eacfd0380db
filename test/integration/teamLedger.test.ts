// The team ledger in the real extension host: *Set Team Database…* keeps the connection string in SecretStorage,
// the workspace makes its team ledger from it (and drops it when cleared), and the meter's tooltip shows who the
// window debits as, the team's scopes, and the offline allowance while the server is down. A real PostgreSQL server
// (Debian's package, started by the test as an unprivileged user; test/support/postgres.ts).
import assert from 'node:assert/strict';
import type { Workspace } from '../../src/core/workspace';
import type { AgentBudgetApi } from '../../src/vscode/extension';
import { PostgresServer } from '../support/postgres';
import { activeApi, policyUri, readText, waitFor, writeText } from './helpers';

describe('Team ledger (real extension host)', function () {
  this.timeout(180_000);
  let api: AgentBudgetApi;
  let workspace: Workspace;
  let server: PostgresServer;
  let original: string | undefined;

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
    await server?.stop();
  });

  it('without a team database the meter says the team caps are ignored, and offers to set one', () => {
    assert.equal(workspace.team, undefined);
    const state = api.meter.redraw();
    assert.match(state.tooltip, /\*\*Team ledger\*\* — not set: the team caps in budget\.json are ignored/);
    assert.match(state.tooltip, /\[Set Team Database…\]\(command:agentBudget\.setTeamDatabase\)/);
  });

  it('a connection string in SecretStorage makes the team ledger; the meter lists its scopes and the member', async () => {
    const url = await server.createDatabase('vscode_team');
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
