import type { JsonDocument } from './jsonDocument';
import type { PolicyIssue } from './issues';
import { show } from './jsonDocument';
import { closest } from './scopes';
import type { UsdCaps } from './types';

/**
 * The team keys of budget.json (docs/policy.md "Team budgets"): `limits.team` caps the whole team (a limits section like
 * `workspace`, merged by the limits merge: a repository tightens freely, loosens with consent), `team.tiers` caps
 * members by tier and `team.members` puts members in tiers. They bind only where a team ledger is configured.
 */
export interface TeamSection {
  tiers?: Record<string, UsdCaps>;
  /** Member identity (compared case-insensitively) → tier name. */
  members?: Record<string, string>;
}

/** The tier members not listed in `team.members` get, when `team.tiers` defines it. */
export const DEFAULT_TIER = 'default';

/** Whether the policy sets any team cap (limits.team or a tier): without a team ledger those are ignored. */
export function setsTeamCaps(policy: { limits: { team?: UsdCaps }; team?: TeamSection }): boolean {
  const capped = (caps: UsdCaps | undefined) => Object.values(caps ?? {}).some((v) => typeof v === 'number');
  return capped(policy.limits.team) || Object.values(policy.team?.tiers ?? {}).some(capped);
}

/**
 * The team section of the merged policy: the user's file and the repository's. A tier's cap is the tighter of the
 * two where both set it (the repository adds tiers and tightens freely; never loosens one the user set); a member
 * the user's file places keeps that tier (the user's say over their own identity), others take the repository's.
 */
export function mergeTeamSections(
  user: TeamSection | undefined,
  repo: TeamSection | undefined,
): TeamSection | undefined {
  if (!user) return repo && structuredClone(repo);
  if (!repo) return structuredClone(user);
  const tiers: Record<string, UsdCaps> = structuredClone(repo.tiers ?? {});
  for (const [name, mine] of Object.entries(user.tiers ?? {})) {
    const theirs = tiers[name] ?? {};
    const merged: UsdCaps = { ...theirs };
    for (const key of ['dailyUsd', 'weeklyUsd', 'monthlyUsd'] as const) {
      const a = mine[key];
      const b = theirs[key];
      if (a !== undefined) merged[key] = b === undefined ? a : Math.min(a, b);
    }
    tiers[name] = merged;
  }
  const members = { ...repo.members };
  for (const [member, tier] of Object.entries(user.members ?? {})) {
    for (const other of Object.keys(members)) if (other.toLowerCase() === member.toLowerCase()) delete members[other];
    members[member] = tier;
  }
  return { tiers, members };
}

type Segs = (string | number)[];

/**
 * Checks JSON Schema cannot express: every member's tier is one `team.tiers` defines (a typo would silently leave
 * the member uncapped), and no member is listed twice under different capitalisation (they are one member).
 */
export function checkTeamSection(doc: JsonDocument): PolicyIssue[] {
  const out: PolicyIssue[] = [];
  const error = (segs: Segs, message: string, at: 'value' | 'key' = 'value') =>
    out.push(doc.issueAt('error', segs, message, at));
  const root = doc.value;
  if (!isObject(root) || !isObject(root.team)) return out;
  const tiers = isObject(root.team.tiers) ? Object.keys(root.team.tiers) : [];
  const members = isObject(root.team.members) ? root.team.members : {};
  const seen = new Map<string, string>();
  for (const member of Object.keys(members)) {
    const tier = members[member];
    const key = member.trim().toLowerCase();
    const earlier = seen.get(key);
    if (earlier !== undefined)
      error(
        ['team', 'members', member],
        `${show(member)} is the same member as ${show(earlier)} (members are compared case-insensitively); list them once`,
        'key',
      );
    seen.set(key, member);
    if (member.trim() !== member || /[\u0000-\u001f\u007f]/.test(member))
      error(
        ['team', 'members', member],
        `${show(member)} has spaces around it or control characters; write the identity as AGENT_BUDGET_TEAM_MEMBER or git's user.email gives it`,
        'key',
      );
    if (typeof tier !== 'string' || tier === '' || tiers.includes(tier)) continue;
    const near = closest(tier, tiers);
    error(
      ['team', 'members', member],
      tiers.length === 0
        ? `${show(tier)} is not a tier: define it in "team.tiers" (e.g. "team": { "tiers": { ${show(tier)}: { "dailyUsd": 20 } } })`
        : `${show(tier)} is not a tier in "team.tiers" (tiers: ${tiers.map((t) => show(t)).join(', ')})${near ? `; did you mean ${show(near)}?` : ''}`,
    );
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
