import { TeamLedgerConfigError } from './errors';
import { teamMember } from './member';

/**
 * The CLI's team-ledger configuration: `AGENT_BUDGET_TEAM_DATABASE_URL` (the user's secret, never a committed file)
 * and the member identity (member.ts). Undefined when no URL is set: team scopes are then ignored with one warning.
 */
export interface TeamConnection {
  url: string;
  member: string;
}

export function teamConnectionFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  gitEmail?: (cwd: string) => string,
): TeamConnection | undefined {
  const url = env.AGENT_BUDGET_TEAM_DATABASE_URL?.trim();
  if (!url) return undefined;
  const problem = teamDatabaseUrlProblem(url);
  if (problem) throw new TeamLedgerConfigError(`AGENT_BUDGET_TEAM_DATABASE_URL ${problem}`);
  return { url, member: teamMember(env, cwd, gitEmail) };
}

/** What is wrong with a team database URL, if anything (never quoting it: it may carry a password). */
export function teamDatabaseUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL: use postgres://user:password@host:5432/database';
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:')
    return `must start with postgres:// or postgresql:// (it starts with ${parsed.protocol}//)`;
  return undefined;
}
