import { RUN_RESULTS, type RunResult } from '../../core/store/records';
import { CliError, ExitCode, openWorkspace, printJson, type CliCommand } from '../context';

/**
 * `agent-budget mark <runId> accepted|rejected`: records whether a completed run's result was used, for the
 * acceptance rate of variants in the report. A run id may be shortened to any unique prefix. Marking again
 * replaces the mark.
 */
export const markCommand: CliCommand = {
  name: 'mark',
  summary: "mark a completed run's result accepted or rejected (variant comparison)",
  usage: 'agent-budget mark <runId> accepted|rejected [--workspace <dir>] [--json]',
  options: {},
  positionals: true,
  async run(ctx, _values, positionals) {
    const [prefix, result, ...extra] = positionals;
    if (!prefix || !result || extra.length > 0 || !RUN_RESULTS.includes(result as RunResult)) {
      throw new CliError(`give a run id and accepted or rejected.\nUsage: ${markCommand.usage}`);
    }
    const workspace = await openWorkspace(ctx, { pollMs: 0 });
    try {
      const q = workspace.store.queries;
      const ids = q.getRun(prefix) ? [prefix] : q.findRuns(prefix);
      if (ids.length === 0) throw new CliError(`no run "${prefix}" in this workspace (agent-budget runs lists them).`);
      if (ids.length > 1)
        throw new CliError(`"${prefix}" matches several runs (${ids.join(', ')}): give more of the id.`);
      const run = q.getRun(ids[0]!)!;
      if (run.status !== 'completed') {
        throw new CliError(`run ${run.id} is ${run.status}: only a completed run has a result to accept or reject.`);
      }
      await workspace.store.commit([{ k: 'outcome', runId: run.id, result: result as RunResult, ts: Date.now() }]);
      if (ctx.json) {
        printJson(ctx, { runId: run.id, workflow: run.workflow, variant: run.variant, result });
      } else {
        ctx.stdout.write(`Marked run ${run.id} (${run.workflow}${run.variant ? `, ${run.variant}` : ''}) ${result}.\n`);
      }
      return ExitCode.ok;
    } finally {
      await workspace.close();
    }
  },
};
