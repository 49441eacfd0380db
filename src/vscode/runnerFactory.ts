// Where the extension gets its runner. The runner (src/core/runner/runner.ts) is being built beside this: until it
// lands, run commands say runs are unavailable; everything else (meter, panel, tree, policy) works without it.
import type { Workspace } from '../core/workspace';
import type { Approver, ProviderAccess, WorkflowRunner } from './runnerContract';

export function createRunner(_deps: { workspace: Workspace; providers: ProviderAccess; approver: Approver }): WorkflowRunner {
  throw new Error('the workflow runner is not part of this build yet.');
}
