// What a member sees of the team in the budget panel, in the real workbench: after *Set Team Database…* the
// Overview's Team section shows the team's caps and the month's spend of every member, by member, workflow, model
// and client, with names other machines wrote shown as text. A real PostgreSQL server (test/support/postgres.ts);
// the other members' rows reach the ledger through its own API, as their machines' outboxes ship them.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PostgresTeamLedger } from '../../src/core/team/postgresLedger';
import type { TeamLedgerRow } from '../../src/core/team/types';
import { PostgresServer } from '../support/postgres';
import { useWorkbench } from './workbench';

/** Markup in a member name: the panel must show it as these characters, never run it. */
const HOSTILE = '<img src=x onerror="document.title=\'pwned\'">@x.dev';

function row(id: string, member: string, workflow: string, model: string, costMicros: number): TeamLedgerRow {
  return {
    id,
    reservationId: null,
    member,
    machine: 'another-laptop',
    ts: Date.now() - 60_000,
    workflow,
    provider: 'anthropic',
    model,
    client: 'agent-budget',
    runId: null,
    task: null,
    costMicros,
    estimated: false,
    usage: { input: 2000, output: 400, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
  };
}

describe('The team in the budget panel (real workbench, real PostgreSQL)', function () {
  let server: PostgresServer | undefined;
  let url = '';

  // Before the workbench's own hook: the server and the member must exist before VS Code starts.
  before(async function () {
    this.timeout(120_000);
    server = await PostgresServer.start();
    url = await server.createDatabase('e2e_team');
    const ledger = new PostgresTeamLedger({ url, timeZone: 'UTC' });
    try {
      await ledger.ship([
        row('bo-1', 'bo@x.dev', 'triage', 'claude-haiku-4-5', 1_300_000),
        row('bo-2', 'bo@x.dev', 'code-review', 'claude-sonnet-4-5', 200_000),
        row('eve-1', HOSTILE, 'explain', 'claude-haiku-4-5', 70_000),
      ]);
    } finally {
      await ledger.close();
    }
    // Who this window debits as: VS Code's environment (the server passes its own to the extension host).
    process.env.AGENT_BUDGET_TEAM_MEMBER = 'ana@x.dev';
  });

  after(async function () {
    this.timeout(60_000);
    delete process.env.AGENT_BUDGET_TEAM_MEMBER;
    await server?.stop();
  });

  const workbench = useWorkbench({
    prepare: ({ workspace }) => {
      // The team's caps, committed beside the demo's own.
      const file = path.join(workspace, '.agent-budget', 'budget.json');
      const policy = JSON.parse(readFileSync(file, 'utf8')) as { limits: Record<string, unknown> };
      policy.limits.team = { dailyUsd: 60, monthlyUsd: 800 };
      writeFileSync(file, JSON.stringify(policy, null, 2));
    },
  });

  it('after Set Team Database…, the Overview’s Team section shows the team’s caps and spend by member', async function () {
    this.timeout(120_000);
    const wb = workbench();
    await wb.runCommand('Agent Budget: Set Team Database…');
    await wb.waitForQuickInput('Agent Budget: team database');
    await wb.quickInputBox.fill(url);
    await wb.page.keyboard.press('Enter');
    await wb.notification('team database saved').waitFor({ state: 'visible', timeout: 20_000 });

    await wb.runCommand('Agent Budget: Open Budget Panel');
    const frame = await wb.frameShowing('Team by member', 60_000);
    const team = frame.locator('section.team');
    await team.locator('[data-team-dimension="member"]').getByText('bo@x.dev').waitFor({ state: 'visible' });
    const text = await team.innerText();
    assert.match(text, /you are ana@x\.dev/);
    assert.match(text, /team today/);
    assert.match(text, /\$60\.00/);
    assert.match(text, /team this month/);
    assert.match(text, /\$800\.00/);
    assert.match(text, /Team spend this month: \$1\.57/);
    assert.match(text, /bo@x\.dev\s+\$1\.50/);
    for (const heading of ['Team by member', 'Team by workflow', 'Team by model', 'Team by client'])
      assert.ok(text.includes(heading), `no "${heading}" in:\n${text}`);
    assert.ok(text.includes('triage') && text.includes('claude-sonnet-4-5'), text);
    // The hostile name is shown as its characters; nothing of it became an element or ran.
    assert.ok(text.includes(HOSTILE), `the member name is not shown as text:\n${text}`);
    assert.equal(await team.locator('img').count(), 0);
    assert.notEqual(await frame.evaluate<string>('document.title'), 'pwned');
  });
});
