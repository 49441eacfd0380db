// API keys in the real extension host: SecretStorage round trip through the extension's exported API, the change
// event, the commands, and that a key never lands in settings or in any file the harness lets us look at.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import type { AgentBudgetApi } from '../../src/vscode/extension';
import { Commands, EXTENSION_ID, Views } from '../../src/vscode/ids';

async function activeApi(): Promise<AgentBudgetApi> {
  const extension = vscode.extensions.getExtension<AgentBudgetApi>(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is not loaded in this extension host`);
  const api = await extension.activate();
  assert.ok(api?.apiKeys, 'activate() returned no apiKeys');
  return api;
}

/** A key nobody could have typed before: if it shows up somewhere, this test put it there. */
const sentinelKey = () => `sk-test-${randomBytes(12).toString('hex')}`;

function nextChange(api: AgentBudgetApi, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      listener.dispose();
      reject(new Error(`apiKeys.onDidChange did not fire within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = api.apiKeys.onDidChange((provider) => {
      clearTimeout(timer);
      listener.dispose();
      resolve(provider);
    });
  });
}

/** Files under `dir` (small ones; binaries are scanned as bytes too) whose content contains `needle`. */
async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  const bytes = Buffer.from(needle, 'utf8');
  const visit = async (p: string): Promise<void> => {
    const stat = await fs.lstat(p).catch(() => undefined);
    if (!stat || stat.isSymbolicLink()) return;
    if (stat.isDirectory()) {
      for (const entry of await fs.readdir(p).catch(() => [])) await visit(path.join(p, entry));
    } else if (stat.isFile() && stat.size < 20_000_000) {
      const content = await fs.readFile(p).catch(() => undefined);
      if (content?.includes(bytes)) hits.push(p);
    }
  };
  await visit(dir);
  return hits;
}

describe('API keys (real extension host)', () => {
  let api: AgentBudgetApi;

  before(async () => {
    api = await activeApi();
  });

  afterEach(async () => {
    for (const provider of ['anthropic', 'openai', 'gemini'] as const) await api.apiKeys.clear(provider);
  });

  it('sets, reads and clears a key through SecretStorage', async () => {
    const key = sentinelKey();
    assert.equal(await api.apiKeys.get('openai'), undefined);
    await api.apiKeys.set('openai', key);
    assert.equal(await api.apiKeys.get('openai'), key);
    assert.deepEqual(await api.apiKeys.status(), { anthropic: false, openai: true, gemini: false });
    await api.apiKeys.clear('openai');
    assert.equal(await api.apiKeys.get('openai'), undefined);
    assert.deepEqual(await api.apiKeys.status(), { anthropic: false, openai: false, gemini: false });
  });

  it('keeps each provider’s key apart', async () => {
    const anthropic = `sk-ant-${randomBytes(8).toString('hex')}`;
    const gemini = `AIza${randomBytes(8).toString('hex')}`;
    await api.apiKeys.set('anthropic', anthropic);
    await api.apiKeys.set('gemini', gemini);
    assert.equal(await api.apiKeys.get('anthropic'), anthropic);
    assert.equal(await api.apiKeys.get('gemini'), gemini);
    assert.equal(await api.apiKeys.get('openai'), undefined);
  });

  it('fires onDidChange with the provider when a key is set and when it is cleared', async () => {
    const set = nextChange(api);
    await api.apiKeys.set('anthropic', `sk-ant-${randomBytes(8).toString('hex')}`);
    assert.equal(await set, 'anthropic');
    const cleared = nextChange(api);
    await api.apiKeys.clear('anthropic');
    assert.equal(await cleared, 'anthropic');
  });

  it('registers the Set and Clear API Key commands', async () => {
    const commands = await vscode.commands.getCommands(true);
    assert.ok(commands.includes(Commands.setApiKey), `${Commands.setApiKey} is not registered`);
    assert.ok(commands.includes(Commands.clearApiKey), `${Commands.clearApiKey} is not registered`);
  });

  it('never writes a key into settings or files', async () => {
    const key = sentinelKey();
    await api.apiKeys.set('openai', key);
    assert.equal(await api.apiKeys.get('openai'), key);

    const settings = vscode.workspace.getConfiguration();
    assert.ok(!JSON.stringify(settings).includes(key), 'the key is in the merged settings');
    const ours = settings.inspect('agentBudget');
    assert.ok(!JSON.stringify(ours ?? {}).includes(key), 'the key is in the agentBudget settings');

    // The harness names the folders that hold settings, logs and state: the server's data dirs (user and machine
    // settings, extension-host logs, global storage) and the workspace copy. Without it: the workspace folders.
    const dirs = (process.env.AGENT_BUDGET_TEST_SCAN_DIRS ?? '').split(path.delimiter).filter(Boolean);
    for (const folder of vscode.workspace.workspaceFolders ?? []) dirs.push(folder.uri.fsPath);
    assert.ok(dirs.length > 0, 'no folder to scan: open a workspace or set AGENT_BUDGET_TEST_SCAN_DIRS');
    await new Promise((resolve) => setTimeout(resolve, 1000)); // let settings and logs flush
    for (const dir of dirs) {
      assert.deepEqual(await filesContaining(dir, key), [], `the key was written under ${dir}`);
    }
  });
});

describe('Agent Budget contributions (real extension host)', () => {
  it('is active, with the activity-bar container, the Runs view and the commands in its manifest', async () => {
    await activeApi();
    const extension = vscode.extensions.getExtension(EXTENSION_ID)!;
    assert.equal(extension.isActive, true);
    const contributes = extension.packageJSON.contributes;
    const containers = contributes.viewsContainers.activitybar as { id: string; title: string }[];
    assert.ok(containers.some((c) => c.id === Views.container && c.title === 'Agent Budget'));
    assert.ok((contributes.views[Views.container] as { id: string }[]).some((v) => v.id === Views.runs));
    const titles = (contributes.commands as { command: string; title: string; category: string }[]).map(
      (c) => `${c.category}: ${c.title}`,
    );
    assert.ok(titles.includes('Agent Budget: Set API Key…'), titles.join(', '));
    assert.ok(titles.includes('Agent Budget: Clear API Key…'), titles.join(', '));
  });

  it('the workbench knows the view: opening the container and focusing the Runs view succeed', async () => {
    // VS Code generates these commands only for contributed containers and views; they throw for unknown ones.
    const commands = await vscode.commands.getCommands(true);
    assert.ok(commands.includes(`workbench.view.extension.${Views.container}`), 'no command to open the container');
    assert.ok(commands.includes(`${Views.runs}.focus`), 'no command to focus the Runs view');
    await vscode.commands.executeCommand(`workbench.view.extension.${Views.container}`);
    await vscode.commands.executeCommand(`${Views.runs}.focus`);
  });
});
