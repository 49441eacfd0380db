// The budget panel in the real extension host: the real webview loads, shakes hands and paints the host's
// snapshot; messages from the page are validated (hostile ones are rejected and never acted on); requests get
// replies; a range change recomputes; spend shows up in the breakdowns.
import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { dayKey } from '../../src/core/policy/periods';
import type { Workspace } from '../../src/core/workspace';
import type { AgentBudgetApi } from '../../src/vscode/extension';
import { Commands, EXTENSION_ID } from '../../src/vscode/ids';
import { addDays } from '../../src/vscode/panelSnapshot';
import type { HostMessage } from '../../src/webview/protocol';
import { activeApi, closeAllEditors, spend, waitFor } from './helpers';

function nextPost(api: AgentBudgetApi, match: (m: HostMessage) => boolean, timeoutMs = 5000): Promise<HostMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`no matching message from the host within ${timeoutMs} ms`));
    }, timeoutMs);
    const sub = api.panel.onDidPost((m) => {
      if (!match(m)) return;
      clearTimeout(timer);
      sub.dispose();
      resolve(m);
    });
  });
}

describe('Budget panel (real extension host)', () => {
  let api: AgentBudgetApi;
  let workspace: Workspace;

  before(async () => {
    api = await activeApi();
    workspace = await api.workspace.ready;
    await spend(workspace, 0.25, 'panel-test', 'runCommand');
  });

  after(closeAllEditors);

  it('opens from the command, loads the real webview, and paints the first snapshot after the ready handshake', async function () {
    this.timeout(30_000);
    const painted = new Promise((resolve) => {
      const sub = api.panel.onDidPaint((t) => {
        sub.dispose();
        resolve(t);
      });
    });
    await vscode.commands.executeCommand(Commands.openPanel);
    assert.ok(api.panel.isOpen);
    await Promise.race([
      painted,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('the webview never reported painting data')), 25_000),
      ),
    ]);
    const t = api.panel.timings!;
    assert.ok(t.readyAt !== undefined && t.paintedAt !== undefined && t.paintedAt >= t.readyAt, JSON.stringify(t));
    const snapshot = api.panel.lastSnapshot!;
    assert.ok(snapshot.scopes.length > 0, 'no scopes in the snapshot');
    assert.equal(api.panel.rejectedMessages, 0, 'the real page sent a message the validator rejected');
  });

  it('may load only from dist/webview/: the page, its stylesheet and the codicons, not the extension’s bundles or WebAssembly', async () => {
    const extension = vscode.extensions.getExtension(EXTENSION_ID)!.extensionUri;
    const folder = vscode.Uri.joinPath(extension, 'dist', 'webview');
    assert.deepEqual(
      api.panel.localResourceRoots.map((u) => u.toString()),
      [folder.toString()],
    );
    // The page painted from there (the test above), so everything it loads is in it; and nothing else is.
    const files = (await vscode.workspace.fs.readDirectory(folder))
      .map(([name]) => name)
      .filter((name) => !name.endsWith('.map'));
    // (run.js and run.css are the run view's page, which loads from the same folder.)
    assert.deepEqual(files.sort(), ['codicon.css', 'codicon.ttf', 'run.css', 'run.js', 'webview.css', 'webview.js']);
  });

  it('shows the spend in the breakdowns by workflow and tool', async () => {
    const snapshot = (await api.panel.refresh())!;
    assert.ok(
      snapshot.breakdowns.workflow.some((r) => r.key === 'panel-test' && r.costMicros >= 250_000),
      JSON.stringify(snapshot.breakdowns.workflow),
    );
    assert.ok(snapshot.breakdowns.tool.some((r) => r.key === 'runCommand'));
    assert.ok(snapshot.totals.costMicros >= 250_000);
    const today = dayKey(Date.now(), workspace.policy.timeZone);
    assert.ok(snapshot.byDay.some((d) => d.day === today && d.costMicros >= 250_000));
  });

  it('recomputes for a new range when the page changes it', async () => {
    const posted = nextPost(api, (m) => m.type === 'snapshot' && m.snapshot.range === '7d');
    await api.panel.receive({ type: 'view', state: { range: '7d', tab: 'breakdown' } });
    const m = await posted;
    assert.ok(m.type === 'snapshot');
    const today = dayKey(Date.now(), workspace.policy.timeZone);
    assert.equal(m.snapshot.fromDay, addDays(today, -6));
    assert.equal(m.snapshot.byDay.length, 7);
    assert.deepEqual(api.panel.state, { range: '7d', tab: 'breakdown' });
  });

  it('answers a valid request with a reply (Edit Budget Policy opens budget.json)', async () => {
    const reply = nextPost(api, (m) => m.type === 'reply' && m.id === 41);
    await api.panel.receive({ type: 'request', id: 41, request: { kind: 'editPolicy' } });
    const m = await reply;
    assert.deepEqual(m, { type: 'reply', id: 41, ok: true });
    await waitFor('budget.json in the editor', () =>
      vscode.window.activeTextEditor?.document.uri.path.endsWith('/.agent-budget/budget.json'),
    );
  });

  it('rejects hostile or malformed messages, logs them and acts on none', async () => {
    const hostile: unknown[] = [
      null,
      'ready',
      [],
      { type: 'request', id: 1, request: { kind: 'resume', runId: '../../../etc/passwd' } },
      { type: 'request', id: 2, request: { kind: 'runCommand', command: 'rm -rf /' } },
      { type: 'request', id: 3, request: { kind: 'export', format: 'exe' } },
      { type: 'request', id: -4, request: { kind: 'editPolicy' } },
      { type: 'request', id: 5, request: { kind: 'editPolicy', then: 'workbench.action.terminal.new' } },
      { type: 'view', state: { range: 'forever', tab: 'overview' } },
      { type: 'view', state: { range: 'month', tab: 'overview', apiKey: 'x' } },
      JSON.parse('{"type":"ready","state":{"range":"month","tab":"overview"},"__proto__":{"polluted":true}}'),
      { type: 'command', command: Commands.setApiKey },
      { type: 'painted', generatedAt: 'now' },
    ];
    const before = api.panel.rejectedMessages;
    const posted: HostMessage[] = [];
    const sub = api.panel.onDidPost((m) => posted.push(m));
    const editorBefore = vscode.window.activeTextEditor?.document.uri.toString();
    try {
      for (const message of hostile) await api.panel.receive(message);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      sub.dispose();
    }
    assert.equal(api.panel.rejectedMessages - before, hostile.length);
    assert.deepEqual(posted, [], 'the host answered a rejected message');
    assert.equal(
      vscode.window.activeTextEditor?.document.uri.toString(),
      editorBefore,
      'a rejected request changed the editor',
    );
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(api.panel.state, { range: '7d', tab: 'breakdown' }, 'a rejected view message changed the state');
  });

  it('reveals a run: switches the page to the runs tab and highlights it', async () => {
    const runId = 'reveal-test-run';
    const posted = nextPost(api, (m) => m.type === 'reveal' && m.runId === runId);
    await vscode.commands.executeCommand(Commands.revealRunInPanel, runId);
    await posted;
    assert.equal(api.panel.state.tab, 'runs');
  });

  it('closing the panel lets go of it: spend afterwards posts nothing, and it opens again and paints', async function () {
    this.timeout(30_000);
    assert.ok(api.panel.isOpen);
    await closeAllEditors();
    await waitFor('the panel to close', () => !api.panel.isOpen);
    const posted: HostMessage[] = [];
    const sub = api.panel.onDidPost((m) => posted.push(m));
    try {
      await spend(workspace, 0.01, 'panel-test', 'runCommand');
      await new Promise((r) => setTimeout(r, 800)); // past the refresh debounce
      assert.equal(await api.panel.refresh(), undefined, 'a closed panel computes no snapshot');
    } finally {
      sub.dispose();
    }
    assert.deepEqual(posted, [], 'the host posted to a closed panel');
    const painted = new Promise((resolve) => {
      const once = api.panel.onDidPaint((t) => {
        once.dispose();
        resolve(t);
      });
    });
    await vscode.commands.executeCommand(Commands.openPanel);
    assert.ok(api.panel.isOpen);
    await painted;
  });
});
