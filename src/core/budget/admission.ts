import type { Micros } from '../money';
import { modelMatches } from '../policy/modelMatch';
import type { BudgetRule, RuleAction } from '../policy/types';
import type { ResolvedPrice } from '../pricing/cost';
import { isSpendKey, isUsdKey, type Admission, type AdmitRequest, type BlockedReason, type ScopeUse } from './types';

/**
 * The admission decision, as a pure function of what it is given (synchronous, in memory: the engine calls it
 * inside the store transaction, and the benchmark measures it): clamp `max_tokens` to what every token scope and
 * every USD scope can still afford, evaluate the rules, and price the worst case — or say why the budget says no.
 */

export interface AdmissionInputs {
  request: AdmitRequest;
  /** The price of a model under the request's provider (throws UnknownModelError for an unpriced one). */
  price: (model: string) => ResolvedPrice;
  /** The request's token scopes, and its USD scopes (the workflow's caps, the task's and run's dollars) as the counters hold them now. */
  scopes: { tokens: ScopeUse[]; usd: ScopeUse[] };
  rules: readonly BudgetRule[];
}

/** What the budget grants: the admission without its reservation's identity (id, time, owner). */
export interface AdmissionDecision extends Omit<Admission, 'reservation'> {
  /** The worst case held in every USD scope (µ$). */
  micros: Micros;
  /** The worst case held in every token scope: the prompt and the whole clamp. */
  tokens: number;
  /** Every scope the call counts against. */
  scopes: ScopeUse[];
}

export type AdmissionResult = { admit: AdmissionDecision } | { blocked: BlockedReason };

/** How strict each action is; `compact` does not compete: it is asked for beside whatever else applies. */
const ACTION_RANK: Record<Exclude<RuleAction, 'compact'>, number> = { allow: 0, warn: 1, degrade: 2, block: 3 };

/**
 * Admits the request or says why not. A cap that cannot pay for the requested model may still pay for the workflow's
 * degrade model (token limits are the same for any model); a DEGRADE rule routes there too, once.
 */
export function decideAdmission({
  request: req,
  price: priceOf,
  scopes: uses,
  rules,
}: AdmissionInputs): AdmissionResult {
  let model = req.model;
  let degraded = false;
  const warnings: string[] = [];
  for (;;) {
    const price = priceOf(model);
    const clamp = clampOutput(req, price, model, uses);
    if ('blocked' in clamp) {
      const cheaper = req.degradeModel;
      if (!isUsdKey(clamp.blocked.scope) || degraded || !cheaper || cheaper === model) return clamp;
      warnings.push(`Degraded from ${model} to ${cheaper}: ${clamp.blocked.message}`);
      model = cheaper;
      degraded = true;
      continue;
    }
    const micros = worstCaseMicros(worstRates(price, req), req.inputTokens, clamp.maxOutputTokens);
    const tokens = req.inputTokens + clamp.maxOutputTokens;
    const likely = likelyUse(req, price, clamp.maxOutputTokens);
    const scopes = [...uses.tokens, ...uses.usd];
    const decision = evaluateRules(rules, req.workflow, model, scopes, { micros, tokens }, likely);
    if (decision.action === 'block') {
      return {
        blocked: {
          message: `Blocked by a rule in budget.json: ${decision.reason}.`,
          scope: 'rule',
          resetsAt: decision.resetsAt,
        },
      };
    }
    if (decision.action === 'degrade' && !degraded) {
      const cheaper = req.degradeModel;
      if (cheaper && cheaper !== model) {
        warnings.push(`Degraded from ${model} to ${cheaper}: ${decision.reason}.`);
        model = cheaper;
        degraded = true;
        continue;
      }
      warnings.push(
        `A rule asks to degrade (${decision.reason}) but workflow "${req.workflow}" has no degradeModel; continuing with ${model}.`,
      );
    } else if (decision.action === 'warn') {
      warnings.push(`Warning rule: ${decision.reason}.`);
    }
    const soft = softLimits(scopes, likely);
    warnings.push(...soft.warnings);
    const action = degraded ? 'degrade' : decision.action === 'degrade' ? 'warn' : decision.action;
    return {
      admit: {
        model,
        maxOutputTokens: clamp.maxOutputTokens,
        action,
        ...(decision.compact ? { compact: decision.compact } : {}),
        promptEstimate: likely.inputTokens,
        softReached: soft.reached,
        warnings,
        clampedBy: clamp.clampedBy,
        price,
        micros,
        tokens,
        scopes,
      },
    };
  }
}

