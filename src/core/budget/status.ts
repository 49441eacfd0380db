import type { BudgetPolicy } from '../policy/types';
import type { BudgetLevel, ScopeUse } from './types';

/** A scope as the status bar, the panel and `agent-budget status` show it: its use and how close it is to its limit. */
export type ScopeWithLevel = ScopeUse & { pct: number; level: BudgetLevel };

/** Every USD scope with a cap (the workspace's, and each workflow's own), for the status of the whole workspace. */
export function budgetStatus(
  policy: Pick<BudgetPolicy, 'workflows'>,
  usdScopes: (workflow: string) => ScopeUse[],
  /** Proxy clients' own scopes (`client.<name>.daily|monthly`), listed when capped. */
  clientUses: readonly ScopeUse[] = [],
): ScopeWithLevel[] {
  const uses = new Map<string, ScopeUse>();
  for (const use of clientUses) uses.set(use.key, use);
  for (const use of usdScopes('')) if (use.scope.startsWith('workspace.')) uses.set(use.key, use);
  for (const wf of Object.keys(policy.workflows))
    for (const use of usdScopes(wf)) if (use.scope.startsWith('workflow.')) uses.set(use.key, use);
  return [...uses.values()].filter((u) => u.limit !== undefined).map((u) => withLevel(u));
}

/** ok < warn (soft limit, or 75 % of a cap) < critical (90 %) < blocked (100 %). */
export function withLevel(u: ScopeUse): ScopeWithLevel {
  const used = u.used + u.reserved;
  const pct = u.limit ? (used / u.limit) * 100 : 0;
  let level: BudgetLevel = 'ok';
  if (u.limit !== undefined && used >= u.limit) level = 'blocked';
  else if (pct >= 90) level = 'critical';
  else if ((u.soft !== undefined && used >= u.soft) || (u.unit === 'usd' && pct >= 75)) level = 'warn';
  return { ...u, pct, level };
}
