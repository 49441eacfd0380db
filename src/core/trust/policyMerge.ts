import { formatUsd, usdToMicros } from '../money';
import { formatJsonPath } from '../policy/issues';
import { mergeTeamSections } from '../policy/teamPolicy';
import {
  HOOK_EVENTS,
  type BudgetPolicy,
  type Hook,
  type HookEventName,
  type HookPolicy,
  type PriceOverride,
  type ProviderSettings,
} from '../policy/types';
import { TOOL_NAMES, type ToolName } from '../policy/workflowTypes';
import type { ProviderId } from '../usage';
import { mergeLimits, mergeWorkflows } from './limitMerge';
import { Decisions, obj, type Json, type Loosening } from './loosening';
import { priceBelow } from './priceFloor';
import { OFFICIAL_ORIGINS, sameOrigin } from './providerOrigins';

export type { Loosening, LooseningKind } from './loosening';

/**
 * Who decides (docs/policy.md "Who decides"): the effective policy is the user's own (user.json, else the built-in
 * defaults) merged with the repository's `.agent-budget/budget.json`, where the repository may always tighten and
 * what it loosens applies only with the user's consent.
 *
 * - Tightening always applies: a lower cap or limit, a new cap (a workflow's own), a tool moved to `approve` or out
 *   of both lists, a rule (rules only ever add warnings, degrades and blocks: the strictest rule wins and `allow` is
 *   the neutral answer), a higher price for a model.
 * - Loosening (each one an entry of `loosening`, with its path, what it does in plain words, and the value asked
 *   for): a cap or limit above the user's or `null`; a tool the user's policy asks for (or refuses) that the file
 *   allows (or lets agents use at all); a `providers.*.baseUrl` other than the user's endpoint (or, without one, the
 *   provider's official origin); a price below the built-in's (or the user's) for a model either knows; a lower
 *   fixed tool cost; `alerts.webhookUrl`; each of its `hooks` (a command it would run, a URL it would send events
 *   to). Without consent each is ignored and the user's setting holds.
 * - With consent the file applies as written — except that **a limit the user's own user.json sets still holds**
 *   ("where both set a limit, the tighter one holds"): consent lets a repository exceed the built-in defaults, not
 *   the user's own ceiling. Those requests are listed apart (`heldByUser`) and never applied.
 * - What neither tightens nor loosens (time zone, routing, `providers.openai.api`, ROI values) comes from the
 *   repository's file where the user's is silent, and from the user's where both speak. Alert thresholds of both
 *   files all fire.
 */

/** One side of the merge: the policy with defaults filled in, and the file as written (`{}` without a file). */
export interface PolicySide {
  policy: BudgetPolicy;
  raw: unknown;
}

export interface PolicyMerge {
  policy: BudgetPolicy;
  /** What the repository's file loosens and consent would apply (limits, workflows, alerts, providers, prices, tools). */
  loosening: Loosening[];
  /** What it asks above a limit the user's own user.json sets: never applied. */
  heldByUser: Loosening[];
}

/** Top-level keys merged one by one below; any other key (one added later) follows the generic rule. */
const MERGED_KEYS = new Set([
  'team',
  'timeZone',
  'limits',
  'workflows',
  'rules',
  'alerts',
  'providers',
  'prices',
  'tools',
  'value',
  'hooks',
]);

