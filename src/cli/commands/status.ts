import { withLevel, type BudgetLevel } from '../../core/budget/engine';
import { formatUsd } from '../../core/money';
import { effectiveLimits } from '../../core/policy/effective';
import type { Workspace } from '../../core/workspace';
import { ExitCode, openWorkspace, printJson, type CliCommand } from '../context';

/** One row of `agent-budget status --json` (CLI.md), plus reservedMicros/resetsAt/runId where they apply. */
export interface StatusScope {
  scope: string;
  usedMicros: number | null;
  limitMicros: number | null;
  usedTokens: number | null;
  limitTokens: number | null;
  pct: number;
  level: BudgetLevel;
  reservedMicros?: number;
  resetsAt?: string;
  runId?: string;
}

/**
 * Every active budget scope as the status bar sees it: the capped USD scopes of the workspace and of each
 * workflow for the current periods (in-flight reservations count toward pct and level), and the session of each
 * running run. Runs refused by an invalid budget.json are reported on stderr, with the scopes of the defaults.
 */
export async function collectStatus(workspace: Workspace, now: number): Promise<StatusScope[]> {
  const scopes: StatusScope[] = workspace.engine.status(now).map((s) => ({
    scope: s.scope,
    usedMicros: s.used,
    limitMicros: s.limit ?? null,
    usedTokens: null,
    limitTokens: null,
    pct: round1(s.pct),
    level: s.level,
    reservedMicros: s.reserved,
    resetsAt: s.resetsAt === undefined ? undefined : new Date(s.resetsAt).toISOString(),
  }));
  for (const run of workspace.store.queries.listRuns({ status: ['running'] })) {
    const session = effectiveLimits(workspace.policy, run.workflow).session;
    const use = withLevel({
      scope: 'session',
      key: `session@${run.id}`,
      unit: 'tokens',
      used: run.tokens,
      reserved: 0,
      limit: session.hardTokens,
      soft: session.softTokens,
    });
    scopes.push({
      scope: 'session',
      usedMicros: run.costMicros,
      limitMicros: null,
      usedTokens: run.tokens,
      limitTokens: session.hardTokens ?? null,
      pct: round1(use.pct),
      level: use.level,
      runId: run.id,
    });
  }
  return scopes;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

export const statusCommand: CliCommand = {
  name: 'status',
  summary: 'every active budget scope, as the status bar sees it',
  usage: 'agent-budget status [--workspace <dir>] [--json]',
  options: {},
  async run(ctx) {
    const workspace = await openWorkspace(ctx, { pollMs: 0 });
    try {
      if (workspace.store.report.problem) ctx.stderr.write(`${workspace.store.report.problem}\n`);
      if (workspace.policyError) ctx.stderr.write(`${workspace.policyError.message}\nRuns are refused until it is fixed.\n`);
      const scopes = await collectStatus(workspace, Date.now());
      if (ctx.json) {
        printJson(ctx, { scopes });
        return ExitCode.ok;
      }
      if (scopes.length === 0) {
        ctx.stdout.write('No budget scope has a limit (set limits in .agent-budget/budget.json).\n');
        return ExitCode.ok;
      }
      const rows = scopes.map((s) => [
        s.runId ? `session ${s.runId.slice(0, 8)}` : s.scope,
        s.usedTokens !== null
          ? `${s.usedTokens.toLocaleString('en-US')} / ${s.limitTokens?.toLocaleString('en-US') ?? '∞'} tokens`
          : `${formatUsd(s.usedMicros ?? 0)} / ${formatUsd(s.limitMicros ?? 0)}`,
        `${s.pct.toFixed(1)}%`,
        s.level,
        s.resetsAt ? `resets ${new Date(s.resetsAt).toLocaleString()}` : '',
      ]);
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows) ctx.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
      return ExitCode.ok;
    } finally {
      await workspace.close();
    }
  },
};
