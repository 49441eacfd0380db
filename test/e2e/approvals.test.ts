// Approvals as a user meets them: an agent's new file opens as a diff with a modal Apply / Cancel, and only an
// Apply writes it; a reading tool that budget.json lists under tools.approve asks with its own dialog (no empty
// diff). The provider is a fake Anthropic server in this test process that answers with tool calls.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startFakeAnthropic, type FakeAnthropic, type Running } from '../fakes';
import { useWorkbench, type Workbench } from './workbench';

describe('Approvals: the agent asks before it writes, and before tools the policy says to ask for', function () {
  this.timeout(120_000);
  let fake: Running<FakeAnthropic>;
  const workbench = useWorkbench({
    prepare: async ({ workspace, addUserSettings }) => {
      fake = await startFakeAnthropic();
      addUserSettings({ 'agentBudget.anthropic.baseUrl': fake.url });
      const policyFile = path.join(workspace, '.agent-budget', 'budget.json');
      const policy = JSON.parse(readFileSync(policyFile, 'utf8')) as { tools: { allow: string[]; approve: string[] } };
      policy.tools = {
        ...policy.tools,
        allow: ['listFiles', 'searchText'],
        approve: ['readFile', 'writeFile', 'editFile', 'runCommand'],
      };
      writeFileSync(policyFile, JSON.stringify(policy, null, 2));
      writeFileSync(
        path.join(workspace, '.agent-budget', 'workflows', 'scribe.json'),
        JSON.stringify(
          {
            id: 'scribe',
            title: 'Scribe',
            provider: 'anthropic',
            model: 'claude-haiku-4-5',
            steps: [
              { id: 'work', prompt: 'Do this: {{input}}', tools: ['readFile', 'writeFile'], maxOutputTokens: 400 },
            ],
          },
          null,
          2,
        ),
      );
    },
  });

  after(async () => {
    await fake?.close();
  });

  /** Run Workflow… → Scribe → typed input. */
  async function runScribe(wb: Workbench, input: string): Promise<void> {
    await wb.runCommand('View: Close All Editors'); // with no editor open the input is typed, not picked
    await wb.runCommand('Agent Budget: Run Workflow…');
    await wb.waitForQuickInput('Run which workflow?');
    await wb.pick('Scribe');
    await wb.waitForQuickInput('Agent Budget: Scribe');
    await wb.quickInputBox.fill(input);
    await wb.page.keyboard.press('Enter');
  }

  const dialog = (wb: Workbench) => wb.page.locator('.monaco-dialog-box');

  it('the key is set from the palette', async () => {
    await workbench().setApiKey('Anthropic', 'sk-ant-e2e-fake-key-0123456789');
  });

  it('a new file shows as a diff; Apply writes it', async () => {
    const wb = workbench();
    fake.enqueue(
      {
        toolCalls: [{ name: 'writeFile', input: { path: 'TODO.md', content: '# TODO\n\n- fix the discount\n' } }],
        stopReason: 'toolUse',
        usage: { input: 300, output: 40 },
      },
      { text: 'Wrote TODO.md.', usage: { input: 360, output: 10 } },
    );
    await runScribe(wb, 'write a TODO list');
    const ask = dialog(wb).filter({ hasText: "Apply the agent's new file to TODO.md?" });
    await ask.waitFor({ state: 'visible', timeout: 30_000 });
    // The diff is open behind the dialog, with the proposed content.
    await wb.page
      .locator('.tabs-container .tab')
      .filter({ hasText: 'Agent edit: TODO.md (proposed)' })
      .first()
      .waitFor({ state: 'visible' });
    assert.ok(!existsSync(path.join(wb.workspace, 'TODO.md')), 'nothing is written before the answer');
    await ask.getByRole('button', { name: 'Apply', exact: true }).click();
    await wb.notification(/scribe completed/).waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(readFileSync(path.join(wb.workspace, 'TODO.md'), 'utf8'), '# TODO\n\n- fix the discount\n');
  });

  it('a reading tool listed under tools.approve asks with its own dialog; Cancel keeps the file from the model', async () => {
    const wb = workbench();
    fake.enqueue(
      {
        toolCalls: [{ name: 'readFile', input: { path: 'notes.md' } }],
        stopReason: 'toolUse',
        usage: { input: 300, output: 30 },
      },
      { text: 'I could not read the notes.', usage: { input: 340, output: 10 } },
    );
    const before = fake.generationRequests.length;
    await runScribe(wb, 'summarize the notes');
    const ask = dialog(wb).filter({ hasText: 'An agent wants to use readFile in this workspace.' });
    await ask.waitFor({ state: 'visible', timeout: 30_000 });
    assert.match(await ask.innerText(), /notes\.md/);
    assert.match(await ask.innerText(), /tools\.approve/);
    await ask.getByRole('button', { name: 'Cancel', exact: true }).click();
    // The model was told no (its second call carries the answer), and got nothing of the file.
    const deadline = Date.now() + 30_000;
    while (fake.generationRequests.length < before + 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    assert.equal(fake.generationRequests.length, before + 2, 'the run went on after the refusal');
    const answer = JSON.stringify(fake.generationRequests.at(-1)!.body);
    assert.match(answer, /did not approve/);
    assert.doesNotMatch(answer, /Meeting notes|## /);
  });
});
