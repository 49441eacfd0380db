// The status-bar budget meter in the real extension host: text, colours and tooltip at each threshold, an invalid
// policy, policy reload from the file watcher, and spend written by another store instance on the same folder
// (the path another window or the CLI takes: the shared journal, tailed by fs.watch and a poll).
import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { formatUsd } from '../../src/core/money';
import { dayKey } from '../../src/core/policy/periods';
import { newId } from '../../src/core/processIdentity';
import { WorkspaceStore } from '../../src/core/store/store';
import type { Workspace } from '../../src/core/workspace';
import type { MeterState } from '../../src/vscode/budgetMeter';
import type { AgentBudgetApi } from '../../src/vscode/extension';
import { Commands, METER_ID } from '../../src/vscode/ids';
import {
  activeApi,
  NO_USER_CAPS,
  policyUri,
  readText,
  setCaps,
  setUserPolicy,
  spend,
  waitFor,
  writeText,
} from './helpers';

describe('Budget meter (real extension host)', () => {
  let api: AgentBudgetApi;
  let workspace: Workspace;
  let original: string | undefined;

  before(async () => {
    api = await activeApi();
    workspace = await api.workspace.ready;
    original = await readText(policyUri());
    // The caps these tests set in budget.json go above the built-in $5 a day: the user's own policy has none.
    await setUserPolicy(workspace, NO_USER_CAPS);
    await setCaps(workspace, { dailyUsd: 1000, weeklyUsd: 2000, monthlyUsd: 5000 });
    await spend(workspace, 1);
  });

  after(async () => {
    if (original !== undefined) await writeText(policyUri(), original);
    await setUserPolicy(workspace, undefined);
  });

  /** Today's workspace spend in µ$, as the engine counts it. */
  const usedToday = () => workspace.engine.status().find((s) => s.scope === 'workspace.daily')!.used;

  /** Sets the daily cap so today's spend is `pct` % of it (other caps off), and redraws. */
  async function atPct(pct: number): Promise<{ state: MeterState; capMicros: number }> {
    const used = usedToday();
    const capUsd = Math.round(used / (pct / 100)) / 1e6;
    await setCaps(workspace, { dailyUsd: capUsd });
    return { state: api.meter.redraw(), capMicros: Math.round(capUsd * 1e6) };
  }

  it('is always there, named "Agent Budget", and opens the panel on click', async () => {
    const state = api.meter.redraw();
    assert.match(state.text, /^\$\(pulse\) \$\d+\.\d{2} \/ \$[\d.,]+ today$/);
    assert.equal(state.command, Commands.openPanel);
    assert.ok(METER_ID);
  });

  it('below 75 %: the tightest scope, no background colour', async () => {
    const { state, capMicros } = await atPct(50);
    assert.equal(state.text, `$(pulse) ${formatUsd(usedToday())} / ${formatUsd(capMicros)} today`);
    assert.equal(state.background, undefined);
    assert.equal(state.level, 'ok');
    assert.equal(state.scope, 'workspace.daily');
  });

  it('at 75 % or more: warning background', async () => {
    const { state } = await atPct(80);
    assert.equal(state.level, 'warn');
    assert.equal(state.background, 'statusBarItem.warningBackground');
  });

  it('at 90 % or more: error background', async () => {
    const { state } = await atPct(95);
    assert.equal(state.level, 'critical');
    assert.equal(state.background, 'statusBarItem.errorBackground');
  });

  it('at the cap: blocked, error background, tooltip says so', async () => {
    const { state } = await atPct(100);
    assert.equal(state.level, 'blocked');
    assert.equal(state.background, 'statusBarItem.errorBackground');
    assert.match(state.tooltip, /\$\(error\)/);
  });

  it("holds the workspace's figure while a workflow's cap is fuller, and lists every scope with its reset time", async () => {
    const used = usedToday();
    const today = dayKey(Date.now(), 'UTC');
    const ownUse = workspace.store.queries.totals(
      { fromDay: today, toDay: today },
      { workflow: 'integration' },
    ).costMicros;
    // Daily at 10 %, monthly at most 20 %, the "integration" workflow's own daily cap at 50 %.
    await setCaps(
      workspace,
      { dailyUsd: (used * 10) / 1e6, monthlyUsd: (used * 5) / 1e6 },
      { workflows: { integration: { limits: { dailyUsd: (ownUse * 2) / 1e6 } } } },
    );
    const state = api.meter.redraw();
    // The figure is the workspace's (its tighter period, the month); the workflow's cap is in the tooltip.
    assert.equal(state.scope, 'workspace.monthly');
    assert.match(state.text, / this month$/);
    assert.doesNotMatch(state.text, /integration/);
    // One tooltip row per scope: used, limit, percentage and a local reset time.
    for (const label of ['today', 'this month', 'integration today'])
      assert.match(state.tooltip, new RegExp(`\\| ${label} \\|`));
    const daily = workspace.engine.status().find((s) => s.scope === 'workspace.daily')!;
    assert.ok(state.tooltip.includes(formatUsd(daily.limit!)), state.tooltip);
    assert.match(state.tooltip, /\d{1,2}:\d{2}(\s?[AP]M)? \|/);
    assert.match(state.tooltip, /command:agentBudget\.openPanel/);
  });

  it('an invalid budget.json turns it red, says why in the tooltip, and opens budget.json on click', async () => {
    await writeText(policyUri(), '{ "limits": { "task": { "hardTokens": "12k" } } }');
    await workspace.reloadPolicy();
    const state = api.meter.redraw();
    assert.equal(state.text, '$(error) Budget policy invalid');
    assert.equal(state.background, 'statusBarItem.errorBackground');
    assert.equal(state.command, Commands.editPolicy);
    assert.match(state.tooltip, /limits\.task\.hardTokens/);
    // The same problem is a diagnostic on the file.
    const diagnostics = await waitFor('a diagnostic on budget.json', () => {
      const d = vscode.languages
        .getDiagnostics(policyUri())
        .filter((x) => x.source === 'Agent Budget' && /hardTokens/.test(x.message));
      return d.length > 0 ? d : undefined;
    });
    assert.equal(diagnostics[0]!.severity, vscode.DiagnosticSeverity.Error);
    assert.match(diagnostics[0]!.message, /hardTokens/);
    assert.equal(diagnostics[0]!.range.start.line, 0);
  });

  it('follows budget.json edits through the file watcher (no explicit reload)', async () => {
    await setCaps(workspace, { dailyUsd: 1000 });
    const drawn = new Promise<MeterState>((resolve) => {
      const sub = api.meter.onDidDraw((s) => {
        if (s.text.includes('$7.00')) {
          sub.dispose();
          resolve(s);
        }
      });
    });
    await writeText(
      policyUri(),
      JSON.stringify({ timeZone: 'UTC', limits: { workspace: { dailyUsd: 7, weeklyUsd: null, monthlyUsd: null } } }),
    );
    const state = await Promise.race([
      drawn,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('the meter did not follow the edit within 5 s')), 5000),
      ),
    ]);
    assert.match(state.text, /\/ \$7\.00 today$/);
    assert.equal(vscode.languages.getDiagnostics(policyUri()).filter((x) => x.source === 'Agent Budget').length, 0);
  });

  it('updates within a second when another store instance (another window, the CLI) spends on this folder', async () => {
    await setCaps(workspace, { dailyUsd: 1000 });
    api.meter.redraw();
    const before = usedToday();
    const other = await WorkspaceStore.open({
      dir: workspace.store.dir,
      pollMs: 200,
      owner: `other-window:${process.pid}:${newId()}`,
    });
    try {
      const expected = `$(pulse) ${formatUsd(before + 2_500_000)} / ${formatUsd(1_000_000_000)} today`;
      const seen = new Promise<number>((resolve) => {
        const sub = api.meter.onDidDraw((s) => {
          if (s.text === expected) {
            sub.dispose();
            resolve(Date.now());
          }
        });
      });
      const now = Date.now();
      const started = Date.now();
      await other.commit([
        {
          k: 'ledger',
          entry: {
            id: newId(now),
            ts: now,
            provider: 'tool',
            model: 'runCommand',
            workflow: 'other-window',
            runId: null,
            taskId: null,
            task: null,
            tool: 'runCommand',
            variant: null,
            usage: { input: 0, output: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
            costMicros: 2_500_000,
            estimated: false,
            requestId: null,
            latencyMs: null,
            reservationId: null,
            reservedMicros: null,
            estimatedInputTokens: null,
          },
        },
      ]);
      const at = await Promise.race([
        seen,
        new Promise<never>((_, reject) =>
          setTimeout(
            () => reject(new Error(`the meter did not show ${expected} within 3 s (shows ${api.meter.current.text})`)),
            3000,
          ),
        ),
      ]);
      assert.ok(at - started < 1000, `the meter took ${at - started} ms`);
    } finally {
      await other.close();
    }
  });
});
