import { formatUsd } from '../../core/money';
import { runsDocument } from '../../core/report/documents';
import { RUN_STATUSES, type RunStatus } from '../../core/store/records';
import { CliError, ExitCode, openWorkspace, printJson, type CliCommand } from '../context';
import { SHORT_ID } from '../runSupport';

/** `agent-budget runs [--status S[,S…]] [--limit N]`: runs of the workspace, newest first. */
export const runsCommand: CliCommand = {
  name: 'runs',
  summary: 'list runs, newest first',
  usage: `agent-budget runs [--status ${RUN_STATUSES.join('|')}[,…]] [--limit <n>] [--workspace <dir>] [--json]`,
  options: {
    status: { type: 'string' },
    limit: { type: 'string' },
  },
  async run(ctx, values) {
    let status: RunStatus[] | undefined;
    if (typeof values.status === 'string') {
      status = values.status.split(',').map((s) => s.trim()) as RunStatus[];
      const bad = status.filter((s) => !RUN_STATUSES.includes(s));
      if (bad.length) throw new CliError(`unknown status "${bad.join('", "')}": use ${RUN_STATUSES.join(', ')}.`);
    }
    let limit: number | undefined;
    if (typeof values.limit === 'string') {
      limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw new CliError(`--limit must be a whole number ≥ 1, got "${values.limit}".`);
    }
    // pollMs 0: a one-shot read. Opening still marks runs of processes that died as interrupted.
    const workspace = await openWorkspace(ctx, { pollMs: 0 });
    try {
      if (workspace.store.report.problem) ctx.stderr.write(`${workspace.store.report.problem}\n`);
      const runs = runsDocument(workspace, { status, limit });
      if (ctx.json) {
        printJson(ctx, runs);
        return ExitCode.ok;
      }
      if (runs.length === 0) {
        ctx.stdout.write(
          status ? `No ${status.join(' or ')} runs.\n` : 'No runs yet. Start one with: agent-budget run <workflow>\n',
        );
        return ExitCode.ok;
      }
      const rows = [
        ['RUN', 'STATUS', 'WORKFLOW', 'COST', 'UPDATED', 'TITLE'],
        ...runs.map((r) => [
          r.runId.slice(0, SHORT_ID),
          r.status,
          r.workflow,
          formatUsd(r.costMicros),
          localTime(Date.parse(r.updatedAt)),
          r.title,
        ]),
      ];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
      for (const row of rows)
        ctx.stdout.write(`${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`);
      return ExitCode.ok;
    } finally {
      await workspace.close();
    }
  },
};

function localTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
