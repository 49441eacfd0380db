// Resuming a run this install did not start, as a user meets it: a run planted in the workspace's state folder by
// "another install" (a journal from another machine, or one a repository shipped) ends in a runCommand the policy
// allows. Resume asks first with a modal listing that command; Cancel resumes nothing; Resume Anyway continues it,
// and the command still asks before it runs. The provider is a fake Anthropic server in this test process.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { WorkspaceStore } from '../../src/core/store/store';
import { startFakeAnthropic, type FakeAnthropic, type Running } from '../fakes';
import { interruptedRunRecords } from '../support/plantedRun';
import { useWorkbench, type Workbench } from './workbench';

describe('Resume: a run another install wrote asks first, and its pending command asks again', function () {
  this.timeout(120_000);
  let fake: Running<FakeAnthropic>;
  const workbench = useWorkbench({
    prepare: async ({ workspace, stateDir, userPolicyFile, addUserSettings }) => {
      fake = await startFakeAnthropic();
      // Approvals as dialogs (the setting's "off"): the run view's inline approvals are approvals.test.ts's.
      addUserSettings({ 'agentBudget.anthropic.baseUrl': fake.url, 'agentBudget.runs.revealOutput': false });
      // The user lets runCommand run without asking (their own user.json), and the folder's budget.json says the
      // same, so nothing here needs the folder-policy consent: only the foreign run is in question.
      const tools = { allow: ['readFile', 'listFiles', 'searchText', 'runCommand'], approve: [] };
      mkdirSync(path.dirname(userPolicyFile), { recursive: true });
      writeFileSync(userPolicyFile, JSON.stringify({ tools }, null, 2));
      const policyFile = path.join(workspace, '.agent-budget', 'budget.json');
      const policy = JSON.parse(readFileSync(policyFile, 'utf8')) as { tools: { allow: string[]; approve: string[] } };
      policy.tools = { ...policy.tools, ...tools };
      writeFileSync(policyFile, JSON.stringify(policy, null, 2));
      const store = await WorkspaceStore.open({ dir: stateDir, pollMs: 0 });
      try {
        await store.commit(
          interruptedRunRecords({
            install: 'f'.repeat(32),
            owner: 'another-laptop:4242:0bad',
            calls: [{ name: 'runCommand', input: { command: 'touch PWNED' } }],
          }).records,
        );
      } finally {
        await store.close();
      }
    },
  });

  after(async () => {
    await fake?.close();
  });

  const dialog = (wb: Workbench) => wb.page.locator('.monaco-dialog-box');
  const pwned = (wb: Workbench) => path.join(wb.workspace, 'PWNED');

  async function resumeActing(wb: Workbench): Promise<void> {
    await wb.runCommand('Agent Budget: Resume Run…');
    await wb.waitForQuickInput('Resume which run?');
    await wb.pick('acting');
  }

  it('the key is set from the palette', async () => {
    await workbench().setApiKey('Anthropic', 'sk-ant-e2e-fake-key-0123456789');
  });

  it('Resume shows a modal listing the pending command; Cancel resumes nothing', async () => {
    const wb = workbench();
    await resumeActing(wb);
    const ask = dialog(wb).filter({ hasText: 'resume a run that was not started here?' });
    await ask.waitFor({ state: 'visible', timeout: 30_000 });
    const text = await ask.innerText();
    assert.match(text, /written by another-laptop:4242:0bad/);
    assert.match(text, /- runCommand touch PWNED \(step act\)/);
    await ask.getByRole('button', { name: 'Cancel', exact: true }).click();
    await wb.notification('Agent Budget: acting was not resumed.').waitFor({ state: 'visible', timeout: 20_000 });
    assert.equal(fake.requests.length, 0, 'a model call was made');
    assert.ok(!existsSync(pwned(wb)));
  });

  it('Resume Anyway continues it; the command it ends with asks again although tools.allow lists it', async () => {
    const wb = workbench();
    fake.enqueue({ text: 'Finished without the command.', usage: { input: 60, output: 6 } });
    await resumeActing(wb);
    const ask = dialog(wb).filter({ hasText: 'resume a run that was not started here?' });
    await ask.waitFor({ state: 'visible', timeout: 30_000 });
    await ask.getByRole('button', { name: 'Resume Anyway', exact: true }).click();
    const command = dialog(wb).filter({ hasText: 'An agent wants to run a command in this workspace.' });
    await command.waitFor({ state: 'visible', timeout: 30_000 });
    assert.match(await command.innerText(), /touch PWNED/);
    assert.match(await command.innerText(), /asked for it before the run stopped; it has not run/);
    await command.getByRole('button', { name: 'Cancel', exact: true }).click();
    await wb.notification(/acting completed/).waitFor({ state: 'visible', timeout: 30_000 });
    assert.ok(!existsSync(pwned(wb)), 'the command ran');
    assert.equal(fake.generationRequests.length, 1);
    assert.match(JSON.stringify(fake.generationRequests[0]!.body), /did not approve/);
  });
});
