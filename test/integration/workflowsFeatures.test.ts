// Sub-agents and experiments where a user sees them: the Runs view lists a run's steps and sub-agents under it
// with their costs (a fan-out's includes its sub-agents'), and Promote Variant writes an experiment's winner into
// budget.json as an edit the user sees, can undo, and that ends the experiment.
import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { newId } from '../../src/core/processIdentity';
import { experimentId } from '../../src/core/runner/experiments';
import type { LedgerEntry, RunState, StoreRecord, TaskState } from '../../src/core/store/records';
import type { Workspace } from '../../src/core/workspace';
import type { AgentBudgetApi } from '../../src/vscode/extension';
import { Commands } from '../../src/vscode/ids';
import type { RunsTreeNode } from '../../src/vscode/runsTree';
import { activeApi, closeAllEditors, policyUri, readText, waitFor, writeText } from './helpers';

function ledger(workflow: string, runId: string, taskId: string, task: string, costMicros: number): StoreRecord {
  const now = Date.now();
  const entry: LedgerEntry = {
    id: newId(now),
    ts: now,
    provider: 'anthropic',
    model: 'claude-haiku-4-5',
    workflow,
    runId,
    taskId,
    task,
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
  };
  return { k: 'ledger', entry };
}

function run(workspace: Workspace, workflow: string, status: RunState['status'], data: unknown = {}): RunState {
  const now = Date.now();
  return {
    id: newId(now),
    workflow,
    status,
    title: workflow,
    createdAt: now,
    updatedAt: now,
    rev: workspace.store.nextRev(),
    owner: workspace.store.ownerId,
    parentRunId: null,
    variant: null,
    data,
  };
}

let created = Date.now();

function task(workspace: Workspace, r: RunState, name: string, parent: string | null, item?: string): TaskState {
  // Created one after the other, as the runner creates a fan-out's sub-agents (the view lists them in that order).
  const now = (created = Math.max(Date.now(), created + 1));
  return {
    id: newId(now),
    runId: r.id,
    name,
    parentTaskId: parent,
    status: 'completed',
    createdAt: now,
    updatedAt: now,
    rev: workspace.store.nextRev(),
    data: { model: 'claude-haiku-4-5', provider: 'anthropic', ...(item ? { item } : {}) },
  };
}

