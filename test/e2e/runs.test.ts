// Running workflows the way a user does, against a fake Anthropic server in this test process (the real wire
// format; no real provider): set the key from the palette, "Review Current File" with the meter showing the running
// task's tokens and then the spend, "Run Workflow…" on a workspace workflow whose provider goes away mid-stream
// (the server is killed, the run stops with its finished step kept), then the server comes back and the run is
// resumed from the Runs view without redoing the finished step.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import { freePort } from '../../scripts/vscode-server.mjs';
import { FakeAnthropic } from '../fakes';
import { useWorkbench } from './workbench';

/** The fake on a fixed port that can be killed (every connection dropped) and started again. */
class KillableFake {
  readonly fake = new FakeAnthropic();
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  constructor(readonly port: number) {
    this.fake.baseUrl = this.url;
  }
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => {
      this.fake.handle(req, res, req.url ?? '/').catch(() => res.destroy());
    });
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.server = server;
  }
  async kill(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('Running workflows from the palette against a fake provider', function () {
  this.timeout(120_000);
  let provider: KillableFake;
  const workbench = useWorkbench({
    prepare: async ({ workspace, addUserSettings }) => {
      provider = new KillableFake(await freePort());
      await provider.start();
      addUserSettings({ 'agentBudget.anthropic.baseUrl': provider.url });
      // A two-step workspace workflow without step limits of its own: a cut call is charged its whole reservation,
      // which would use up a small step limit (the demo summarize's 6,000 tokens) and block the resume instead.
      writeFileSync(
        path.join(workspace, '.agent-budget', 'workflows', 'brief.json'),
        JSON.stringify(
          {
            id: 'brief',
            title: 'Brief from notes',
            provider: 'anthropic',
            model: 'claude-haiku-4-5',
            steps: [
              { id: 'outline', prompt: 'Outline this:\n{{input}}', maxOutputTokens: 400 },
              {
                id: 'write',
                prompt: 'Write a summary from this outline:\n{{steps.outline.output}}',
                maxOutputTokens: 600,
              },
            ],
          },
          null,
          2,
        ),
      );
    },
  });

  after(async () => {
    await provider?.kill();
  });

  it('the key is set from the palette', async () => {
    await workbench().setApiKey('Anthropic', 'sk-ant-e2e-fake-key-0123456789');
  });

  it('"Review Current File" streams a review, the meter shows its tokens while it runs and its cost after', async () => {
    const wb = workbench();
    const meter = wb.statusBarItem('Agent Budget');
    await meter.filter({ hasText: '$0.00 / $5.00 today' }).waitFor({ state: 'visible', timeout: 20_000 });
    provider.fake.enqueue({
      text: '**Needs changes**\n\n- **major** · `src/invoice.ts` · the discount is applied after tax; apply it to the subtotal.\n- **minor** · no test covers an empty cart.',
      usage: { input: 1800, output: 420 },
      eventDelayMs: 250,
    });
    // Open src/invoice.ts from the Explorer.
    const explorerOpen = await wb.page
      .locator('.part.sidebar .composite.title')
      .filter({ hasText: 'EXPLORER' })
      .isVisible()
      .catch(() => false);
    if (!explorerOpen) await wb.openView('Explorer'); // a click on the open one would close it
    const explorer = wb.page.locator('.explorer-folders-view .monaco-list-row');
    await explorer.filter({ hasText: /^src$/ }).first().click();
    await explorer
      .filter({ hasText: /^invoice\.ts$/ })
      .first()
      .click();
    await wb.page
      .locator('.tabs-container .tab')
      .filter({ hasText: 'invoice.ts' })
      .first()
      .waitFor({ state: 'visible' });
    await wb.runCommand('Agent Budget: Review Current File');
    // While the model writes: the workflow and the running task's tokens, "~" (estimated) until the call settles.
    await meter.filter({ hasText: /code-review: ~[\d.,k]+ tok/ }).waitFor({ state: 'visible', timeout: 20_000 });
    // The run view opened beside the editor as it streamed, and says when the run completed (no toast for it
    // while it is in sight).
    const view = await wb.frameShowing('the discount is applied after tax', 30_000);
    await wb.untilTrue(view, '/Completed/.test(document.body.innerText)', 'the run to complete', 30_000);
    // After: the spend against the workspace's own cap (the figure holds still: not code-review's $2 cap), no
    // spinner.
    await meter
      .filter({ hasText: /\$0\.\d{2,4} \/ \$5\.00 today/ })
      .filter({ hasNotText: 'tok' })
      .waitFor({ state: 'visible', timeout: 5000 });
    const request = provider.fake.generationRequests.at(-1)!;
    assert.match(JSON.stringify(request.body), /invoice/);
  });

  it('"Run Workflow…" → a workspace workflow; the provider dies mid-stream and the run stops with its first step kept', async () => {
    const wb = workbench();
    provider.fake.enqueue(
      { text: '1. Totals\n2. Discounts\n3. Tax', usage: { input: 300, output: 30 } },
      {
        text: 'The checkout module totals invoice lines, applies discounts and adds tax, in that order, and rounds only at the end.',
        usage: { input: 400, output: 200 },
        eventDelayMs: 400,
      },
    );
    const base = provider.fake.generationRequests.length;
    await wb.runCommand('Agent Budget: Run Workflow…');
    await wb.waitForQuickInput('Run which workflow?');
    await wb.quickInput.locator('.monaco-list-row').filter({ hasText: 'Brief from notes' }).first().click();
    await wb.waitForQuickInput('Input for Brief from notes');
    await wb.quickInput.locator('.monaco-list-row').filter({ hasText: 'Type the input…' }).first().click();
    await wb.waitForQuickInput('Agent Budget: Brief from notes');
    await wb.quickInputBox.fill('The checkout module of the demo.');
    await wb.page.keyboard.press('Enter');
    // The second step's stream has started: kill the server.
    const deadline = Date.now() + 20_000;
    while (provider.fake.generationRequests.length < base + 2 && Date.now() < deadline)
      await wb.page.waitForTimeout(100);
    assert.equal(provider.fake.generationRequests.length, base + 2, 'the second step never called the provider');
    await wb.page.waitForTimeout(900);
    await provider.kill();
    await wb.notification(/brief failed/).waitFor({ state: 'visible', timeout: 30_000 });
  });

  it('with the server back, Resume in the Runs view finishes the run without redoing the finished step', async () => {
    const wb = workbench();
    await provider.start();
    const before = provider.fake.generationRequests.length;
    provider.fake.enqueue({
      text: 'Summary after the resume: totals, discounts, then tax.',
      usage: { input: 400, output: 60 },
    });
    const sideBar = await wb.openView('Agent Budget');
    await sideBar.getByText('To resume').waitFor({ state: 'visible' });
    const row = sideBar.locator('.monaco-list-row').filter({ hasText: 'brief' }).first();
    // Select the run first (it opens its view), as a user would before reaching for its inline Resume.
    await row.click();
    await wb.page.waitForTimeout(500);
    await row.hover();
    await row.getByRole('button', { name: 'Resume Run…' }).click();
    await wb
      .notification(/Resume brief/)
      .waitFor({ state: 'visible', timeout: 10_000 })
      .catch(() => undefined);
    try {
      const view = await wb.frameShowing('Summary after the resume', 30_000);
      await wb.untilTrue(view, '/Completed/.test(document.body.innerText)', 'the run to complete', 30_000);
    } catch (err) {
      const toasts = await wb.page
        .locator('.notifications-toasts')
        .innerText()
        .catch(() => '');
      throw new Error(
        `${(err as Error).message}\nrequests since: ${provider.fake.generationRequests.length - before}\ntoasts: ${toasts}`,
        { cause: err },
      );
    }
    // Only the interrupted step called the provider again.
    const after = provider.fake.generationRequests.slice(before);
    assert.equal(after.length, 1, `${after.length} calls after the resume`);
    assert.match(JSON.stringify(after[0]!.body), /Write a summary from this outline/);
    assert.match(JSON.stringify(after[0]!.body), /Discounts/);
    await sideBar
      .locator('.monaco-list-row')
      .filter({ hasText: 'brief' })
      .filter({ hasText: /\$0\.\d+/ })
      .first()
      .waitFor({ state: 'visible' });
  });

  it('the budget panel lists both runs and breaks their spend down by workflow', async () => {
    const wb = workbench();
    await wb.runCommand('Agent Budget: Open Budget Panel');
    const deadline = Date.now() + 20_000;
    let text = '';
    while (
      Date.now() < deadline &&
      !/By workflow[\s\S]*brief[\s\S]*code-review|By workflow[\s\S]*code-review[\s\S]*brief/.test(text)
    ) {
      text = await wb.visibleText();
      await wb.page.waitForTimeout(200);
    }
    assert.match(text, /Top consumers/);
    assert.match(text, /By workflow[\s\S]*(brief|code-review)/);
  });
});
