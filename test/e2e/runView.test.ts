// The run view as a new user meets it: Review Current File opens one tab beside the code that renders the review
// (Markdown, not its source; code blocks with Copy and Insert at Cursor), the call's model, tokens and cost as a
// quiet line; a follow-up typed at its bottom continues the same run (the model sees the review) and its answer
// appears under the question; opening the run again reuses its tab; the view comes back after a reload.
import assert from 'node:assert/strict';
import type { Frame } from 'playwright-core';
import { startFakeAnthropic, type FakeAnthropic, type Running } from '../fakes';
import { saveScreenshot } from './screenshots';
import { useWorkbench, type Workbench } from './workbench';

describe('The run view: a rendered answer you can ask a follow-up of', function () {
  this.timeout(120_000);
  let fake: Running<FakeAnthropic>;
  const workbench = useWorkbench({
    prepare: async ({ addUserSettings }) => {
      fake = await startFakeAnthropic();
      addUserSettings({ 'agentBudget.anthropic.baseUrl': fake.url });
    },
  });

  after(async () => {
    await fake?.close();
  });

  /** The run view's page (a webview frame) once it shows `text`. */
  const runView = (wb: Workbench, text: string): Promise<Frame> => wb.frameShowing(text, 30_000);
  const runTabs = (wb: Workbench) => wb.page.locator('.tabs-container .tab').filter({ hasText: /^code-review: / });

  async function openInvoice(wb: Workbench): Promise<void> {
    await wb.page.keyboard.press('Control+P');
    await wb.quickInputBox.waitFor({ state: 'visible' });
    await wb.quickInputBox.fill('invoice.ts');
    await wb.quickInput.locator('.monaco-list-row').filter({ hasText: 'invoice.ts' }).first().click();
    await wb.page.locator('.tabs-container .tab').filter({ hasText: 'invoice.ts' }).first().waitFor();
  }

  it('without a key, Review Current File offers Set API Key… first, then runs the review in the run view', async () => {
    const wb = workbench();
    fake.enqueue({
      text: '## Needs changes\n\n- **major**: the discount is applied after tax.\n\n```ts\nconst total = subtotal * (1 - discount);\n```',
      usage: { input: 1800, output: 420 },
      eventDelayMs: 150,
    });
    await openInvoice(wb);
    await wb.runCommand('Agent Budget: Review Current File');
    // First run: a key is asked for before anything runs, and no failed run is left to resume.
    const offer = wb.notification(/no Anthropic API key is set yet/);
    await offer.waitFor({ state: 'visible', timeout: 20_000 });
    await offer.getByRole('button', { name: 'Set API Key…' }).click();
    await wb.waitForQuickInput('Agent Budget: Anthropic API key');
    await wb.quickInputBox.pressSequentially('sk-ant-e2e-fake-key-0123456789');
    await wb.page.keyboard.press('Enter');

    const frame = await runView(wb, 'Needs changes');
    await wb.untilTrue(frame, '!!document.querySelector(".answer h2")', 'the heading to render', 30_000);
    await wb.untilTrue(frame, '/1 call/.test(document.body.innerText)', 'the call line', 30_000);
    const text = await frame.evaluate<string>('document.body.innerText');
    assert.doesNotMatch(text, /\*\*major\*\*|## Needs/, 'Markdown is rendered, not shown as source');
    assert.match(text, /claude-haiku-4-5 · 1 call · 2,220 tokens · \$0\.\d+/);
    assert.equal(await frame.evaluate<number>('document.querySelectorAll(".answer strong").length'), 1);
    // The code block has its actions.
    const actions = await frame.evaluate<string>(
      '[...document.querySelectorAll(".code-actions")].map((b) => b.innerText).join("|")',
    );
    assert.match(actions, /Copy/);
    assert.match(actions, /Insert at Cursor/);
    assert.equal(await wb.notification(/could not run/).count(), 0, 'no failure was shown');
    assert.equal(await runTabs(wb).count(), 1);
  });

  it('a follow-up continues the same run: the model sees the review, the answer appears under the question', async () => {
    const wb = workbench();
    const frame = await runView(wb, 'Needs changes');
    fake.enqueue({
      text: 'Because **tax** is computed on the discounted subtotal.',
      usage: { input: 2300, output: 30 },
    });
    const before = fake.generationRequests.length;
    await wb.untilTrue(
      frame,
      '!document.querySelector("#follow-up-text").disabled',
      'the follow-up box to enable',
      30_000,
    );
    await frame.locator('#follow-up-text').fill('Why is that a major issue?');
    await frame.locator('#follow-up-text').press('Enter');
    await wb.untilTrue(
      frame,
      '[...document.querySelectorAll(".turn")].some((t) => /Why is that a major issue\\?/.test(t.innerText) && t.querySelector(".markdown strong"))',
      'the follow-up answer',
      30_000,
    );
    await saveScreenshot(wb, 'run-view');
    const sent = JSON.stringify(fake.generationRequests[before]!.body);
    assert.match(sent, /discount is applied after tax/, 'the review was part of the conversation');
    assert.match(sent, /Why is that a major issue\?/);
    assert.equal(await runTabs(wb).count(), 1, 'the same tab: one run');
    // The run's cost now covers both turns (one run in the Runs view).
    const sideBar = await wb.openView('Agent Budget');
    await sideBar.locator('.monaco-list-row').filter({ hasText: 'code-review' }).first().waitFor();
    assert.equal(await sideBar.locator('.monaco-list-row').filter({ hasText: 'code-review' }).count(), 1);
  });

  it("a model's HTML and script links stay inert", async () => {
    const wb = workbench();
    const frame = await runView(wb, 'Why is that a major issue?');
    fake.enqueue({
      text: 'Try <img src=x onerror="document.title=1"> and [this](javascript:document.title=2) or <script>document.title=3</script>.',
      usage: { input: 2400, output: 30 },
    });
    await wb.untilTrue(frame, '!document.querySelector("#follow-up-text").disabled', 'the follow-up box', 30_000);
    await frame.locator('#follow-up-text').fill('Show me some HTML.');
    await frame.locator('#follow-up-text').press('Enter');
    await wb.untilTrue(frame, '/onerror/.test(document.body.innerText)', 'the answer', 30_000);
    assert.equal(
      await frame.evaluate<number>('document.querySelectorAll(".markdown img, .markdown script").length'),
      0,
    );
    assert.equal(await frame.evaluate<number>('document.querySelectorAll(\'a[href^="javascript"]\').length'), 0);
    assert.notEqual(await frame.evaluate<string>('document.title'), '1');
  });

  it('opening the run again reuses its tab; no new editor group appears', async () => {
    const wb = workbench();
    const groups = await wb.page.locator('.editor-group-container').count();
    const sideBar = wb.page.locator('.part.sidebar'); // the Agent Budget view, open since the previous test
    await sideBar.locator('.monaco-list-row').filter({ hasText: 'code-review' }).first().click();
    await wb.page.waitForTimeout(1000);
    await sideBar.locator('.monaco-list-row').filter({ hasText: 'code-review' }).first().click();
    await wb.page.waitForTimeout(1000);
    assert.equal(await runTabs(wb).count(), 1);
    assert.equal(await wb.page.locator('.editor-group-container').count(), groups);
  });

  it('Cancel in the view stops a run mid-stream; the cut call is charged an estimate, said so, not its worst case', async () => {
    const wb = workbench();
    fake.enqueue({
      text: 'The invoice module totals lines, then applies discounts, then tax. '.repeat(40),
      usage: { input: 1800, output: 900 },
      eventDelayMs: 200,
    });
    await openInvoice(wb);
    await wb.runCommand('Agent Budget: Explain Selection');
    const frame = await runView(wb, 'The invoice module totals lines');
    await frame.locator('button[data-test="cancel"]').click();
    await wb.untilTrue(
      frame,
      '/Cancelled/i.test(document.querySelector(".meta").innerText)',
      'the run to stop',
      30_000,
    );
    const meta = await frame.evaluate<string>('document.querySelector(".meta").innerText');
    const [, cost, estimated] = /\$(\d+\.\d+) \(\$(\d+\.\d+) estimated\)/.exec(meta) ?? [];
    assert.ok(cost && estimated, `the cost says what is estimated: ${meta}`);
    // The worst case this call held is far more: 8,000 output tokens of claude-haiku-4-5 alone are $0.04.
    assert.ok(Number(cost) < 0.005, `charged ${cost}, not the reservation`);
    const toast = wb.notification(/explain cancelled after \$0\.\d+ \(estimated\)/);
    await toast.first().waitFor({ state: 'visible', timeout: 10_000 });
  });

  it("after a reload the review's view comes back with its run", async () => {
    const wb = workbench();
    await wb.page.reload();
    await wb.page.locator('.part.statusbar').waitFor({ state: 'visible', timeout: 60_000 });
    // The review's tab is restored (behind whatever editor is in front) and draws its run again once shown.
    await runTabs(wb).first().click();
    const review = await runView(wb, 'Why is that a major issue?');
    assert.match(await review.evaluate<string>('document.body.innerText'), /Needs changes/);
  });
});
