import { withLevel, type ScopeWithLevel } from '../budget/status';
import { formatUsd } from '../money';
import type { StatusScope } from '../report/documents';
import type { TeamReport, TeamScopeUse, TeamSpendRow } from './types';

/** The capped team scopes with their levels, as the engine's scopes (held counts as reserved: calls in flight). */
export function teamScopeLevels(scopes: readonly TeamScopeUse[]): ScopeWithLevel[] {
  return scopes
    .filter((s) => s.limit !== undefined)
    .map((s) =>
      withLevel({
        scope: s.scope,
        key: s.key,
        unit: 'usd',
        used: s.used,
        reserved: s.held,
        limit: s.limit,
        soft: undefined,
        resetsAt: s.resetsAt,
      }),
    );
}

/** The capped team scopes as rows of `agent-budget status`. */
export function teamStatusRows(scopes: readonly TeamScopeUse[]): StatusScope[] {
  return teamScopeLevels(scopes).map((s) => ({
    scope: s.scope,
    usedMicros: s.used,
    limitMicros: s.limit ?? null,
    usedTokens: null,
    limitTokens: null,
    pct: Math.round(s.pct * 10) / 10,
    level: s.level,
    reservedMicros: s.reserved,
    resetsAt: new Date(s.resetsAt!).toISOString(),
  }));
}

/** `agent-budget report --team` as Markdown: the team's spend by member, workflow, model and client. */
export function renderTeamReportMarkdown(report: TeamReport, title: string): string {
  const lines = [
    `# Team spend — ${title}`,
    '',
    `Total: ${formatUsd(report.total.costMicros)} in ${report.total.calls} call(s)` +
      (report.total.estimatedMicros ? ` (${formatUsd(report.total.estimatedMicros)} estimated)` : ''),
  ];
  const table = (heading: string, rows: TeamSpendRow[]) => {
    lines.push('', `## By ${heading}`, '');
    if (rows.length === 0) return void lines.push('No spend.');
    lines.push(`| ${heading} | cost | calls | tokens |`, '| --- | ---: | ---: | ---: |');
    for (const r of rows)
      lines.push(`| ${cell(r.key)} | ${formatUsd(r.costMicros)} | ${r.calls} | ${r.tokens.toLocaleString('en-US')} |`);
  };
  table('member', report.byMember);
  table('workflow', report.byWorkflow);
  table('model', report.byModel);
  table('client', report.byClient);
  return `${lines.join('\n')}\n`;
}

/** A member or workflow name is the team's input: it must not break the table or smuggle Markdown. */
function cell(text: string): string {
  return text.replace(/[\\|`*_[\]<>]/g, (c) => `\\${c}`).replace(/[\r\n]+/g, ' ');
}
