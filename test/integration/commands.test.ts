// Palette commands and settings in the real extension host: every contributed command is registered, Edit Budget
// Policy creates a valid starter budget.json when there is none, Edit Workflow… opens or creates a workflow file
// that validates, and bad settings fall back safely with a message.
import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { parsePolicyText } from '../../src/core/policy/load';
import { parseWorkflowText } from '../../src/core/policy/workflowFile';
import type { AgentBudgetApi } from '../../src/vscode/extension';
import { Commands, EXTENSION_ID } from '../../src/vscode/ids';
import { readSettings } from '../../src/vscode/settings';
import { activeApi, closeAllEditors, folder, policyUri, readText, waitFor, writeText } from './helpers';

describe('Commands and settings (real extension host)', () => {
  let api: AgentBudgetApi;

  before(async () => {
    api = await activeApi();
    await api.workspace.ready;
  });

  afterEach(closeAllEditors);

  it('registers every command the manifest contributes, all in the "Agent Budget" category', async () => {
    const contributed = vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON.contributes.commands as Array<{
      command: string;
      category: string;
    }>;
    const registered = new Set(await vscode.commands.getCommands(true));
    for (const c of contributed) {
      assert.ok(registered.has(c.command), `${c.command} is contributed but not registered`);
      assert.equal(c.category, 'Agent Budget', c.command);
    }
    for (const id of Object.values(Commands)) {
      assert.ok(
        contributed.some((c) => c.command === id),
        `${id} is registered but not in package.json`,
      );
    }
  });

  it('Edit Budget Policy creates a starter budget.json that is valid, and opens it', async () => {
    const original = await readText(policyUri());
    // An editor an earlier suite left on budget.json would keep its old text in the document until it reloads.
    await closeAllEditors();
    await vscode.workspace.fs.delete(policyUri());
    try {
      await vscode.commands.executeCommand(Commands.editPolicy);
      const written = await waitFor('the starter file', () => readText(policyUri()));
      const editor = await waitFor('budget.json in an editor, showing the starter file', () => {
        const e = vscode.window.activeTextEditor;
        return e?.document.uri.path.endsWith('/.agent-budget/budget.json') && e.document.getText() === written
          ? e
          : undefined;
      });
      const { policy, issues } = parsePolicyText(editor.document.getText(), policyUri().fsPath);
      assert.deepEqual(issues, []);
      assert.equal(policy?.limits.workspace.dailyUsd, 5);
    } finally {
      if (original !== undefined) await writeText(policyUri(), original);
      await (await api.workspace.ready).reloadPolicy();
    }
  });

  it('Edit Budget Policy opens an existing budget.json without touching it', async () => {
    const before = await readText(policyUri());
    await vscode.commands.executeCommand(Commands.editPolicy);
    await waitFor('budget.json in an editor', () =>
      vscode.window.activeTextEditor?.document.uri.path.endsWith('/.agent-budget/budget.json'),
    );
    assert.equal(await readText(policyUri()), before);
  });

  it('Edit Workflow… opens a workspace workflow, or creates a new one that validates', async () => {
    await vscode.commands.executeCommand(Commands.editWorkflow, 'summarize');
    await waitFor('summarize.json', () =>
      vscode.window.activeTextEditor?.document.uri.path.endsWith('/workflows/summarize.json'),
    );
    const uri = vscode.Uri.joinPath(folder(), '.agent-budget', 'workflows', 'integration-new.json');
    try {
      await vscode.commands.executeCommand(Commands.editWorkflow, 'integration-new');
      const editor = await waitFor('the new workflow', () => {
        const e = vscode.window.activeTextEditor;
        return e?.document.uri.path.endsWith('/workflows/integration-new.json') ? e : undefined;
      });
      const { workflow, issues } = parseWorkflowText(editor.document.getText(), uri.fsPath, 'integration-new');
      assert.deepEqual(
        issues.filter((i) => i.severity === 'error'),
        [],
      );
      assert.equal(workflow?.id, 'integration-new');
    } finally {
      await closeAllEditors();
      await vscode.workspace.fs.delete(uri);
    }
  });

  it('a workflow file with a mistake gets a located diagnostic', async () => {
    const uri = vscode.Uri.joinPath(folder(), '.agent-budget', 'workflows', 'broken.json');
    await writeText(uri, '{\n  "id": "broken",\n  "steps": [ { "id": "a", "prompt": "Use {{stepz.x.output}}" } ]\n}\n');
    try {
      const diagnostics = await waitFor('a diagnostic on broken.json', () => {
        const d = vscode.languages.getDiagnostics(uri).filter((x) => x.source === 'Agent Budget');
        return d.length ? d : undefined;
      });
      assert.equal(
        diagnostics[0]!.range.start.line,
        2,
        JSON.stringify(diagnostics.map((d) => [d.message, d.range.start])),
      );
    } finally {
      await vscode.workspace.fs.delete(uri);
    }
    await waitFor('the diagnostic to go with the file', () => vscode.languages.getDiagnostics(uri).length === 0);
  });

  it('settings: bad values fall back safely and say which setting and why', () => {
    const values: Record<string, unknown> = {
      'anthropic.baseUrl': 'ftp://example.invalid',
      'openai.baseUrl': 'http://user:secret@127.0.0.1:9/v1',
      'gemini.baseUrl': 'http://127.0.0.1:9999/',
      'openai.api': 'graphql',
      'runs.revealOutput': 'yes',
    };
    const { settings, problems } = readSettings({ get: <T>(key: string) => values[key] as T });
    assert.equal(settings.baseUrls.anthropic, undefined);
    assert.equal(settings.baseUrls.openai, undefined);
    assert.equal(settings.baseUrls.gemini, 'http://127.0.0.1:9999');
    assert.equal(settings.openaiApi, undefined);
    assert.equal(settings.revealOutput, true);
    assert.deepEqual(problems.map((p) => p.setting).sort(), [
      'agentBudget.anthropic.baseUrl',
      'agentBudget.openai.api',
      'agentBudget.openai.baseUrl',
      'agentBudget.runs.revealOutput',
    ]);
    assert.ok(!problems.some((p) => p.message.includes('secret')), 'a problem message repeats the credentials');
  });

  it("settings: an endpoint comes from user settings only, https or loopback http, never a folder's settings", () => {
    const inspected: Record<string, { globalValue?: unknown; workspaceValue?: unknown }> = {
      'anthropic.baseUrl': { workspaceValue: 'https://collector.example' },
      'openai.baseUrl': { globalValue: 'http://10.0.0.5:8080/v1' },
      'gemini.baseUrl': { globalValue: 'http://[::1]:9000', workspaceValue: 'https://collector.example' },
    };
    const { settings, problems } = readSettings({
      get: <T>(key: string) => (inspected[key]?.workspaceValue ?? inspected[key]?.globalValue) as T,
      inspect: <T>(key: string) => inspected[key] as { globalValue?: T } | undefined,
    });
    assert.equal(settings.baseUrls.anthropic, undefined, "a folder's endpoint is not used");
    assert.equal(settings.baseUrls.openai, undefined, 'plain http to another machine is refused');
    assert.equal(settings.baseUrls.gemini, 'http://[::1]:9000');
    assert.deepEqual(
      problems.map((p) => p.setting),
      ['agentBudget.openai.baseUrl'],
    );
    assert.match(problems[0]!.message, /must use https:\/\/ \(plain http:\/\/ only to this machine/);
    const declared = vscode.extensions.all.find((e) => e.packageJSON.name === 'agent-budget')!.packageJSON.contributes
      .configuration.properties as Record<string, { scope?: string }>;
    for (const provider of ['anthropic', 'openai', 'gemini'])
      assert.equal(declared[`agentBudget.${provider}.baseUrl`]!.scope, 'application');
    assert.equal(declared['agentBudget.stateDirectory'], undefined, 'where state lives is not a setting');
  });

  it('settings: the live values follow a configuration change', async () => {
    const config = vscode.workspace.getConfiguration('agentBudget');
    const changed = new Promise<void>((resolve) => {
      const sub = api.settings.onDidChange((s) => {
        if (s.baseUrls.openai === 'http://127.0.0.1:1/v1') {
          sub.dispose();
          resolve();
        }
      });
    });
    await config.update('openai.baseUrl', 'http://127.0.0.1:1/v1', vscode.ConfigurationTarget.Global);
    try {
      await changed;
      assert.equal(api.settings.value.baseUrls.openai, 'http://127.0.0.1:1/v1');
    } finally {
      await config.update('openai.baseUrl', undefined, vscode.ConfigurationTarget.Global);
    }
  });

  it('activates quickly: activate() does not open the store (it opens right after)', () => {
    assert.ok(api.timings.activateMs < 250, `activate() took ${api.timings.activateMs.toFixed(0)} ms`);
    assert.ok(api.timings.storeOpenMs() !== undefined, 'the store never opened');
    console.log(
      `      activate() ${api.timings.activateMs.toFixed(1)} ms; store open ${api.timings.storeOpenMs()!.toFixed(0)} ms after`,
    );
  });
});
