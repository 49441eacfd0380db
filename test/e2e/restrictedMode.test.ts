// A folder the user does not trust: Restricted Mode. The extension declares limited support, so it still
// activates and shows the meter (spend and budgets stay visible), but no workflow runs: the run commands say why
// and how to trust the folder, and the Runs view says the same.
import assert from 'node:assert/strict';
import { useWorkbench } from './workbench';

describe('Agent Budget in Restricted Mode', function () {
  const workbench = useWorkbench({ trust: 'no' });

  it('still shows the status-bar meter next to the Restricted Mode indicator', async () => {
    const wb = workbench();
    await wb.statusBar.getByText('Restricted Mode').waitFor({ state: 'visible' });
    // Spend and budgets stay visible: the store opens and the meter shows the demo's $5 daily cap.
    await wb.statusBarItem('Agent Budget').filter({ hasText: '$0.00 / $5.00 today' }).waitFor({ state: 'visible', timeout: 20_000 });
  });

  it('"Run Workflow…" starts nothing and explains why, with a way to trust the folder', async () => {
    const wb = workbench();
    await wb.runCommand('Agent Budget: Run Workflow…');
    const toast = wb.notification(/runs no workflow in Restricted Mode/);
    await toast.waitFor({ state: 'visible' });
    await toast.getByRole('button', { name: 'Manage Workspace Trust' }).waitFor({ state: 'visible' });
    assert.equal(await wb.quickInput.isVisible(), false, 'a workflow picker opened in Restricted Mode');
  });

  it('"Review Current File" is refused the same way', async () => {
    const wb = workbench();
    await wb.runCommand('Agent Budget: Review Current File');
    await wb.notification(/runs no workflow in Restricted Mode/).first().waitFor({ state: 'visible' });
  });

  it('the Runs view tells how to trust the folder', async () => {
    const wb = workbench();
    const sideBar = await wb.openView('Agent Budget');
    await sideBar.getByText(/This folder is in Restricted Mode/).waitFor({ state: 'visible' });
    await sideBar.getByRole('button', { name: 'Manage Workspace Trust' }).waitFor({ state: 'visible' });
  });
});
