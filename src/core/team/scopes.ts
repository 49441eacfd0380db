import { formatUsd, usdToMicros, type Micros } from '../money';
import { PERIODS, periodWindow, type Period, type PeriodWindow } from '../policy/periods';
import { DEFAULT_TIER } from '../policy/teamPolicy';
import type { UsdCaps } from '../policy/types';
import type { TeamCaps, TeamScopeName, TeamScopeUse } from './types';

/**
 * Team scopes from the committed policy (docs/policy.md "Team budgets"): `limits.team` caps the whole team,
 * `team.tiers` caps members by tier, `team.members` gives each member a tier. The policy loader does not know these
 * keys yet (the wiring phase adds them); this is the shape it will hand over.
 */
export interface TeamPolicy {
  limits?: UsdCaps;
  tiers?: Record<string, UsdCaps>;
  /** Member (as AGENT_BUDGET_TEAM_MEMBER or git's user.email say; compared case-insensitively) → tier. */
  members?: Record<string, string>;
  /**
   * IANA zone of the team's periods. Team periods must be the same on every machine, so without one they are UTC,
   * never a machine's local zone.
   */
  timeZone?: string;
}

export { DEFAULT_TIER };

export interface ResolvedTeamCaps {
  team: TeamCaps;
  memberCaps: TeamCaps;
  /** The member's tier, when they have one. */
  tier: string | undefined;
}

export function teamTimeZone(policy: Pick<TeamPolicy, 'timeZone'>): string {
  return policy.timeZone ?? 'UTC';
}

/** The caps that apply to `member`: the team's, and their tier's (unknown tier names cap nothing). */
export function resolveTeamCaps(policy: TeamPolicy, member: string): ResolvedTeamCaps {
  const wanted = member.toLowerCase();
  let tier: string | undefined;
  for (const [name, t] of Object.entries(policy.members ?? {})) if (name.trim().toLowerCase() === wanted) tier = t;
  if (tier === undefined && policy.tiers?.[DEFAULT_TIER]) tier = DEFAULT_TIER;
  return { team: microsCaps(policy.limits), memberCaps: microsCaps(tier ? policy.tiers?.[tier] : undefined), tier };
}

function microsCaps(caps: UsdCaps | undefined): TeamCaps {
  const out: TeamCaps = {};
  for (const period of PERIODS) {
    const usd = caps?.[`${period}Usd`];
    if (usd !== undefined) out[period] = usdToMicros(usd);
  }
  return out;
}

/** The team's current windows at `at`. */
export function teamWindows(at: number, timeZone: string): Record<Period, PeriodWindow> {
  return {
    daily: periodWindow('daily', at, timeZone),
    weekly: periodWindow('weekly', at, timeZone),
    monthly: periodWindow('monthly', at, timeZone),
  };
}

/** Period keys in the order the database functions take them: day, week, month. */
export function periodKeys(windows: Record<Period, PeriodWindow>): [string, string, string] {
  return [windows.daily.key, windows.weekly.key, windows.monthly.key];
}

/** Caps in the order the database functions take them: team daily, weekly, monthly, then the member's. */
export function capsArray(team: TeamCaps, memberCaps: TeamCaps): Array<Micros | null> {
  return [...PERIODS.map((p) => team[p] ?? null), ...PERIODS.map((p) => memberCaps[p] ?? null)];
}

/** The six scope uses from the database's six rows (same order as capsArray). */
export function scopeUses(
  rows: ReadonlyArray<{ key: string; used: Micros; held: Micros }>,
  team: TeamCaps,
  memberCaps: TeamCaps,
  windows: Record<Period, PeriodWindow>,
  tier?: string,
): TeamScopeUse[] {
  return rows.map((row, i) => {
    const period = PERIODS[i % 3]!;
    const own = i >= 3;
    return {
      scope: own ? memberScope(period, tier) : `team.${period}`,
      key: row.key,
      period,
      used: row.used,
      held: row.held,
      limit: (own ? memberCaps : team)[period],
      resetsAt: windows[period].endMs,
    };
  });
}

/** The member's own scope of `period`, named by their tier (docs/cli.md: `team.member.<tier>.…`). */
export function memberScope(period: Period, tier: string | undefined): TeamScopeName {
  return tier ? `team.member.${tier}.${period}` : `team.member.${period}`;
}

/** What a blocked team admission tells the user: which cap, how much is gone, when it resets, what to do. */
export function blockedMessage(use: TeamScopeUse, member: string, tier: string | undefined): string {
  const whose = use.scope.startsWith('team.member.')
    ? `${member}'s ${use.period} team cap${tier ? ` (tier "${tier}")` : ''}`
    : `The team's ${use.period} cap`;
  const setting = use.scope.startsWith('team.member.')
    ? `team.tiers${tier ? `.${tier}` : ''}.${use.period}Usd`
    : `limits.team.${use.period}Usd`;
  return (
    `${whose} is reached: ${formatUsd(use.used + use.held)} of ${formatUsd(use.limit ?? 0)} spent or held across the ` +
    `team's machines (${use.scope}). It resets ${new Date(use.resetsAt).toISOString()}; or raise ${setting} in ` +
    '.agent-budget/budget.json (a change the team commits) and resume.'
  );
}
