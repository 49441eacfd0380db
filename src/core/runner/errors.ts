import { AgentBudgetError } from '../errors';
import type { ProviderId } from '../usage';

/** No API key for a provider. The CLI exits 1 naming the environment variable; the extension offers "Set API Key". */
export class MissingApiKeyError extends AgentBudgetError {
  override readonly name = 'MissingApiKeyError';
  constructor(
    readonly provider: ProviderId,
    message: string,
  ) {
    super('missingKey', message);
  }
}

/** A workflow id that is neither built in nor a file in `.agent-budget/workflows/`. */
export class WorkflowNotFoundError extends AgentBudgetError {
  override readonly name = 'WorkflowNotFoundError';
  constructor(
    readonly id: string,
    readonly available: string[],
  ) {
    super(
      'notFound',
      `There is no workflow "${id}". Available: ${available.join(', ')} (workspace workflows live in .agent-budget/workflows/<id>.json).`,
    );
  }
}

/** The run's input cannot be used (no input at all for a workflow that needs some, an unreadable file). */
export class RunInputError extends AgentBudgetError {
  override readonly name = 'RunInputError';
  constructor(message: string) {
    super('input', message);
  }
}

/**
 * `resume`/`cancel` of a run that does not exist or is ambiguous (`notFound`), is running elsewhere (`conflict`), or
 * whose checkpoint cannot be read (`store`).
 */
export class RunLookupError extends AgentBudgetError {
  override readonly name = 'RunLookupError';
  constructor(message: string, errorKind: 'notFound' | 'conflict' | 'store' = 'notFound') {
    super(errorKind, message);
  }
}
