import { formatJsonPath } from '../policy/issues';
import type { BudgetPolicy, WorkflowPolicy } from '../policy/types';
import { describeLimitRaise, limitName } from './limitWords';
import { num, obj, type Decisions, type Json } from './loosening';

// ---------------------------------------------------------------------------------------------------------------
// Limits: every numeric key of every section (`task`, `session`, `workspace`, and sections added later) is a limit
// where lower is tighter and `null` (no limit) is the loosest.

export function mergeLimits(decisions: Decisions, u: BudgetPolicy, uRaw: Json, rRaw: Json): BudgetPolicy['limits'] {
  const userLimits = u.limits as unknown as Record<string, Record<string, number | undefined>>;
  const out: Record<string, Record<string, number>> = {};
  for (const section of new Set([...Object.keys(userLimits), ...Object.keys(rRaw)])) {
    const mine = userLimits[section] ?? {};
    const asked = obj(rRaw[section]);
    const explicit = obj(uRaw[section]);
    const merged: Record<string, number> = {};
    for (const key of new Set([...Object.keys(mine), ...Object.keys(asked)])) {
      const { value } = mergeLimit(decisions, {
        path: formatJsonPath(['limits', section, key]),
        name: limitName(section, key),
        key,
        user: mine[key],
        repo: asked[key],
        userSetIt: explicit[key] !== undefined,
      });
      if (value !== undefined) merged[key] = value;
    }
    out[section] = keepSoftBelowHard(merged);
  }
  return out as unknown as BudgetPolicy['limits'];
}

/**
 * One limit: the repository's when it is tighter (or consented to), else the user's; a value undefined = no limit.
 * `fromRepo` says whose value it is.
 */
function mergeLimit(
  decisions: Decisions,
  a: { path: string; name: string; key: string; user: number | undefined; repo: unknown; userSetIt: boolean },
): { value: number | undefined; fromRepo: boolean } {
  const repo = a.repo === null ? null : num(a.repo);
  const mine = { value: a.user, fromRepo: false };
  const theirs = { value: repo ?? undefined, fromRepo: true };
  if (repo === undefined) return mine;
  if (a.user === undefined || (repo !== null && repo <= a.user)) return theirs; // nothing to raise: it tightens
  const what = describeLimitRaise(a.name, a.key, a.user, repo);
  return decisions.loosens({ path: a.path, what, value: a.repo, kind: 'limit' }, a.userSetIt) ? theirs : mine;
}

/**
 * A soft limit above the hard one could never warn before the block. Each file keeps soft ≤ hard, but the two may
 * come from different files (budget.json lowers only the hard limit): the soft limit then becomes half of the hard
 * one, as when budget.json lowers only a default hard limit.
 */
function keepSoftBelowHard(limits: Record<string, number>): Record<string, number> {
  for (const unit of ['Tokens', 'Usd']) {
    const soft = limits[`soft${unit}`];
    const hard = limits[`hard${unit}`];
    if (soft !== undefined && hard !== undefined && soft > hard)
      limits[`soft${unit}`] = unit === 'Tokens' ? Math.floor(hard / 2) : hard / 2;
  }
  return limits;
}

// ---------------------------------------------------------------------------------------------------------------
// Workflows: routing and other settings per key (the user's where both set one); limits per key as above. A
// workflow's task/session limit replaces the workspace's for that workflow, so the ceiling it is compared with is
// the user's for that workflow (the user's workflow limit, else the user's workspace-wide one). The defaults name
// no workflow, so every workflow setting on the user's side is one user.json wrote.

export function mergeWorkflows(
  decisions: Decisions,
  u: BudgetPolicy,
  uLimitsRaw: Json,
  rRaw: Json,
): Record<string, WorkflowPolicy> {
  const out: Record<string, WorkflowPolicy> = {};
  for (const id of new Set([...Object.keys(u.workflows), ...Object.keys(rRaw)])) {
    const mine = obj(Object.hasOwn(u.workflows, id) ? u.workflows[id] : undefined);
    const asked = obj(rRaw[id]);
    const merged: Json = {};
    for (const [key, value] of Object.entries(asked)) if (key !== 'limits') merged[key] = structuredClone(value);
    for (const [key, value] of Object.entries(mine)) if (key !== 'limits') merged[key] = structuredClone(value);
    const myLimits = obj(mine.limits);
    const askedLimits = obj(asked.limits);
    const limits: Json = {};
    for (const key of new Set([...Object.keys(myLimits), ...Object.keys(askedLimits)])) {
      const mineValue = myLimits[key];
      const askedValue = askedLimits[key];
      if (obj(mineValue) === mineValue || obj(askedValue) === askedValue) {
        // task / session: compared with the user's ceiling for this workflow.
        const section: Record<string, number> = {};
        const myOwn = obj(mineValue);
        const askedOwn = obj(askedValue);
        const top = obj((u.limits as unknown as Json)[key]);
        const topRaw = obj(uLimitsRaw[key]);
        for (const k of new Set([...Object.keys(myOwn), ...Object.keys(askedOwn)])) {
          if (askedOwn[k] === undefined) {
            if (num(myOwn[k]) !== undefined) section[k] = myOwn[k] as number;
            continue;
          }
          const merged = mergeLimit(decisions, {
            path: formatJsonPath(['workflows', id, 'limits', key, k]),
            name: limitName(key, k, id),
            key: k,
            user: num(myOwn[k]) ?? num(top[k]),
            repo: askedOwn[k],
            userSetIt: myOwn[k] !== undefined || topRaw[k] !== undefined,
          });
          // Not applied and no limit of the user's for this workflow: the workspace-wide limit (merged) holds.
          if (merged.fromRepo || num(myOwn[k]) !== undefined) {
            if (merged.value !== undefined) section[k] = merged.value;
          }
        }
        keepSoftBelowHard(section);
        if (Object.keys(section).length) limits[key] = section;
      } else {
        // The workflow's own USD caps: a new cap always tightens; against the user's own cap, the lower holds.
        const { value } = mergeLimit(decisions, {
          path: formatJsonPath(['workflows', id, 'limits', key]),
          name: limitName(undefined, key, id),
          key,
          user: num(mineValue),
          repo: askedValue,
          userSetIt: true,
        });
        if (value !== undefined) limits[key] = value;
      }
    }
    if (Object.keys(limits).length) merged.limits = limits;
    else delete merged.limits;
    out[id] = merged as WorkflowPolicy;
  }
  return out;
}
