import { CliError, type CliCommand } from '../context';
import { exitCodeOf, isTerminal, openRunner, printOutcome, withInterrupt } from '../runSupport';

/**
 * `agent-budget resume <runId>`: continues an interrupted, blocked, paused, failed or cancelled run from its last
 * checkpoint (any unique prefix of the id, as `agent-budget runs` shows it). Finished steps are not repeated; a call
 * that was in flight when the run's process died is retried once. A completed run prints its outcome (exit 0).
 */
export const resumeCommand: CliCommand = {
  name: 'resume',
  summary: 'continue an interrupted, blocked or failed run from its last checkpoint',
  usage: 'agent-budget resume <runId or unique prefix> [--workspace <dir>] [--json]',
  options: {},
  positionals: true,
  async run(ctx, _values, positionals) {
    const [runId, ...extra] = positionals;
    if (!runId || extra.length > 0)
      throw new CliError(`give exactly one run id (or a unique prefix).\nUsage: ${resumeCommand.usage}`);
    const session = await openRunner(ctx);
    try {
      const outcome = await withInterrupt((signal) =>
        session.runner.resume(runId, { signal, onEvent: session.onEvent }),
      );
      printOutcome(ctx, outcome, isTerminal(ctx.stderr) && isTerminal(ctx.stdout));
      return exitCodeOf(outcome);
    } finally {
      await session.close();
    }
  },
};
