// Setting and clearing an API key the way a user does: command palette, quick pick, password box, notification.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { useWorkbench } from './workbench';

describe('API keys through the command palette', function () {
  const workbench = useWorkbench();

  afterEach(async () => {
    // Leave no quick input open for the next test.
    if (await workbench().quickInput.isVisible()) await workbench().page.keyboard.press('Escape');
  });

  it('"Set API Key…" → OpenAI → password box → confirmation, and the key is never shown', async () => {
    const wb = workbench();
    const key = `sk-test-${randomBytes(12).toString('hex')}`;
    await wb.runCommand('Agent Budget: Set API Key…');
    await wb.waitForQuickInput('Set the API key for…');
    assert.deepEqual(await wb.quickPickLabels(), ['Anthropic, no key', 'OpenAI, no key', 'Google Gemini, no key']);
    await wb.pick('OpenAI');
    await wb.waitForQuickInput('Agent Budget: OpenAI API key');
    assert.equal(await wb.quickInputBox.getAttribute('type'), 'password');
    await wb.quickInputBox.pressSequentially(key);
    assert.ok(!(await wb.visibleText()).includes(key), 'the key is visible while typing');
    await wb.page.keyboard.press('Enter');
    await wb.notification('Agent Budget: OpenAI API key saved.').waitFor({ state: 'visible' });
    assert.ok(!(await wb.visibleText()).includes(key), 'the key is visible on the page');
    assert.ok(!(await wb.page.content()).includes(key), 'the key is in the page HTML');

    // The quick pick now reports the stored key (without showing it).
    await wb.runCommand('Agent Budget: Set API Key…');
    await wb.waitForQuickInput('Set the API key for…');
    assert.ok((await wb.quickPickLabels()).includes('OpenAI, key set'), JSON.stringify(await wb.quickPickLabels()));
    await wb.page.keyboard.press('Escape');
  });

  it('"Set API Key…" says why a pasted sentence is not a key, and keeps the box open', async () => {
    const wb = workbench();
    await wb.runCommand('Agent Budget: Set API Key…');
    await wb.waitForQuickInput('Set the API key for…');
    await wb.pick('Anthropic');
    await wb.waitForQuickInput('Agent Budget: Anthropic API key');
    await wb.quickInputBox.pressSequentially('my key is sk-ant-123');
    await wb.quickInput.getByText('An API key has no spaces or line breaks.').waitFor({ state: 'visible' });
    await wb.page.keyboard.press('Enter');
    await wb.page.waitForTimeout(500);
    assert.ok(await wb.quickInputBox.isVisible(), 'the box closed on an invalid key');
    assert.equal(await wb.notification('Anthropic API key saved').count(), 0);
  });

  it('"Clear API Key…" offers only providers with a key and clears it', async () => {
    const wb = workbench();
    await wb.setApiKey('Google Gemini', `AIza${randomBytes(12).toString('hex')}`);

    await wb.runCommand('Agent Budget: Clear API Key…');
    await wb.waitForQuickInput('Clear the API key of…');
    const offered = await wb.quickPickLabels();
    assert.ok(offered.includes('Google Gemini, key set'), JSON.stringify(offered));
    assert.ok(!offered.some((label) => label.startsWith('Anthropic')), `offers a provider without a key: ${offered}`);
    await wb.pick('Google Gemini');
    await wb.notification('Agent Budget: Google Gemini API key cleared.').waitFor({ state: 'visible' });

    await wb.runCommand('Agent Budget: Set API Key…');
    await wb.waitForQuickInput('Set the API key for…');
    assert.ok(
      (await wb.quickPickLabels()).includes('Google Gemini, no key'),
      JSON.stringify(await wb.quickPickLabels()),
    );
    await wb.page.keyboard.press('Escape');
  });
});
