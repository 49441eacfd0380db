import { UntrustedRunError } from '../../core/trust/resumeGuard';
import { CliError, ExitCode, type CliCommand } from '../context';
import { exitCodeOf, isTerminal, openRunner, printOutcome, SHORT_ID, withInterrupt } from '../runSupport';

/**
 * `agent-budget resume <runId>`: continues an interrupted, blocked, paused, failed or cancelled run from its last
 * checkpoint (any unique prefix of the id, as `agent-budget runs` shows it). Finished steps are not repeated; a call
 * that was in flight when the run's process died is retried once. A completed run prints its outcome (exit 0).
 * A run this install did not start (another machine, user or install wrote it) is refused with its pending tool
 * calls listed, unless `--trust-run` (exit 1); either way, the tool calls its checkpoint ends with are refused here
 * (the CLI cannot ask), and the model is told (trust/resumeGuard.ts).
 */
export const resumeCommand: CliCommand = {
  name: 'resume',
  summary: 'continue an interrupted, blocked or failed run from its last checkpoint',
  usage: 'agent-budget resume <runId or unique prefix> [--trust-run] [--workspace <dir>] [--json]',
  options: { 'trust-run': { type: 'boolean' } },
  positionals: true,
  async run(ctx, values, positionals) {
    const [runId, ...extra] = positionals;
    if (!runId || extra.length > 0)
      throw new CliError(`give exactly one run id (or a unique prefix).\nUsage: ${resumeCommand.usage}`);
    const session = await openRunner(ctx);
    try {
      const outcome = await withInterrupt((signal) =>
        session.runner.resume(runId, {
          signal,
          onEvent: session.onEvent,
          trustForeignRun: () => values['trust-run'] === true,
        }),
      );
      printOutcome(ctx, outcome, isTerminal(ctx.stderr) && isTerminal(ctx.stdout));
      return exitCodeOf(outcome);
    } catch (err) {
      if (!(err instanceof UntrustedRunError)) throw err;
      throw new CliError(
        `${err.message}\nTo continue it anyway: agent-budget resume ${err.run.runId.slice(0, SHORT_ID)} --trust-run ` +
          '(the tool calls listed are still refused: the CLI cannot ask).',
        ExitCode.usage,
      );
    } finally {
      await session.close();
    }
  },
};