/** A fixed tool charge (policy `tools.costsUsd`) against the USD caps: the cap it would exceed, if any. */
export function toolChargeBlocked(usd: readonly ScopeUse[], micros: Micros, tool: string): BlockedReason | undefined {
  for (const use of usd) {
    if (use.limit !== undefined && use.used + use.reserved + micros > use.limit) {
      return {
        message: `${use.scope} cap of ${fmt(use.limit)} would be exceeded by the ${tool} charge of ${fmt(micros)}.`,
        scope: use.scope,
        resetsAt: use.resetsAt,
      };
    }
  }
  return undefined;
}

/** max_tokens = min(model max, the request, what every token scope and every USD scope still allows). */
function clampOutput(
  req: AdmitRequest,
  price: ResolvedPrice,
  model: string,
  uses: AdmissionInputs['scopes'],
): { maxOutputTokens: number; clampedBy: string } | { blocked: BlockedReason } {
  let max = price.maxOutputTokens ?? Number.MAX_SAFE_INTEGER;
  let clampedBy = 'model';
  if (req.maxOutputTokens !== undefined && req.maxOutputTokens < max) {
    max = req.maxOutputTokens;
    clampedBy = 'request';
  }
  const minOut = req.minOutputTokens ?? 16;
  for (const s of uses.tokens) {
    if (s.limit === undefined) continue;
    const room = s.limit - s.used - s.reserved - req.inputTokens;
    if (room < max) {
      max = room;
      clampedBy = s.scope;
    }
    if (room < minOut) {
      return {
        blocked: {
          message:
            `${s.scope} token limit reached: ${s.used + s.reserved} of ${s.limit} tokens used or held, and this call needs ` +
            `about ${req.inputTokens} input tokens plus output. Raise limits.${s.scope === 'session' ? 'session' : 'task'}.hardTokens ` +
            "in .agent-budget/budget.json (or the step's limits) and resume.",
          scope: s.scope,
        },
      };
    }
  }
  const rates = worstRates(price, req);
  for (const s of uses.usd) {
    if (s.limit === undefined) continue;
    // In 10⁻⁶ µ$ (exact integers): what is left, minus the prompt at its worst rate, buys this much output.
    const leftUnits = BigInt(s.limit - s.used - s.reserved) * 1_000_000n - BigInt(req.inputTokens) * rates.promptUnits;
    const affordable =
      rates.outputUnits > 0n ? Number(leftUnits > 0n ? leftUnits / rates.outputUnits : -1n) : Number.MAX_SAFE_INTEGER;
    if (affordable < max) {
      max = affordable;
      clampedBy = s.scope;
    }
    if (affordable < minOut) {
      const spent = `${fmt(s.used + s.reserved)} of ${fmt(s.limit)} spent or held, not enough for a call to ${model}`;
      const raise = s.scope.startsWith('client.')
        ? `give the client a higher cap (revoke its proxy token and create it again with a higher --${s.scope.endsWith('.daily') ? 'daily' : 'monthly'}-usd)`
        : 'raise the cap in .agent-budget/budget.json and resume';
      return {
        blocked: isSpendKey(s.scope)
          ? {
              message: `${s.scope} limit reached: ${spent}. ${raiseSpend(s.scope)}`,
              scope: s.scope,
            }
          : {
              message:
                `${s.scope} cap reached: ${spent}. ` +
                `It resets ${s.resetsAt ? new Date(s.resetsAt).toISOString() : 'at the next period'}; or ${raise}.`,
              scope: s.scope,
              resetsAt: s.resetsAt,
            },
      };
    }
  }
  return { maxOutputTokens: Math.max(0, Math.floor(max)), clampedBy };
}

