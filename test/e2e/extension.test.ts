// What a user sees of Agent Budget in the real workbench: the status-bar meter and the activity-bar view.
import assert from 'node:assert/strict';
import { useWorkbench } from './workbench';

describe('Agent Budget in the workbench', function () {
  const workbench = useWorkbench();

  it('shows the "Agent Budget" status-bar item', async () => {
    const meter = workbench().statusBarItem('Agent Budget');
    // Before any spend it already shows the tightest cap of the demo's budget.json ($5 a day).
    await meter.filter({ hasText: '$0.00 / $5.00 today' }).waitFor({ state: 'visible', timeout: 20_000 });
    // Its `name` is what the status bar's context menu offers to hide.
    assert.ok((await workbench().statusBarMenuNames()).includes('Agent Budget'));
  });

  it('opens the "Agent Budget" activity-bar container on the Runs view', async () => {
    const sideBar = await workbench().openView('Agent Budget');
    const text = await sideBar.innerText();
    assert.match(text, /AGENT BUDGET: RUNS/i);
    assert.match(text, /No runs yet\./);
    const welcome = sideBar.locator('.welcome-view-content');
    await welcome.getByRole('button', { name: 'Run Workflow…' }).waitFor({ state: 'visible' });
    await welcome.getByRole('button', { name: 'Set API Key' }).waitFor({ state: 'visible' });
  });
});
