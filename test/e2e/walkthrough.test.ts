// The first-run walkthrough in the real workbench: it opens from the palette with its six steps, a step's button
// runs its command, and doing the step checks it off.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { useWorkbench } from './workbench';

const STEPS = [
  'Set an API key',
  'Review the current file',
  'Read the meter',
  'Open the budget panel',
  'Set a cap',
  'Resume a run',
];

describe('First-run walkthrough', function () {
  const workbench = useWorkbench();

  it('opens with its six steps; "Set API Key" runs the command and checks the step off', async () => {
    const wb = workbench();
    await wb.runCommand('Welcome: Open Walkthrough...');
    await wb.waitForQuickInput('Select a walkthrough to open');
    await wb.pick('Get Started with Agent Budget');
    const page = wb.page.locator('.gettingStartedContainer');
    await page.getByText('Get Started with Agent Budget').first().waitFor({ state: 'visible', timeout: 20_000 });
    const text = await page.innerText();
    for (const step of STEPS) assert.ok(text.includes(step), `the walkthrough shows "${step}":\n${text}`);

    const step = page.locator('.getting-started-step').filter({ hasText: 'Set an API key' });
    await step.click();
    const isDone = () => step.evaluate((el) => !!el.querySelector('.codicon-pass-filled, .complete'), undefined);
    assert.equal(await isDone(), false, 'not done before a key is set');
    await step.getByRole('button', { name: 'Set API Key' }).click();
    await wb.waitForQuickInput('Set the API key for…');
    await wb.pick('Anthropic');
    await wb.waitForQuickInput('Agent Budget: Anthropic API key');
    await wb.quickInputBox.pressSequentially(`sk-ant-${randomBytes(12).toString('hex')}`);
    await wb.page.keyboard.press('Enter');
    await wb.notification('Agent Budget: Anthropic API key saved.').waitFor({ state: 'visible' });
    const deadline = Date.now() + 10_000;
    while (!(await isDone())) {
      if (Date.now() > deadline)
        throw new Error(`the step is not checked off: ${await step.evaluate((el) => el.outerHTML.slice(0, 600))}`);
      await wb.page.waitForTimeout(200);
    }
  });
});
