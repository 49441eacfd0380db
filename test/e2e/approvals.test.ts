// Approvals as a user meets them, in the run's view: an agent's new file asks Apply / Reject there with its diff
// one click away, and only an Apply writes it; a reading tool that budget.json lists under tools.approve asks too
// (no empty diff), and Reject keeps the file from the model. The provider is a fake Anthropic server in this test
// process that answers with tool calls. (Without a run view — runs.revealOutput off — a modal asks instead.)
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

  it('the key is set from the palette', async () => {
    await workbench().setApiKey('Anthropic', 'sk-ant-e2e-fake-key-0123456789');
  });

  it('a new file asks in the run view, its diff one click away; Apply writes it', async () => {
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
    const view = await wb.frameShowing('The agent asks to use writeFile', 30_000);
    assert.match(await view.evaluate<string>('document.querySelector(".approval").innerText'), /TODO\.md/);
    await view.locator('button[data-test="diff"]').click();
    // The diff opens, with the proposed content.
    await wb.page
      .locator('.tabs-container .tab')
      .filter({ hasText: 'Agent edit: TODO.md (proposed)' })
      .first()
      .waitFor({ state: 'visible' });
    assert.ok(!existsSync(path.join(wb.workspace, 'TODO.md')), 'nothing is written before the answer');
    const again = await wb.frameShowing('The agent asks to use writeFile');
    await again.locator('button[data-test="apply"]').click();
    await wb.frameShowing('Wrote TODO.md.', 30_000);
    assert.equal(readFileSync(path.join(wb.workspace, 'TODO.md'), 'utf8'), '# TODO\n\n- fix the discount\n');
  });

  it('a reading tool listed under tools.approve asks in the run view too; Reject keeps the file from the model', async () => {
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
    const view = await wb.frameShowing('The agent asks to use readFile', 30_000);
    assert.match(await view.evaluate<string>('document.querySelector(".approval").innerText'), /notes\.md/);
    assert.equal(await view.locator('button[data-test="diff"]').count(), 0, 'nothing to diff for a read');
    await view.locator('button[data-test="reject"]').click();
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
