import { renderReportCsv, renderReportMarkdown } from '../../core/report/render';
import { buildReport, currentMonth, type ReportPeriod } from '../../core/report/report';
import { daysToMs, isDayKey, isMonthKey, monthDays, today } from '../../core/report/days';
import { renderTeamReportMarkdown } from '../../core/team/teamStatus';
import { CliError, ExitCode, openWorkspace, printJson, type CliCommand } from '../context';

/**
 * `agent-budget report [--month YYYY-MM | --from D [--to D]] [--csv] [--json]`: the spend report of a month (default:
 * the current one, in the policy's time zone) or a range of days. Markdown on stdout by default (the same text the
 * "Show Monthly Report" command opens), `--json` the SpendReport (docs/cli.md fields and more), `--csv` one long-format
 * table (see renderReportCsv).
 */
export const reportCommand: CliCommand = {
  name: 'report',
  summary: 'spend report for a month or a date range (Markdown, --json or --csv)',
  usage:
    'agent-budget report [--month YYYY-MM | --from YYYY-MM-DD [--to YYYY-MM-DD]] [--csv | --team] [--workspace <dir>] [--json]',
  options: {
    month: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    csv: { type: 'boolean' },
    team: { type: 'boolean' },
  },
  async run(ctx, values) {
    if (values.csv === true && ctx.json)
      throw new CliError(`--csv and --json are two output formats: choose one.\nUsage: ${reportCommand.usage}`);
    const workspace = await openWorkspace(ctx, { pollMs: 0 });
    try {
      if (workspace.store.report.problem) ctx.stderr.write(`${workspace.store.report.problem}\n`);
      if (workspace.policyError) {
        ctx.stderr.write(
          `${workspace.policyError.message}\nThe report uses the built-in defaults for caps and prices until it is fixed.\n`,
        );
      }
      const now = Date.now();
      if (values.team === true) {
        const team = workspace.team;
        if (!team)
          throw new CliError(
            '--team reads the team ledger: set AGENT_BUDGET_TEAM_DATABASE_URL (a PostgreSQL connection string) first.',
          );
        if (values.csv === true)
          throw new CliError(`--team gives Markdown or --json, not --csv.\nUsage: ${reportCommand.usage}`);
        const period = reportPeriod(values, { timeZone: team.timeZone }, now);
        const days =
          'month' in period
            ? isMonthKey(period.month)
              ? monthDays(period.month)
              : undefined
            : { fromDay: period.from, toDay: period.to };
        if (!days || !isDayKey(days.fromDay) || !isDayKey(days.toDay) || days.toDay < days.fromDay)
          throw new CliError(`not a month (YYYY-MM) or a range of days (YYYY-MM-DD).\nUsage: ${reportCommand.usage}`);
        const report = await team.report(daysToMs(days, team.timeZone));
        if (ctx.json) printJson(ctx, { ...report, timeZone: team.timeZone, from: days.fromDay, to: days.toDay });
        else
          ctx.stdout.write(
            renderTeamReportMarkdown(report, 'month' in period ? period.month : `${days.fromDay} – ${days.toDay}`),
          );
        return ExitCode.ok;
      }
      const period = reportPeriod(values, workspace.policy, now);
      let report;
      try {
        report = buildReport(workspace, period, { now });
      } catch (err) {
        if (err instanceof RangeError) throw new CliError(`${err.message}\nUsage: ${reportCommand.usage}`);
        throw err;
      }
      if (ctx.json) printJson(ctx, report);
      else if (values.csv === true) ctx.stdout.write(renderReportCsv(report));
      else ctx.stdout.write(renderReportMarkdown(report));
      return ExitCode.ok;
    } finally {
      await workspace.close();
    }
  },
};

function reportPeriod(values: Record<string, unknown>, policy: { timeZone?: string }, now: number): ReportPeriod {
  const month = values.month as string | undefined;
  const from = values.from as string | undefined;
  const to = values.to as string | undefined;
  if (month !== undefined && (from !== undefined || to !== undefined)) {
    throw new CliError(`give --month or --from/--to, not both.\nUsage: ${reportCommand.usage}`);
  }
  if (to !== undefined && from === undefined) throw new CliError(`--to needs --from.\nUsage: ${reportCommand.usage}`);
  if (from !== undefined) return { from, to: to ?? today(now, policy.timeZone) };
  return { month: month ?? currentMonth(policy, now) };
}