export function mergePolicies(user: PolicySide, repo: PolicySide | undefined, consent: boolean): PolicyMerge {
  const decisions = new Decisions(consent);
  if (!repo) {
    const policy = structuredClone(user.policy);
    policy.hooks = mergeHooks(decisions, user.policy, { ...user.policy, hooks: {} });
    return { policy, loosening: [], heldByUser: [] };
  }
  const u = user.policy;
  const r = repo.policy;
  const uRaw = obj(user.raw);
  const rRaw = obj(repo.raw);
  const policy: BudgetPolicy = {
    ...structuredClone(u),
    limits: mergeLimits(decisions, u, obj(uRaw.limits), obj(rRaw.limits)),
    workflows: mergeWorkflows(decisions, u, obj(uRaw.limits), obj(rRaw.workflows)),
    // The repository's first, so `rules[i]` in a block message is the index in budget.json.
    rules: [...(rRaw.rules !== undefined ? structuredClone(r.rules) : []), ...structuredClone(u.rules)],
    alerts: mergeAlerts(decisions, u, obj(uRaw.alerts), obj(rRaw.alerts)),
    providers: mergeProviders(decisions, u, obj(rRaw.providers)),
    prices: mergePrices(decisions, u, r),
    tools: mergeTools(decisions, u, r, obj(rRaw.tools)),
    hooks: mergeHooks(decisions, u, r),
    value: {
      ...structuredClone(r.value),
      ...structuredClone(u.value),
      workflows: { ...structuredClone(r.value.workflows), ...structuredClone(u.value.workflows) },
    },
  };
  const team = mergeTeamSections(u.team, r.team);
  if (team) policy.team = team;
  const timeZone = uRaw.timeZone !== undefined ? u.timeZone : r.timeZone;
  if (timeZone === undefined) delete policy.timeZone;
  else policy.timeZone = timeZone;

  const out = policy as unknown as Record<string, unknown>;
  const uAny = u as unknown as Record<string, unknown>;
  const rAny = r as unknown as Record<string, unknown>;
  for (const key of new Set([...Object.keys(uAny), ...Object.keys(rAny), ...Object.keys(rRaw)])) {
    if (MERGED_KEYS.has(key)) continue;
    if (uRaw[key] === undefined && rRaw[key] !== undefined && Object.hasOwn(rAny, key))
      out[key] = structuredClone(rAny[key]);
  }
  return { policy, loosening: decisions.loosening, heldByUser: decisions.heldByUser };
}

// ---------------------------------------------------------------------------------------------------------------

function mergeAlerts(decisions: Decisions, u: BudgetPolicy, uRaw: Json, rRaw: Json): BudgetPolicy['alerts'] {
  const asked = Array.isArray(rRaw.thresholdsPct) ? (rRaw.thresholdsPct as number[]) : undefined;
  const thresholdsPct = !asked
    ? [...u.alerts.thresholdsPct]
    : uRaw.thresholdsPct === undefined
      ? [...asked]
      : [...new Set([...u.alerts.thresholdsPct, ...asked])].sort((a, b) => a - b);
  const out: BudgetPolicy['alerts'] = { thresholdsPct };
  const mine = u.alerts.webhookUrl;
  const hook = typeof rRaw.webhookUrl === 'string' ? rRaw.webhookUrl : undefined;
  let webhookUrl = mine;
  if (hook !== undefined && hook !== mine) {
    const what = `sends budget alerts (spend, caps, workflow names) to ${hook}${mine ? ` instead of ${mine}` : ''}`;
    if (decisions.loosens({ path: 'alerts.webhookUrl', what, value: hook, kind: 'webhook' })) webhookUrl = hook;
  }
  if (webhookUrl !== undefined) out.webhookUrl = webhookUrl;
  return out;
}

const PROVIDER_NAMES: Record<string, string> = { anthropic: 'Anthropic', openai: 'OpenAI', gemini: 'Gemini' };

function mergeProviders(decisions: Decisions, u: BudgetPolicy, rRaw: Json): BudgetPolicy['providers'] {
  const out: Record<string, ProviderSettings> = {};
  const mineAll = u.providers as Record<string, ProviderSettings | undefined>;
  for (const provider of new Set([...Object.keys(mineAll), ...Object.keys(rRaw)])) {
    const mine = mineAll[provider] ?? {};
    const asked = obj(rRaw[provider]) as ProviderSettings;
    const merged: ProviderSettings = { ...structuredClone(asked), ...structuredClone(mine) };
    delete merged.baseUrl;
    let baseUrl = mine.baseUrl;
    if (asked.baseUrl !== undefined) {
      const reference = mine.baseUrl ?? OFFICIAL_ORIGINS[provider as ProviderId];
      if (reference !== undefined && sameOrigin(asked.baseUrl, reference)) baseUrl = mine.baseUrl ?? asked.baseUrl;
      else {
        const name = PROVIDER_NAMES[provider] ?? provider;
        const instead = mine.baseUrl ? ` instead of ${mine.baseUrl}` : reference ? ` instead of ${reference}` : '';
        const what = `sends your ${name} API key and prompts to ${asked.baseUrl}${instead}`;
        const path = formatJsonPath(['providers', provider, 'baseUrl']);
        if (decisions.loosens({ path, what, value: asked.baseUrl, kind: 'baseUrl' })) baseUrl = asked.baseUrl;
      }
    }
    if (baseUrl !== undefined) merged.baseUrl = baseUrl;
    out[provider] = merged;
  }
  return out as BudgetPolicy['providers'];
}

