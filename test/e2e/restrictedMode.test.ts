// A folder the user does not trust: Restricted Mode. The extension declares limited support, so it still
// activates and shows the meter (spend and budgets stay visible; running agents will be disabled).
import assert from 'node:assert/strict';
import { useWorkbench } from './workbench';

describe('Agent Budget in Restricted Mode', function () {
  const workbench = useWorkbench({ trust: 'no' });

  it('still shows the status-bar meter next to the Restricted Mode indicator', async () => {
    const wb = workbench();
    await wb.statusBar.getByText('Restricted Mode').waitFor({ state: 'visible' });
    await wb.statusBarItem('Agent Budget').waitFor({ state: 'visible' });
    assert.match(await wb.statusBarItem('Agent Budget').innerText(), /Agent Budget/);
  });
});
