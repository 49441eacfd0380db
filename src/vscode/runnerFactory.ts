// Where the extension gets its runner: the core Runner over the open workspace, with VS Code's provider access
// (SecretStorage keys, settings' endpoints) and approvals (diff preview, modal).
import { Runner } from '../core/runner/runner';
import type { Workspace } from '../core/workspace';
import type { Approver, ProviderAccess, WorkflowRunner } from './runnerContract';

export function createRunner(deps: {
  workspace: Workspace;
  providers: ProviderAccess;
  approver: Approver;
}): WorkflowRunner {
  return new Runner(deps);
}