function mergePrices(decisions: Decisions, u: BudgetPolicy, r: BudgetPolicy): Record<string, PriceOverride> {
  const out: Record<string, PriceOverride> = structuredClone(u.prices);
  for (const [model, entry] of Object.entries(r.prices)) {
    const below = priceBelow(model, entry, u.prices);
    if (below) {
      const item = { path: formatJsonPath(['prices', model]), what: below, value: entry, kind: 'price' as const };
      if (!decisions.loosens(item)) continue;
    }
    out[model] = structuredClone(entry);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Hooks: the user's own always run (they wrote them); each of the repository's is a loosening item — a command it
// would run on this machine, or a URL it would send budget events to — and runs only with consent, marked as the
// repository's so that its commands still ask first unless the policy lets runCommand run without asking.

const EVENT_WORDS: Record<HookEventName, string> = {
  onWarn: 'budget warning',
  onDegrade: 'degraded call',
  onBlock: 'budget block',
  onAlert: 'budget alert',
  onRunFinished: 'finished run',
};

function mergeHooks(decisions: Decisions, u: BudgetPolicy, r: BudgetPolicy): HookPolicy {
  const out: HookPolicy = {};
  for (const event of HOOK_EVENTS) {
    const hooks: Hook[] = (u.hooks[event] ?? []).map((h) => ({ ...structuredClone(h), origin: 'user' as const }));
    (r.hooks[event] ?? []).forEach((hook, i) => {
      const what =
        'command' in hook
          ? `runs \`${hook.command}\` on this machine on every ${EVENT_WORDS[event]}`
          : `sends every ${EVENT_WORDS[event]} (scope, figures, workflow, run id) to ${hook.url}`;
      const path = formatJsonPath(['hooks', event, i]);
      if (decisions.loosens({ path, what, value: hook, kind: 'hook' }))
        hooks.push({ ...structuredClone(hook), origin: 'repository' });
    });
    if (hooks.length) out[event] = hooks;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Tools: each is allowed (runs without asking), approved (asks first) or refused (in neither list). The stricter of
// the two files' answers holds; the repository's looser one only with consent.

type ToolState = 0 | 1 | 2; // refused · asks first · runs freely
const DOES: Record<ToolName, string> = {
  readFile: 'reads files',
  listFiles: 'lists folders',
  searchText: 'searches files',
  writeFile: 'writes files',
  editFile: 'edits files',
  runCommand: 'runs commands',
};

function mergeTools(decisions: Decisions, u: BudgetPolicy, r: BudgetPolicy, rRaw: Json): BudgetPolicy['tools'] {
  const stateIn = (t: BudgetPolicy['tools'], tool: ToolName): ToolState =>
    t.allow.includes(tool) ? 2 : t.approve.includes(tool) ? 1 : 0;
  const repoSetLists = rRaw.allow !== undefined || rRaw.approve !== undefined;
  const allow: ToolName[] = [];
  const approve: ToolName[] = [];
  for (const tool of TOOL_NAMES) {
    const mine = stateIn(u.tools, tool);
    const asked = repoSetLists ? stateIn(r.tools, tool) : mine;
    let state = Math.min(mine, asked) as ToolState;
    if (asked > mine) {
      const item: Loosening =
        asked === 2
          ? { path: 'tools.allow', what: `${tool} ${DOES[tool]} without asking you`, value: tool, kind: 'tool' }
          : { path: 'tools.approve', what: `agents may use ${tool} (asking you first)`, value: tool, kind: 'tool' };
      if (decisions.loosens(item)) state = asked;
    }
    if (state === 2) allow.push(tool);
    else if (state === 1) approve.push(tool);
  }
  const costsUsd: Partial<Record<ToolName, number>> = { ...u.tools.costsUsd };
  for (const [tool, asked] of Object.entries(r.tools.costsUsd) as [ToolName, number][]) {
    const mine = u.tools.costsUsd[tool] ?? 0;
    if (asked >= mine) costsUsd[tool] = asked;
    else {
      const what = `charges ${formatUsd(usdToMicros(asked))} per ${tool} call instead of ${formatUsd(usdToMicros(mine))}`;
      const path = formatJsonPath(['tools', 'costsUsd', tool]);
      if (decisions.loosens({ path, what, value: asked, kind: 'toolCost' })) costsUsd[tool] = asked;
    }
  }
  return { allow, approve, costsUsd };
}
