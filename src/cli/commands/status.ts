import { formatUsd } from '../../core/money';
import { clientCaps, ProxyTokens, TokenFileError } from '../../core/proxy/tokens';
import { collectStatus } from '../../core/report/documents';
import { ExitCode, openWorkspace, printJson, type CliCommand } from '../context';
import { SHORT_ID } from '../runSupport';

export const statusCommand: CliCommand = {
  name: 'status',
  summary: 'every active budget scope, as the status bar sees it',
  usage: 'agent-budget status [--workspace <dir>] [--json]',
  options: {},
  async run(ctx) {
    const workspace = await openWorkspace(ctx, { pollMs: 0 });
    try {
      if (workspace.store.report.problem) ctx.stderr.write(`${workspace.store.report.problem}\n`);
      if (workspace.policyError)
        ctx.stderr.write(`${workspace.policyError.message}\nRuns are refused until it is fixed.\n`);
      const scopes = collectStatus(workspace, Date.now(), proxyClients(workspace.store.dir, ctx.stderr));
      if (ctx.json) {
        printJson(ctx, { scopes });
        return ExitCode.ok;
      }
      if (scopes.length === 0) {
        ctx.stdout.write('No budget scope has a limit (set limits in .agent-budget/budget.json).\n');
        return ExitCode.ok;
      }
      const rows = scopes.map((s) => [
        s.taskId
          ? `${s.scope} ${s.step} (run ${s.runId!.slice(0, SHORT_ID)})`
          : s.runId
            ? `${s.scope} ${s.runId.slice(0, SHORT_ID)}`
            : s.scope,
        s.usedTokens !== null
          ? `${s.usedTokens.toLocaleString('en-US')}${s.reservedTokens ? ` + ${s.reservedTokens.toLocaleString('en-US')} in flight` : ''} / ${s.limitTokens?.toLocaleString('en-US') ?? '∞'} tokens`
          : `${formatUsd(s.usedMicros ?? 0)}${s.reservedMicros ? ` + ${formatUsd(s.reservedMicros)} in flight` : ''} / ${s.limitMicros === null ? '∞' : formatUsd(s.limitMicros)}`,
        `${s.pct.toFixed(1)}%`,
        s.level,
        s.resetsAt ? `resets ${new Date(s.resetsAt).toLocaleString()}` : '',
      ]);
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows)
        ctx.stdout.write(
          `${r
            .map((c, i) => c.padEnd(widths[i]!))
            .join('  ')
            .trimEnd()}\n`,
        );
      return ExitCode.ok;
    } finally {
      await workspace.close();
    }
  },
};

/** The proxy's clients with their caps, for their scopes' rows (a damaged tokens file is said, not fatal here). */
function proxyClients(stateDir: string, stderr: NodeJS.WritableStream): Record<string, ReturnType<typeof clientCaps>> {
  try {
    return Object.fromEntries(
      ProxyTokens.in(stateDir)
        .list()
        .map((c) => [c.name, clientCaps(c)]),
    );
  } catch (err) {
    if (!(err instanceof TokenFileError)) throw err;
    stderr.write(`${err.message}\n`);
    return {};
  }
}
