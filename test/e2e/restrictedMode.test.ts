// A folder the user does not trust: Restricted Mode. The extension declares limited support, so it still
// activates and shows the meter (spend and budgets stay visible), but no workflow runs: the run commands say why
// and how to trust the folder, and the Runs view says the same.
import assert from 'node:assert/strict';
import { newId } from '../../src/core/processIdentity';
import { WorkspaceStore } from '../../src/core/store/store';
import { useWorkbench } from './workbench';

describe('Agent Budget in Restricted Mode', function () {
  const workbench = useWorkbench({ trust: 'no' });

  it('still shows the status-bar meter next to the Restricted Mode indicator', async () => {
    const wb = workbench();
    await wb.statusBar.getByText('Restricted Mode').waitFor({ state: 'visible' });
    // Spend and budgets stay visible: the store opens and the meter shows the demo's $5 daily cap.
    await wb
      .statusBarItem('Agent Budget')
      .filter({ hasText: '$0.00 / $5.00 today' })
      .waitFor({ state: 'visible', timeout: 20_000 });
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
    await wb
      .notification(/runs no workflow in Restricted Mode/)
      .first()
      .waitFor({ state: 'visible' });
  });

  it('the Runs view tells how to trust the folder', async () => {
    const wb = workbench();
    const sideBar = await wb.openView('Agent Budget');
    await sideBar.getByText(/This folder is in Restricted Mode/).waitFor({ state: 'visible' });
    await sideBar.getByRole('button', { name: 'Manage Workspace Trust' }).waitFor({ state: 'visible' });
  });

  it('trusting the folder enables the panel’s Resume button at once, with no spend to trigger a refresh', async function () {
    this.timeout(90_000);
    const wb = workbench();
    // A run to resume, written by this process as the CLI would (after the test above: the Runs view is not empty now).
    const store = await WorkspaceStore.open({ dir: wb.stateDir, pollMs: 0 });
    const now = Date.now();
    const runId = newId(now - 60_000);
    try {
      await store.commit([
        {
          k: 'run',
          run: {
            id: runId,
            workflow: 'explain',
            status: 'interrupted',
            title: 'Explain the invoice',
            createdAt: now - 60_000,
            updatedAt: now - 30_000,
            rev: store.nextRev(),
            owner: 'e2e-seed:1:dead',
            parentRunId: null,
            variant: null,
            data: {},
          },
        },
      ]);
    } finally {
      await store.close();
    }
    // Workspace Trust on the left, the panel on the right: the panel stays in view while the folder is trusted (a
    // panel hidden and shown again reloads, which would hide whether trust alone refreshes it).
    await wb.statusBar.getByText('Restricted Mode').click();
    const trust = wb.page.getByRole('button', { name: 'Trust', exact: true });
    await trust.waitFor({ state: 'visible' });
    await wb.runCommand('View: New Editor Group to the Right');
    await wb.runCommand('Agent Budget: Open Budget Panel');
    const frame = await wb.frameShowing('Budgets now');
    await frame.locator('vscode-tab-header').filter({ hasText: 'Runs' }).click();
    const resume = frame.locator(`tr[data-run-id="${runId}"] vscode-button`).filter({ hasText: 'Resume' });
    await resume.waitFor({ state: 'visible', timeout: 20_000 });
    assert.notEqual(await resume.getAttribute('disabled'), null, 'Resume is enabled in Restricted Mode');
    // Focus moves to Workspace Trust first, and the refresh that the panel's change of focus asks for is over
    // (still untrusted) before the folder is trusted.
    await wb.runCommand('View: Focus First Editor Group');
    await wb.page.waitForTimeout(1500);
    assert.notEqual(await resume.getAttribute('disabled'), null);

    await trust.click();
    await wb.statusBar.getByText('Restricted Mode').waitFor({ state: 'hidden', timeout: 20_000 });
    await wb.untilTrue(
      frame,
      `(() => { const b = document.querySelector('tr[data-run-id="${runId}"] vscode-button'); return b !== null && !b.hasAttribute('disabled'); })()`,
      'the Resume button to be enabled',
    );
  });
});