/**
 * The strictest action of the rules that apply. A rule applies when every condition it states holds; a
 * condition that cannot be evaluated (a scope with no limit, an unknown scope) makes the rule not apply — which
 * can never open a gate, because hard limits and caps are enforced before and regardless of rules.
 */
function evaluateRules(
  rules: readonly BudgetRule[],
  workflow: string,
  model: string,
  scopes: ScopeUse[],
  worst: { micros: number; tokens: number },
  likely: Likely,
): { action: Exclude<RuleAction, 'compact'>; reason: string; resetsAt?: number; compact?: string } {
  let best: { action: Exclude<RuleAction, 'compact'>; reason: string; resetsAt?: number } = {
    action: 'allow',
    reason: '',
  };
  let compact: string | undefined;
  rules.forEach((rule, index) => {
    const w = rule.when;
    if (w.workflow !== undefined && w.workflow !== workflow) return;
    if (w.modelMatches !== undefined) {
      try {
        if (!modelMatches(w.modelMatches, model)) return;
      } catch {
        return;
      }
    }
    let resetsAt: number | undefined;
    let pctText = '';
    if (w.scope !== undefined) {
      const scope = scopes.find((s) => s.scope === w.scope);
      if (!scope || scope.limit === undefined || scope.limit <= 0) return;
      // Compacting is a saving, asked for on what is likely; the other actions guard the worst case.
      const call = rule.action === 'compact' ? likely : worst;
      const held = rule.action === 'compact' ? scope.used : scope.used + scope.reserved;
      const pct = ((held + (scope.unit === 'usd' ? call.micros : call.tokens)) / scope.limit) * 100;
      if (pct < (w.atLeastPct ?? 0)) return;
      resetsAt = scope.resetsAt;
      pctText = ` — ${w.scope} would be at ${pct.toFixed(0)}%`;
    }
    const reason = `rules[${index}] (${describeRule(rule)})${pctText}`;
    if (rule.action === 'compact') compact ??= reason;
    else if (ACTION_RANK[rule.action] > ACTION_RANK[best.action]) best = { action: rule.action, reason, resetsAt };
  });
  return compact ? { ...best, compact } : best;
}

/** What the call will likely use, in tokens and µ$: never its worst case. */
interface Likely {
  inputTokens: number;
  tokens: number;
  micros: Micros;
}

/**
 * The request's honest estimate (or, for a caller that has none, its sized prompt and no output), the output capped
 * by the clamp, priced at the uncached input and output rates (what a call without cache hits bills).
 */
function likelyUse(req: AdmitRequest, price: ResolvedPrice, maxOutputTokens: number): Likely {
  const inputTokens = Math.min(req.likely?.inputTokens ?? req.inputTokens, req.inputTokens);
  const outputTokens = Math.min(req.likely?.outputTokens ?? 0, maxOutputTokens);
  const tier = price.above && inputTokens > price.above.tokens ? price.above : price.base;
  const units =
    BigInt(inputTokens) * BigInt(Math.round(tier.inputPerMTok * 1e6)) +
    BigInt(outputTokens) * BigInt(Math.round(tier.outputPerMTok * 1e6));
  return { inputTokens, tokens: inputTokens + outputTokens, micros: Number((units + 999_999n) / 1_000_000n) };
}

/**
 * Soft limits warn on what is spent and what this call will likely add — never on a worst case (the clamp, the
 * prompt's byte bound, other calls' holds), which would warn on a 39-line file.
 */
