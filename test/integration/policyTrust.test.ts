// Who decides, in the real extension host: the user's own user.json (Edit User Budget Policy creates it; edits on
// disk move the meter through the file watcher), a budget.json that loosens it applying only once the user allows
// that exact content (remembered in globalState, asked again when the file changes), and built-in commands relabelled
// while a workspace workflow file replaces them. The modal itself is answered in the e2e tier (VS Code refuses
// dialogs while extension tests run); here the answer goes through the same method its buttons call.
import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { DEFAULT_POLICY, parsePolicyText } from '../../src/core/policy/load';
import type { Workspace } from '../../src/core/workspace';
import type { AgentBudgetApi } from '../../src/vscode/extension';
import { Commands, WorkflowCommands } from '../../src/vscode/ids';
import {
  activeApi,
  closeAllEditors,
  folder,
  policyUri,
  readText,
  setUserPolicy,
  userPolicyUri,
  waitFor,
  writeText,
} from './helpers';

const LOOSE = {
  timeZone: 'UTC',
  limits: { workspace: { dailyUsd: 50, monthlyUsd: null } },
  tools: { allow: ['readFile', 'listFiles', 'searchText', 'runCommand'] },
};

describe('Who decides: user.json, budget.json and consent (real extension host)', () => {
  let api: AgentBudgetApi;
  let workspace: Workspace;
  let original: string | undefined;
  const dailyCap = () => workspace.policy.limits.workspace.dailyUsd;

  before(async () => {
    api = await activeApi();
    workspace = await api.workspace.ready;
    original = await readText(policyUri());
  });

  after(async () => {
    if (original !== undefined) await writeText(policyUri(), original);
    await vscode.workspace.fs
      .delete(vscode.Uri.joinPath(folder(), '.agent-budget', 'workflows', 'code-review.json'))
      .then(undefined, () => undefined);
    await setUserPolicy(workspace, undefined);
    await closeAllEditors();
  });

  it('Edit User Budget Policy creates user.json where the CLI reads it: a commented header and the defaults, valid', async () => {
    await setUserPolicy(workspace, undefined);
    await vscode.commands.executeCommand(Commands.editUserPolicy);
    const editor = await waitFor('user.json in an editor', () => {
      const e = vscode.window.activeTextEditor;
      return e?.document.uri.fsPath === userPolicyUri().fsPath ? e : undefined;
    });
    const text = editor.document.getText();
    assert.match(text, /^\/\/ Your own Agent Budget policy/);
    assert.match(text, /--trust-policy/);
    const { policy, issues } = parsePolicyText(text, userPolicyUri().fsPath);
    assert.deepEqual(issues, []);
    assert.deepEqual(policy?.limits, DEFAULT_POLICY.limits);
    assert.deepEqual(policy?.tools, DEFAULT_POLICY.tools);
    await closeAllEditors();
  });

  it('user.json is watched: a lower cap written there moves the meter, no reload called', async () => {
    await writeText(policyUri(), JSON.stringify({ timeZone: 'UTC' }));
    await setUserPolicy(workspace, undefined);
    await writeText(userPolicyUri(), JSON.stringify({ limits: { workspace: { dailyUsd: 3 } } }));
    const state = await waitFor('the meter to show the $3 cap of user.json', () => {
      const s = api.meter.redraw();
      return /\/ \$3\.00 today$/.test(s.text) ? s : undefined;
    });
    assert.equal(state.scope, 'workspace.daily');
    assert.equal(workspace.policyInfo?.user.source, 'file');
  });

  it('an invalid user.json stops runs and turns the meter red, naming user.json and opening it on click', async () => {
    await writeText(userPolicyUri(), '{ "limits": { "workspace": { "dailyUsd": "lots" } } }');
    const state = await waitFor('the meter to turn red', () => {
      const s = api.meter.redraw();
      return s.level === 'blocked' && s.command === Commands.editUserPolicy ? s : undefined;
    });
    assert.match(state.tooltip, /your user\\?\.json is not valid/);
    assert.match(state.tooltip, /limits\.workspace\.dailyUsd/);
    await setUserPolicy(workspace, undefined);
  });

  it('a budget.json that loosens is ignored until allowed; Allow applies that content; a change asks again', async () => {
    await setUserPolicy(workspace, undefined);
    await writeText(policyUri(), JSON.stringify(LOOSE, null, 2));
    await workspace.reloadPolicy();
    const info = workspace.policyInfo!;
    assert.deepEqual(
      info.loosening.map((l) => l.path),
      ['limits.workspace.dailyUsd', 'limits.workspace.monthlyUsd', 'tools.allow'],
    );
    assert.equal(info.consented, false);
    assert.equal(dailyCap(), 5, "the user's ceiling");
    assert.ok(workspace.policy.tools.approve.includes('runCommand'), 'runCommand asks');

    assert.equal(await api.policyConsent.decide('allow'), true);
    assert.equal(workspace.policyInfo?.consented, true);
    assert.equal(dailyCap(), 50);
    assert.equal(workspace.policy.limits.workspace.monthlyUsd, undefined);
    assert.ok(workspace.policy.tools.allow.includes('runCommand'));
    assert.match(api.meter.redraw().text, /\/ \$50\.00 today$/);

    // Kept in globalState per folder and content hash; the workspace holds no trace of the answer.
    const entries = await vscode.workspace.fs.readDirectory(vscode.Uri.joinPath(folder(), '.agent-budget'));
    assert.ok(!entries.some(([name]) => /consent/i.test(name)));

    // One byte more is another file: the answer no longer applies, and the user's ceiling is back.
    await writeText(policyUri(), `${JSON.stringify(LOOSE, null, 2)}\n`);
    await waitFor('the reload after the change', () => workspace.policyInfo?.hash !== info.hash);
    assert.equal(workspace.policyInfo?.consented, false);
    assert.equal(dailyCap(), 5);

    assert.equal(await api.policyConsent.decide('decline'), true);
    assert.equal(dailyCap(), 5, 'Use my limits keeps the ceiling');
  });

  it('a budget.json that only tightens asks nothing and applies', async () => {
    await writeText(policyUri(), JSON.stringify({ timeZone: 'UTC', limits: { workspace: { dailyUsd: 2 } } }));
    await workspace.reloadPolicy();
    assert.deepEqual(workspace.policyInfo?.loosening, []);
    assert.equal(await api.policyConsent.decide('allow'), false, 'nothing to answer');
    assert.equal(dailyCap(), 2);
  });

  it("a workspace file replacing a built-in: the twin command is registered and the built-in's marked replaced", async () => {
    const all = await vscode.commands.getCommands(true);
    for (const w of WorkflowCommands) assert.ok(all.includes(w.replacedCommand), w.replacedCommand);
    const file = vscode.Uri.joinPath(folder(), '.agent-budget', 'workflows', 'code-review.json');
    await writeText(
      file,
      JSON.stringify({ id: 'code-review', title: 'Review', steps: [{ id: 'r', prompt: 'Review {{input}}' }] }),
    );
    await waitFor('the replacement to be noticed', () =>
      api.workflowOverrides.replaced.some((r) => r.id === 'code-review'),
    );
    const notices = api.workflowOverrides.replaced;
    assert.deepEqual(
      notices.map((r) => r.id),
      ['code-review'],
    );
    await vscode.workspace.fs.delete(file);
    await waitFor('the replacement to end', () => api.workflowOverrides.replaced.length === 0);
  });
});
