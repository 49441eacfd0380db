import { formatUsd, usdToMicros } from '../money';
import { formatJsonPath } from '../policy/issues';
import type { BudgetPolicy, PriceOverride, ProviderSettings, WorkflowPolicy } from '../policy/types';
import { TOOL_NAMES, type ToolName } from '../policy/workflowTypes';
import type { ProviderId } from '../usage';
import { describeLimitRaise, limitName } from './limitWords';
import { priceBelow } from './priceFloor';
import { OFFICIAL_ORIGINS, sameOrigin } from './providerOrigins';

/**
 * Who decides (shared/POLICY.md "Who decides"): the effective policy is the user's own (user.json, else the built-in
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
 *   fixed tool cost; `alerts.webhookUrl`; `hooks`. Without consent each is ignored and the user's setting holds.
 * - With consent the file applies as written — except that **a limit the user's own user.json sets still holds**
 *   ("where both set a limit, the tighter one holds"): consent lets a repository exceed the built-in defaults, not
 *   the user's own ceiling. Those requests are listed apart (`heldByUser`) and never applied.
 * - What neither tightens nor loosens (time zone, routing, `providers.openai.api`, ROI values) comes from the
 *   repository's file where the user's is silent, and from the user's where both speak. Alert thresholds of both
 *   files all fire.
 */

export type LooseningKind = 'limit' | 'tool' | 'baseUrl' | 'price' | 'toolCost' | 'webhook' | 'other';

export interface Loosening {
  /** Where in budget.json: `limits.workspace.dailyUsd`, `tools.allow`, `providers.anthropic.baseUrl`. */
  path: string;
  /** What it does, in plain words: "raises the daily cap from $5.00 to $50.00". */
  what: string;
  /** The value the file asks for, as written. */
  value: unknown;
  kind: LooseningKind;
}

/** One side of the merge: the policy with defaults filled in, and the file as written (`{}` without a file). */
export interface PolicySide {
  policy: BudgetPolicy;
  raw: unknown;
}

export interface PolicyMerge {
  policy: BudgetPolicy;
  /** What the repository's file loosens and consent would apply, in file order. */
  loosening: Loosening[];
  /** What it asks above a limit the user's own user.json sets: never applied. */
  heldByUser: Loosening[];
}

/** Top-level keys that loosen as a whole when the repository's file sets them (commands it would run). */
const LOOSENING_KEYS = ['hooks'] as const;

/** Top-level keys merged one by one below; any other key (one added later) follows the generic rule. */
const MERGED_KEYS = new Set([
  'timeZone',
  'limits',
  'workflows',
  'rules',
  'alerts',
  'providers',
  'prices',
  'tools',
  'value',
]);

export function mergePolicies(user: PolicySide, repo: PolicySide | undefined, consent: boolean): PolicyMerge {
  const decisions = new Decisions(consent);
  if (!repo) return { policy: structuredClone(user.policy), loosening: [], heldByUser: [] };
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
    value: {
      ...structuredClone(r.value),
      ...structuredClone(u.value),
      workflows: { ...structuredClone(r.value.workflows), ...structuredClone(u.value.workflows) },
    },
  };
  const timeZone = uRaw.timeZone !== undefined ? u.timeZone : r.timeZone;
  if (timeZone === undefined) delete policy.timeZone;
  else policy.timeZone = timeZone;

  const out = policy as unknown as Record<string, unknown>;
  const uAny = u as unknown as Record<string, unknown>;
  const rAny = r as unknown as Record<string, unknown>;
  for (const key of new Set([...Object.keys(uAny), ...Object.keys(rAny), ...Object.keys(rRaw)])) {
    if (MERGED_KEYS.has(key)) continue;
    if ((LOOSENING_KEYS as readonly string[]).includes(key)) {
      if (rRaw[key] === undefined) continue;
      const asked = { path: key, what: `runs what its "${key}" lists`, value: rRaw[key], kind: 'other' as const };
      if (decisions.loosens(asked)) out[key] = structuredClone(rAny[key] ?? rRaw[key]);
      continue;
    }
    if (uRaw[key] === undefined && rRaw[key] !== undefined && Object.hasOwn(rAny, key))
      out[key] = structuredClone(rAny[key]);
  }
  return { policy, loosening: decisions.loosening, heldByUser: decisions.heldByUser };
}

/** Collects what loosens and answers whether the repository's value applies. */
class Decisions {
  readonly loosening: Loosening[] = [];
  readonly heldByUser: Loosening[] = [];
  constructor(private readonly consent: boolean) {}

  /** A loosening request; true when the repository's value applies (consent given, no limit of user.json in the way). */
  loosens(item: Loosening, heldByUserFile = false): boolean {
    if (heldByUserFile) {
      this.heldByUser.push(item);
      return false;
    }
    this.loosening.push(item);
    return this.consent;
  }
}

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

// ---------------------------------------------------------------------------------------------------------------
// Limits: every numeric key of every section (`task`, `session`, `workspace`, and sections added later) is a limit
// where lower is tighter and `null` (no limit) is the loosest.

function mergeLimits(decisions: Decisions, u: BudgetPolicy, uRaw: Json, rRaw: Json): BudgetPolicy['limits'] {
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

function mergeWorkflows(
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
