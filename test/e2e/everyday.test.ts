// The everyday defects of issue 19, each where a user met it: `npm start --fake-providers`'s endpoints after a
// settings change, Review Current File with a run view focused, editor groups, a blocked run's one toast in local
// time with Resume, the panel's Runs tab at half width (Resume reachable, its range picker, its badge), raising the
// cap offering to resume, Export CSV and its save dialog, Estimate Workflow Cost…'s inventory, and one budget.json
// mistake shown once in Problems.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as jsonc from 'jsonc-parser';
import type { Frame } from 'playwright-core';
import { writeEndpointSettings } from '../../scripts/vscode-server.mjs';
import { startFakeAnthropic, type FakeAnthropic, type Running } from '../fakes';
import { useWorkbench, type Workbench } from './workbench';

describe('Everyday defects a new user hits (issue 19)', function () {
  this.timeout(120_000);
  let fake: Running<FakeAnthropic>;
  let policyFile: string;
  const policy = () => JSON.parse(readFileSync(policyFile, 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const workbench = useWorkbench({
    prepare: async ({ userDataDir, workspace }) => {
      fake = await startFakeAnthropic();
      // As `npm start -- --fake-providers` does: the endpoints in the server's User settings.
      writeEndpointSettings(userDataDir, { anthropic: fake.url }, jsonc);
      // summarize gets a cap too small for any call: it blocks at once.
      policyFile = path.join(workspace, '.agent-budget', 'budget.json');
      const p = policy();
      p.workflows.summarize = { limits: { dailyUsd: 0.0001 } };
      writeFileSync(policyFile, JSON.stringify(p, null, 2));
    },
  });

  after(async () => {
    await fake?.close();
  });

  const groups = (wb: Workbench) => wb.page.locator('.editor-group-container').count();

  async function openInvoice(wb: Workbench): Promise<void> {
    await wb.page.keyboard.press('Control+P');
    await wb.quickInputBox.waitFor({ state: 'visible' });
    await wb.quickInputBox.fill('invoice.ts');
    await wb.quickInput.locator('.monaco-list-row').filter({ hasText: 'invoice.ts' }).first().click();
    await wb.page.locator('.tabs-container .tab').filter({ hasText: 'invoice.ts' }).first().waitFor();
  }

  async function typedRun(wb: Workbench, workflow: string, input: string): Promise<void> {
    await wb.runCommand('Agent Budget: Run Workflow…');
    await wb.waitForQuickInput('Run which workflow?');
    await wb.quickInput.locator('.monaco-list-row').filter({ hasText: workflow }).first().click();
    const typeIt = wb.quickInput.locator('.monaco-list-row').filter({ hasText: 'Type the input…' }).first();
    await wb.page.waitForTimeout(300);
    if (await typeIt.isVisible().catch(() => false)) await typeIt.click();
    await wb.quickInputBox.waitFor({ state: 'visible' });
    await wb.quickInputBox.fill(input);
    await wb.page.keyboard.press('Enter');
  }

  it('npm start --fake-providers: the endpoints still apply after a settings change', async () => {
    const wb = workbench();
    await wb.setApiKey('Anthropic', 'sk-ant-e2e-fake-key-0123456789');
    // Any change of the user's settings (this one writes editor.minimap.enabled to User settings).
    await wb.runCommand('View: Toggle Minimap');
    await wb.page.waitForTimeout(1000);
    const before = fake.generationRequests.length;
    fake.enqueue({ text: 'Refunds go back to the card.', usage: { input: 300, output: 20 } });
    await openInvoice(wb);
    await wb.runCommand('Agent Budget: Explain Selection');
    await wb.frameShowing('Refunds go back to the card.', 30_000);
    assert.ok(fake.generationRequests.length > before, 'the fake provider was called, not the real API');
    assert.equal(await wb.notification(/ENOTFOUND|could not run/).count(), 0);
  });

  it('Review Current File with a run view focused reviews the file, in the same editor group', async () => {
    const wb = workbench();
    const frame = await wb.frameShowing('Refunds go back to the card.');
    const groupsBefore = await groups(wb);
    await frame.locator('body').click(); // the run view has focus: there is no active text editor
    fake.enqueue({ text: '**Looks fine.**', usage: { input: 900, output: 10 } });
    const before = fake.generationRequests.length;
    await wb.runCommand('Agent Budget: Review Current File');
    await wb.frameShowing('Looks fine.', 30_000);
    const sent = JSON.stringify(fake.generationRequests[before]!.body);
    assert.match(sent, /export function total/, 'the review got invoice.ts');
    assert.doesNotMatch(sent, /Refunds go back to the card/, 'not the run view');
    assert.equal(await groups(wb), groupsBefore, 'no new editor group');
    // No toast piles up for a run whose view is in sight: its progress is in the status bar, its end in the view.
    await wb.page.waitForTimeout(1000);
    assert.equal(await wb.notification(/completed|Review src\/invoice\.ts|Explain/).count(), 0);
  });

  it('sidebar runs tell apart: what they ran on, their cost, a time that moves, "1 call"', async () => {
    const wb = workbench();
    const sideBar = await wb.openView('Agent Budget');
    const rows = sideBar.locator('.monaco-list-row').filter({ hasText: /^(explain|code-review)/ });
    await rows.nth(1).waitFor({ state: 'visible', timeout: 10_000 });
    const texts = await rows.allInnerTexts();
    assert.ok(
      texts.some((t) => /code-review[\s\S]*invoice\.ts · \$0\.\d+ · just now/.test(t)),
      texts.join(' | '),
    );
    assert.ok(
      texts.some((t) => /explain[\s\S]*selection in src\/invoice\.ts · \$0\.\d+/.test(t)),
      texts.join(' | '),
    );
    await rows.filter({ hasText: 'code-review' }).first().hover();
    const tooltip = wb.page.locator('.monaco-hover, .workbench-hover').filter({ hasText: 'tokens' }).first();
    await tooltip.waitFor({ state: 'visible', timeout: 10_000 });
    assert.match(await tooltip.innerText(), /· 1 call\b/);
    await wb.openView('Explorer');
  });

  let panel: Frame;

  it('a blocked run: one toast, its reset in local time, with Resume; the meter keeps the workspace figure', async () => {
    const wb = workbench();
    await typedRun(wb, 'Summarize a file', 'The checkout module.');
    const toast = wb.notification(/summarize is paused at summarize's daily cap/);
    await toast.first().waitFor({ state: 'visible', timeout: 30_000 });
    await wb.page.waitForTimeout(2000);
    assert.equal(await toast.count(), 1, 'shown once');
    const text = await toast.first().innerText();
    assert.match(text, /It resets at \d{1,2}:\d{2}(\s?[AP]M)? \(in \d+ (h|min)\)/);
    assert.doesNotMatch(text, /\d{4}-\d{2}-\d{2}T|Z\b/, 'no ISO UTC timestamp');
    assert.equal(await toast.first().getByRole('button', { name: 'Resume' }).count(), 1);
    const meter = await wb.statusBarItem('Agent Budget').first().innerText();
    assert.match(meter, /\$[\d.]+ \/ \$5\.00 today/);
    assert.doesNotMatch(meter, /summarize|code-review|0 tok/);
  });

  it("the panel's Runs tab at half width: every column readable, Resume reachable, a '1 to resume' badge", async () => {
    const wb = workbench();
    // The run views hold the right half: the panel opens there, at half the window's width.
    const runView = await wb.frameShowing('Summarize a file: The checkout module.');
    await runView.locator('body').click();
    await wb.runCommand('Agent Budget: Open Budget Panel');
    panel = await wb.frameShowing('Spend by day', 30_000);
    const width = await panel.evaluate<number>('window.innerWidth');
    assert.ok(width < 760, `the panel is at half width (${width}px)`);
    const badge = panel.locator('vscode-tab-header').filter({ hasText: 'Runs' });
    assert.match(await badge.innerText(), /1 to resume/);
    await badge.click();
    const row = panel.locator('tr[data-run-id]').filter({ hasText: 'summarize' }).first();
    await row.waitFor({ state: 'visible', timeout: 10_000 });
    // Every cell lies inside the panel, labelled (the labels are drawn by CSS, so read them from the styles).
    const cells = await panel.evaluate<Array<{ right: number; label: string }>>(
      `[...[...document.querySelectorAll('tr[data-run-id]')].find((r) => /summarize/.test(r.innerText)).cells].map(
        (td) => ({ right: td.getBoundingClientRect().right, label: getComputedStyle(td, '::before').content }))`,
    );
    for (const c of cells) assert.ok(c.right <= width + 1, `a cell ends at ${c.right}px, past ${width}px`);
    const labels = cells.map((c) => c.label).join(' ');
    for (const label of ['Status', 'Cost', 'Tokens', 'Started']) assert.match(labels, new RegExp(label));
    const resume = row.locator('vscode-button').filter({ hasText: 'Resume' });
    const box = await resume.boundingBox();
    assert.ok(box && box.x + box.width <= width, `Resume is inside the panel (${JSON.stringify(box)}, ${width})`);
  });

  it('the range picker applies to the Runs tab', async () => {
    const wb = workbench();
    await panel.locator('vscode-single-select').click();
    await panel.getByRole('option', { name: 'Last month' }).click();
    await wb.untilTrue(panel, '/No runs started last month/.test(document.body.innerText)', 'the empty range');
    await panel.locator('vscode-single-select').click();
    await panel.getByRole('option', { name: 'Today' }).click();
    await wb.untilTrue(panel, '!!document.querySelector("tr[data-run-id]")', 'today’s runs');
  });

  it('Export CSV: the save dialog opens outside the workspace, and Export is enabled again without dismissing', async () => {
    const wb = workbench();
    await panel.locator('vscode-button').filter({ hasText: 'Export CSV' }).click();
    await wb.quickInputBox.waitFor({ state: 'visible', timeout: 10_000 });
    // The simple file dialog fills its path in a moment.
    let proposed = '';
    for (const deadline = Date.now() + 10_000; !proposed.endsWith('.csv') && Date.now() < deadline;)
      proposed = await wb.page.waitForTimeout(100).then(() => wb.quickInputBox.inputValue());
    const home = os.homedir();
    assert.ok(proposed.startsWith(home) && !proposed.startsWith(wb.workspace), `proposed ${proposed}`);
    // Saved elsewhere than the real home folder, so the test leaves nothing there.
    const target = path.join(os.tmpdir(), `agent-budget-e2e-${process.pid}-${Date.now()}.csv`);
    await wb.quickInputBox.fill(target);
    await wb.page.waitForTimeout(500); // the dialog lists the folder typed into
    await wb.quickInput.locator('.monaco-button').filter({ hasText: /^OK$/ }).first().click();
    const done = wb.notification(/exported \d+ ledger row/);
    await done.first().waitFor({ state: 'visible', timeout: 20_000 });
    await wb.untilTrue(
      panel,
      '[...document.querySelectorAll("vscode-button")].some((b) => /Export CSV/.test(b.innerText) && !b.disabled)',
      'Export CSV to be enabled while its notification is still shown',
    );
    assert.equal(await done.count(), 1);
    assert.ok(existsSync(target), `the export is written (${target})`);
    rmSync(target, { force: true });
  });

  it('raising the cap offers to resume the waiting run, and Resume finishes it', async () => {
    const wb = workbench();
    fake.enqueue(
      { text: '1. Totals', usage: { input: 100, output: 5 } },
      { text: 'A short summary.', usage: { input: 120, output: 5 } },
    );
    const p = policy();
    p.workflows.summarize = { limits: { dailyUsd: 1 } };
    writeFileSync(policyFile, JSON.stringify(p, null, 2));
    const offer = wb.notification(/budget\.json changed, and summarize .* can go on/);
    await offer.first().waitFor({ state: 'visible', timeout: 30_000 });
    await offer.first().getByRole('button', { name: 'Resume' }).click();
    await wb.frameShowing('A short summary.', 30_000);
  });

  it('Estimate Workflow Cost… offers an inventory made from the workspace', async () => {
    const wb = workbench();
    await wb.runCommand('Agent Budget: Estimate Workflow Cost…');
    await wb.waitForQuickInput('Estimate the monthly cost of which workflows?');
    await wb.quickInput
      .locator('.monaco-list-row')
      .filter({ hasText: 'Make an inventory from this workspace' })
      .first()
      .click();
    const inventory = path.join(wb.workspace, '.agent-budget', 'inventory.json');
    const deadline = Date.now() + 20_000;
    while (!existsSync(inventory) && Date.now() < deadline) await wb.page.waitForTimeout(200);
    const written = JSON.parse(readFileSync(inventory, 'utf8')) as { workflows: Array<{ id: string }> };
    assert.ok(written.workflows.some((w) => w.id === 'summarize'));
    assert.ok(written.workflows.some((w) => w.id === 'code-review'));
    const preview = await wb.frameShowing('Agent Budget estimate', 30_000); // the estimate's preview
    assert.match(
      await preview.evaluate<string>('document.body.innerText'),
      /summarize[\s\S]*code-review|code-review[\s\S]*summarize/,
    );
  });

  it('one budget.json mistake shows once in Problems', async () => {
    const wb = workbench();
    // Out of the estimate's preview first: a webview with focus keeps the palette's keys.
    await wb.page.locator('.part.sidebar .composite.title').first().click();
    await wb.page.waitForTimeout(500);
    await wb.runCommand('View: Close All Editors');
    await wb.runCommand('Agent Budget: Edit Budget Policy');
    const tab = wb.page.locator('.tabs-container .tab').filter({ hasText: 'budget.json' }).first();
    await tab.waitFor();
    await tab.click();
    const p = policy();
    p.limits.task.hardTokens = '12k';
    writeFileSync(policyFile, JSON.stringify(p, null, 2));
    await wb.runCommand('View: Focus Problems (Errors, Warnings, Infos)');
    const problems = wb.page.locator('.markers-panel .monaco-list-row');
    await problems
      .filter({ hasText: /hardTokens|Incorrect type|number/ })
      .first()
      .waitFor({ timeout: 30_000 });
    await wb.page.waitForTimeout(3000); // both sources have had their say
    const rows = await problems.evaluateAll((r) => r.map((x) => x.getAttribute('aria-label') ?? ''));
    const mistakes = rows.filter((r) => /budget\.json/.test(r) === false && /hardTokens|12k|Incorrect type/.test(r));
    assert.equal(mistakes.length, 1, JSON.stringify(rows));
  });
});
