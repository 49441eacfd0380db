// What the extension uses of the runner (src/core/runner/runner.ts), in one place.
import type { Runner } from '../core/runner/runner';

export type {
  ApprovalRequest,
  Approver,
  ProviderAccess,
  RunEvent,
  RunInput,
  RunOptions,
  RunOutcome,
} from '../core/runner/runner';

/** The runner as run sessions use it (an interface, so tests could hand in another); whoever makes one disposes it. */
export type WorkflowRunner = Pick<
  Runner,
  'listWorkflows' | 'start' | 'quote' | 'resume' | 'continue' | 'cancel' | 'active' | 'dispose'
>;
