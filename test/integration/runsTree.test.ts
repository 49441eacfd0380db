// The Runs view in the real extension host: runs grouped by status with what needs attention first, cost and
// time on each, context values that drive the inline actions, the badge counting runs to resume, and the
// actions Open output and Reveal in panel.
import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { newId } from '../../src/core/processIdentity';
import type { RunState, RunStatus } from '../../src/core/store/records';
import type { Workspace } from '../../src/core/workspace';
import type { AgentBudgetApi } from '../../src/vscode/extension';
import { Commands, RunContext } from '../../src/vscode/ids';
import type { RunsTreeNode } from '../../src/vscode/runsTree';
import { activeApi, closeAllEditors, waitFor } from './helpers';

/** Whether the `viewItem` condition of a menu's when clause (`viewItem == x` or `viewItem =~ /re/`) holds for `value`. */
function viewItemMatches(when: string, value: string): boolean {
  const equal = /viewItem == ([\w.]+)/.exec(when);
  if (equal) return equal[1] === value;
  const regex = /viewItem =~ \/(.+?)\/(?:\s|$)/.exec(when);
  assert.ok(regex, `no viewItem condition in ${when}`);
  return new RegExp(regex[1]!).test(value);
}

describe('Runs view (real extension host)', () => {
  let api: AgentBudgetApi;
  let workspace: Workspace;
  const ids: Record<string, string> = {};

  async function putRun(key: string, status: RunStatus, workflow: string, costMicros = 0): Promise<void> {
    const now = Date.now();
    ids[key] ??= newId(now);
    const run: RunState = {
      id: ids[key]!,
      workflow,
      status,
      title: `${workflow} of tree test`,
      createdAt: now,
      updatedAt: now,
      rev: workspace.store.nextRev(),
      owner: workspace.store.ownerId,
      parentRunId: null,
      variant: null,
      data: { error: status === 'failed' ? 'boom' : undefined },
    };
    const records: Parameters<typeof workspace.store.commit>[0] = [{ k: 'run', run }];
    if (costMicros) {
      records.push({
        k: 'ledger',
        entry: {
          id: newId(now),
          ts: now,
          provider: 'anthropic',
          model: 'claude-haiku-4-5',
          workflow,
          runId: run.id,
          taskId: null,
          task: 'review',
          tool: null,
          variant: null,
          usage: { input: 100, output: 50, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
          costMicros,
          estimated: false,
          requestId: null,
          latencyMs: null,
          reservationId: null,
          reservedMicros: null,
          estimatedInputTokens: null,
        },
      });
    }
    await workspace.store.commit(records);
  }

  const labelOf = (node: RunsTreeNode) => api.runsTree.getTreeItem(node).label as string;

  before(async () => {
    api = await activeApi();
    workspace = await api.workspace.ready;
    await putRun('done', 'completed', 'tree-done', 123_400);
    await putRun('blocked', 'blocked', 'tree-blocked', 50_000);
    await putRun('interrupted', 'interrupted', 'tree-interrupted');
    await putRun('running', 'running', 'tree-running');
    await putRun('cancelled', 'cancelled', 'tree-cancelled');
  });

  after(closeAllEditors);

  it('groups runs: running first, then those to resume, then the finished', async () => {
    await waitFor('the tree to list the runs', () => api.runsTree.getChildren().length === 3);
    const groups = api.runsTree.getChildren();
    assert.deepEqual(groups.map(labelOf), ['Running', 'To resume', 'Finished']);
    const [running, resumable, finished] = groups.map((g) => api.runsTree.getChildren(g));
    assert.ok(running!.some((n) => n.kind === 'run' && n.run.id === ids.running));
    assert.deepEqual(
      resumable!.filter((n) => n.kind === 'run' && (n.run.id === ids.blocked || n.run.id === ids.interrupted)).length,
      2,
    );
    assert.ok(finished!.some((n) => n.kind === 'run' && n.run.id === ids.done));
  });

  it('shows workflow, cost and time, with context values for the inline actions', async () => {
    const all = api.runsTree.getChildren().flatMap((g) => api.runsTree.getChildren(g));
    const item = (key: string) => api.runsTree.getTreeItem(all.find((n) => n.kind === 'run' && n.run.id === ids[key])!);
    const done = item('done');
    assert.equal(done.label, 'tree-done');
    // What it ran on (its title), its cost and how long ago: runs of one workflow tell apart.
    assert.match(String(done.description), /^tree-done of tree test · \$0\.12 · (just now|\d+ min ago)$/);
    assert.equal(done.contextValue, RunContext.completed);
    assert.equal(item('cancelled').contextValue, RunContext.finished);
    assert.equal(item('blocked').contextValue, RunContext.resumable);
    assert.equal(item('interrupted').contextValue, RunContext.resumable);
    assert.equal(item('running').contextValue, RunContext.running);
    assert.deepEqual(done.command?.arguments, [ids.done]);
    // The manifest's inline menus key on these context values.
    const menus = vscode.extensions.all.find((e) => e.packageJSON.name === 'agent-budget')!.packageJSON.contributes
      .menus['view/item/context'] as Array<{ command: string; when: string; group: string }>;
    const resume = menus.find((m) => m.command === Commands.resumeRun)!;
    assert.match(resume.when, /viewItem == run\.resumable/);
    assert.match(resume.group, /^inline/);
    for (const c of [Commands.cancelRun, Commands.openRunOutput, Commands.revealRunInPanel])
      assert.ok(
        menus.some((m) => m.command === c && m.group.startsWith('inline')),
        c,
      );
    // Open output and Reveal apply to every run, completed or not.
    for (const c of [Commands.openRunOutput, Commands.revealRunInPanel]) {
      const when = menus.find((m) => m.command === c)!.when;
      for (const value of [RunContext.running, RunContext.resumable, RunContext.completed, RunContext.finished])
        assert.ok(viewItemMatches(when, value), `${c} is not offered on ${value}`);
    }
    // Mark Run Result… only on a completed run: a cancelled or failed one has no result (the command refuses it).
    const mark = menus.find((m) => m.command === Commands.markRunResult)!;
    assert.equal(viewItemMatches(mark.when, RunContext.completed), true, mark.when);
    for (const value of [RunContext.finished, RunContext.resumable, RunContext.running])
      assert.equal(viewItemMatches(mark.when, value), false, `${mark.when} matches ${value}`);
  });

  it('badges the view with the number of runs to resume, and follows changes', async () => {
    const count = () =>
      workspace.store.queries.listRuns({ status: ['interrupted', 'blocked', 'paused', 'failed'] }).length;
    await waitFor('the badge', () => api.runsTree.view.badge?.value === count());
    const before = count();
    await putRun('interrupted', 'completed', 'tree-interrupted');
    await waitFor(
      'the badge to drop by one',
      () => api.runsTree.view.badge?.value === before - 1 || (before === 1 && !api.runsTree.view.badge),
    );
    assert.match(api.runsTree.view.badge?.tooltip ?? 'none', /run(s)? to resume|none/);
  });

  it('Open opens the run in its view, and opening it again reuses the tab', async () => {
    await vscode.commands.executeCommand(Commands.openRunOutput, { kind: 'run', run: { id: ids.blocked } });
    await waitFor('the run view', () => api.runViews.isOpen(ids.blocked) || undefined);
    const model = api.runViews.model(ids.blocked)!;
    assert.equal(model.status, 'blocked');
    assert.equal(model.costMicros, 50_000);
    assert.equal(model.canResume, true);
    const tabs = () =>
      vscode.window.tabGroups.all
        .flatMap((g) => g.tabs)
        .filter((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith('agentBudget.run'));
    const count = tabs().length;
    await vscode.commands.executeCommand(Commands.openRunOutput, ids.blocked);
    assert.equal(tabs().length, count, 'one tab per run');
  });

  it('Reveal in panel opens the panel on the runs tab', async function () {
    this.timeout(30_000);
    await vscode.commands.executeCommand(Commands.revealRunInPanel, { kind: 'run', run: { id: ids.blocked } });
    assert.ok(api.panel.isOpen);
    assert.equal(api.panel.state.tab, 'runs');
    const snapshot = await waitFor(
      'a snapshot listing the run',
      () => api.panel.lastSnapshot?.runs.find((r) => r.id === ids.blocked),
      20_000,
    );
    assert.equal(snapshot.resumable, true);
  });
});