describe('Sub-agents and experiments in the editor (real extension host)', () => {
  let api: AgentBudgetApi;
  let workspace: Workspace;

  before(async () => {
    api = await activeApi();
    workspace = await api.workspace.ready;
  });
  afterEach(closeAllEditors);

  it('the Runs view lists a run’s steps and sub-agents under it, each with its cost; the fan-out pays for its children', async () => {
    const r = run(workspace, 'fanned-out', 'completed');
    const plan = task(workspace, r, 'plan', null);
    const dig = task(workspace, r, 'dig', null);
    const alpha = task(workspace, r, 'dig', dig.id, 'alpha');
    const beta = task(workspace, r, 'dig', dig.id, 'beta');
    await workspace.store.commit([
      { k: 'run', run: r },
      ...[plan, dig, alpha, beta].map((t): StoreRecord => ({ k: 'task', task: t })),
      ledger('fanned-out', r.id, plan.id, 'plan', 10_000),
      ledger('fanned-out', r.id, alpha.id, 'dig', 20_000),
      ledger('fanned-out', r.id, beta.id, 'dig', 30_000),
    ]);
    const runNode = await waitFor('the run in the tree', () =>
      api.runsTree
        .getChildren()
        .flatMap((g) => api.runsTree.getChildren(g))
        .find((n): n is Extract<RunsTreeNode, { kind: 'run' }> => n.kind === 'run' && n.run.id === r.id),
    );
    const runItem = api.runsTree.getTreeItem(runNode);
    assert.equal(runItem.collapsibleState, vscode.TreeItemCollapsibleState.Collapsed);
    assert.match(String(runItem.description), /^\$0\.06 ·/);
    const steps = api.runsTree.getChildren(runNode);
    const items = steps.map((n) => api.runsTree.getTreeItem(n));
    assert.deepEqual(
      items.map((i) => [i.label, String(i.description)]),
      [
        ['plan', '$0.01 · completed'],
        ['dig', '$0.05 · completed'],
      ],
    );
    assert.equal(items[1]!.collapsibleState, vscode.TreeItemCollapsibleState.Collapsed);
    const children = api.runsTree.getChildren(steps[1]!).map((n) => api.runsTree.getTreeItem(n));
    assert.deepEqual(
      children.map((i) => [i.label, String(i.description)]),
      [
        ['alpha', '$0.02 · completed'],
        ['beta', '$0.03 · completed'],
      ],
    );
  });

  it('Promote Variant writes the winner into budget.json as an edit the user sees and can undo, and ends the experiment', async () => {
    const original = await readText(policyUri());
    const experiment = { variants: [{ model: 'claude-haiku-4-5' }, { model: 'claude-sonnet-4-5' }], split: [50, 50] };
    const text = `{
  // The team's budget: comments stay where they are.
  "limits": { "workspace": { "dailyUsd": 5 } },
  "experiments": { "promo-review": ${JSON.stringify(experiment)} }
}
`;
    try {
      await writeText(policyUri(), text);
      assert.equal(await workspace.reloadPolicy(), undefined);
      // An editor that had the file open follows the disk before the command reads it.
      const doc = await vscode.workspace.openTextDocument(policyUri());
      await waitFor('budget.json as written', () => (doc.getText() === text ? true : undefined));
      // Twelve finished runs per variant; the second costs ten times the first, with a little spread.
      const id = experimentId(experiment);
      const records: StoreRecord[] = [];
      for (let arm = 0; arm < 2; arm++) {
        for (let i = 0; i < 12; i++) {
          const r = run(workspace, 'promo-review', 'completed', { experiment: { id, arm } });
          const t = task(workspace, r, 'review', null);
          records.push({ k: 'run', run: r }, { k: 'task', task: t });
          records.push(ledger('promo-review', r.id, t.id, 'review', (arm === 0 ? 1_000 : 10_000) + i * 37));
        }
      }
      await workspace.store.commit(records);

      // Not the winner: nothing is written.
      assert.equal(
        await vscode.commands.executeCommand(Commands.promoteVariant, { workflow: 'promo-review', arm: 1 }),
        false,
      );
      assert.equal(await readText(policyUri()), text);

      assert.equal(
        await vscode.commands.executeCommand(Commands.promoteVariant, { workflow: 'promo-review', arm: 0 }),
        true,
      );
      const editor = await waitFor('budget.json shown', () =>
        vscode.window.activeTextEditor?.document.uri.toString() === policyUri().toString()
          ? vscode.window.activeTextEditor
          : undefined,
      );
      const saved = await readText(policyUri());
      assert.equal(editor.document.getText(), saved, 'the edit is saved');
      assert.match(saved!, /\/\/ The team's budget: comments stay where they are\./);
      assert.match(saved!, /"workflows": \{\s*"promo-review": \{\s*"model": "claude-haiku-4-5"\s*\}\s*\}/);
      assert.doesNotMatch(saved!, /experiments/);
      await waitFor('the policy reloaded', () =>
        workspace.policy.workflows['promo-review']?.model === 'claude-haiku-4-5' ? true : undefined,
      );
      assert.deepEqual(workspace.policy.experiments, {});

      // The edit is on the document's undo stack.
      await vscode.commands.executeCommand('undo');
      assert.equal(editor.document.getText(), text);
    } finally {
      if (original !== undefined) await writeText(policyUri(), original);
      else await vscode.workspace.fs.delete(policyUri());
      await workspace.reloadPolicy();
    }
  });
});
