import { AgentBudgetError } from '../errors';
import { execFileSync } from 'node:child_process';

/**
 * Who this machine's spend belongs to in the team ledger: `AGENT_BUDGET_TEAM_MEMBER`, else `git config user.email`
 * (run in the workspace folder, so a per-repository identity counts). Compared and stored lower-cased and trimmed,
 * so `Ana@X.dev` and `ana@x.dev` are one member.
 */
export class TeamMemberError extends AgentBudgetError {
  override readonly name = 'TeamMemberError';
  constructor(message: string, options?: ErrorOptions) {
    super('config', message, options);
  }
}

const MAX_MEMBER_LENGTH = 254;

export function teamMember(
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  gitEmail: (cwd: string) => string = (dir) =>
    execFileSync('git', ['config', 'user.email'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 5_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    }),
): string {
  const fromEnv = env.AGENT_BUDGET_TEAM_MEMBER?.trim();
  if (fromEnv) return checked(fromEnv, 'AGENT_BUDGET_TEAM_MEMBER');
  let email: string;
  try {
    email = gitEmail(cwd).trim();
  } catch (err) {
    const missing = (err as { code?: unknown }).code === 'ENOENT';
    throw new TeamMemberError(
      `${missing ? 'git is not installed' : 'git has no user.email here'}, so the team ledger cannot tell who you ` +
        'are: set AGENT_BUDGET_TEAM_MEMBER to your identity in the team (e.g. your work email)' +
        `${missing ? '' : ', or run `git config --global user.email you@example.com`'}.`,
      { cause: err },
    );
  }
  if (!email)
    throw new TeamMemberError(
      'git config user.email is empty, so the team ledger cannot tell who you are: set AGENT_BUDGET_TEAM_MEMBER ' +
        'to your identity in the team (e.g. your work email).',
    );
  return checked(email, 'git config user.email');
}

function checked(member: string, source: string): string {
  if (member.length > MAX_MEMBER_LENGTH || /[\u0000-\u001f\u007f]/.test(member))
    throw new TeamMemberError(
      `${source} must be a printable identity of at most ${MAX_MEMBER_LENGTH} characters (e.g. your work email).`,
    );
  return member.toLowerCase();
}