function softLimits(scopes: readonly ScopeUse[], likely: Likely): { warnings: string[]; reached: string[] } {
  const warnings: string[] = [];
  const reached: string[] = [];
  for (const s of scopes) {
    if (s.soft === undefined) continue;
    const call = s.unit === 'usd' ? likely.micros : likely.tokens;
    if (s.used + call < s.soft) continue;
    reached.push(s.scope);
    warnings.push(
      s.used >= s.soft
        ? `${s.scope} is past its soft limit (${show(s, s.used)} of ${show(s, s.soft)} soft).`
        : `this call will likely take ${s.scope} past its soft limit (${show(s, s.used)} used + about ${show(s, call)} of ${show(s, s.soft)} soft).`,
    );
  }
  return { warnings, reached };
}

/** The most a call can cost: the prompt at its worst rate and the whole clamp as output, rounded up to the µ$. */
export function worstCaseMicros(
  rates: { promptUnits: bigint; outputUnits: bigint },
  inputTokens: number,
  maxOutputTokens: number,
): Micros {
  const units = BigInt(inputTokens) * rates.promptUnits + BigInt(maxOutputTokens) * rates.outputUnits;
  return Number((units + 999_999n) / 1_000_000n);
}

/**
 * Per-token prompt and output rates of the worst case, in 10⁻⁶ µ$: output (reasoning included) at the output rate,
 * and every prompt token at the dearest rate it may bill at — uncached input, a cache read, or a cache write the
 * request may cause (writes bill above input: Anthropic's 5-minute and 1-hour writes when asked for, OpenAI's
 * automatic writes always, since it caches unasked). When the estimate is within 10 % of an `above` threshold the
 * higher tier is assumed: a prompt a little larger than estimated would bill the whole call there.
 */
export function worstRates(
  price: ResolvedPrice,
  req: Pick<AdmitRequest, 'inputTokens' | 'promptCaching'>,
): { promptUnits: bigint; outputUnits: bigint } {
  const tier = price.above && req.inputTokens * 1.1 > price.above.tokens ? price.above : price.base;
  const caching = req.promptCaching ?? 'none';
  const rates = [tier.inputPerMTok, tier.cacheReadPerMTok];
  if (caching !== 'none' || price.provider === 'openai') rates.push(tier.cacheWrite5mPerMTok);
  if (caching === '1h') rates.push(tier.cacheWrite1hPerMTok);
  // Round rates up so the affordable output never exceeds what the cap pays for.
  return {
    promptUnits: BigInt(Math.ceil(Math.max(...rates) * 1e6)),
    outputUnits: BigInt(Math.ceil(tier.outputPerMTok * 1e6)),
  };
}

/** Where a run's dollar limit is set: the policy's limits, or (a sub-agent's) the workflow's fan-out. */
function raiseSpend(scope: string): string {
  const fanOut =
    "a fan-out's subAgents.budget.maxUsd (or its share or pool of it) is fixed in the workflow the run started with: " +
    'raise it in the workflow file for new runs.';
  if (scope === 'pool.usd') return `It is ${fanOut}`;
  if (scope === 'session.usd')
    return "Raise limits.session.hardUsd in .agent-budget/budget.json (or the workflow's limits) and resume.";
  return `Raise limits.task.hardUsd in .agent-budget/budget.json (or the workflow's limits) and resume; for a sub-agent, ${fanOut}`;
}

function fmt(micros: Micros): string {
  return `$${(micros / 1e6).toFixed(micros % 10_000 === 0 ? 2 : 4)}`;
}

function show(s: ScopeUse, n: number): string {
  return s.unit === 'usd' ? fmt(n) : `${n} tokens`;
}

function describeRule(rule: BudgetRule): string {
  const parts: string[] = [];
  if (rule.when.scope) parts.push(`${rule.when.scope} ≥ ${rule.when.atLeastPct ?? 0}%`);
  if (rule.when.modelMatches) parts.push(`model ~ ${rule.when.modelMatches}`);
  if (rule.when.workflow) parts.push(`workflow ${rule.when.workflow}`);
  return `${parts.join(', ') || 'always'} → ${rule.action}`;
}
