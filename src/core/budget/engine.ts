import type { Clock } from '../clock';
import { Emitter } from '../events';
import { usdToMicros, type Micros } from '../money';
import { effectiveLimits } from '../policy/effective';
import { modelMatches } from '../policy/modelMatch';
import { PERIODS, dayKey, periodWindow, type Period, type PeriodWindow } from '../policy/periods';
import { parseScope } from '../policy/scopes';
import type { BudgetPolicy, BudgetRule, RuleAction } from '../policy/types';
import { priceWith, resolvePrice, type ResolvedPrice } from '../pricing/cost';
import { newId } from '../processIdentity';
import type { LedgerEntry, Reservation, StoreRecord } from '../store/records';
import type { DayKeys, WorkspaceStore } from '../store/store';
import { totalTokens, type ProviderId, type TokenUsage } from '../usage';

/**
 * The budget engine: every provider call is admitted here first and settled here after, so a hard limit holds
 * by construction (PRODUCT.md "Budget semantics").
 *
 * Admission: estimate the prompt, clamp `max_tokens` to what every token scope and every USD scope can still
 * afford, evaluate the rules, and reserve the worst case against every scope — atomically with respect to every
 * other window and CLI process on the workspace (the check and the reservation happen in one store transaction,
 * under the store's lock, after reading everyone else's records). Settlement replaces the reservation with the
 * provider's reported usage; a failure before billing releases it; a crash leaves it to be charged as estimated.
 *
 * Scopes and their counters:
 * - token scopes (`task@<id>`, `session@<runId>`, `pool@<id>`): belong to one run in one process; limits come
 *   with each request (the runner resolves policy, workflow steps and sub-agent shares);
 * - USD scopes (`workspace.<period>@<key>`, `workflow.<id>.<period>@<key>`): shared by every process; counters
 *   are loaded from the store's rollups and kept current by the store's apply events (ours and others').
 */

export type BudgetLevel = 'ok' | 'warn' | 'critical' | 'blocked';

/** A token scope a call counts against, with its limits. */
export interface TokenScopeSpec {
  /** `task@<taskId>`, `session@<runId>`, `pool@<poolId>`: the counter's identity. */
  key: string;
  /** The scope name rules and status use: `task`, `session`, or `pool`. */
  kind: 'task' | 'session' | 'pool';
  softTokens?: number;
  hardTokens?: number;
  /** Tokens already used in this scope before this process saw it (a resumed run): read once. */
  initialUsed?: () => number;
}

export interface AdmitRequest {
  workflow: string;
  runId: string | null;
  taskId: string | null;
  /** The task's name (step id), for the ledger. */
  task: string | null;
  provider: ProviderId;
  model: string;
  /**
   * Prompt tokens: an upper bound (`inputTokenBound`), or an exact count with its margin. The hard limits hold only
   * if the provider bills no more prompt than this.
   */
  inputTokens: number;
  /**
   * The provider's count (count-tokens endpoint or tokenizer, with margin), asked for only when `inputTokens` as
   * given would bind a limit or block: a bound's slack must not shorten an answer or stop a call near a limit.
   */
  exactInputTokens?: () => Promise<number>;
  /** The most output the step wants; the clamp never exceeds it. */
  maxOutputTokens?: number;
  /** Token scopes (task, parents, pools, session) with their limits. */
  tokenScopes: TokenScopeSpec[];
  /** Where DEGRADE routes; undefined = none configured. */
  degradeModel?: string;
  /** The run's prompt version: the reservation records the variant `<model called>@<promptVersion>`. */
  promptVersion?: string;
  /** Prompt caching the request asks for: its writes bill above the input rate, so the worst case must use that rate. */
  promptCaching?: 'none' | '5m' | '1h';
  /** Fewest output tokens worth a call (default 16); below this the call is blocked instead of starved. */
  minOutputTokens?: number;
}

export interface ScopeUse {
  /** Scope name as in rules and `agent-budget status` (`task`, `session`, `workspace.daily`, `workflow.x.monthly`). */
  scope: string;
  /** Counter key (`workspace.daily@2026-11-22`, `task@<id>`). */
  key: string;
  unit: 'usd' | 'tokens';
  used: number;
  reserved: number;
  limit: number | undefined;
  soft: number | undefined;
  /** When the period resets (USD scopes). */
  resetsAt?: number;
}

export interface Admission {
  reservation: Reservation;
  /** The model to call (the requested one, or the degrade model). */
  model: string;
  /** The clamp to send as max_tokens. */
  maxOutputTokens: number;
  /** The action the rules decided (never `block`: a block is an error). */
  action: Exclude<RuleAction, 'block'>;
  /** Human-readable notes: soft limits crossed, a degrade, a warn rule. */
  warnings: string[];
  /** What binds the clamp: `model`, `request`, or a scope name. */
  clampedBy: string;
  price: ResolvedPrice;
}

/** A call the budget does not allow. The runner pauses the run as `blocked` with a checkpoint. */
export class BudgetBlockedError extends Error {
  override readonly name = 'BudgetBlockedError';
  constructor(
    message: string,
    /** The scope that blocked (`task`, `session`, `workspace.daily`, …) or `rule`. */
    readonly scope: string,
    /** When the blocking period resets, if it is a period scope. */
    readonly resetsAt?: number,
  ) {
    super(message);
  }
}

export interface SettleInput {
  /** The provider's reported usage; undefined when it never arrived (stream cut, abort, crash). */
  usage?: TokenUsage;
  requestId?: string | null;
  latencyMs?: number | null;
  variant?: string | null;
  tool?: string | null;
}

export interface BudgetAlert {
  scope: string;
  periodKey: string;
  pct: number;
  usedMicros: number;
  limitMicros: number;
}

interface Counter {
  used: number;
  reserved: number;
}

const ACTION_RANK: Record<RuleAction, number> = { allow: 0, warn: 1, degrade: 2, block: 3 };

/** Day keys of the store in the policy's zone (the store rekeys rollups when the zone changes). */
export function policyDays(policy: Pick<BudgetPolicy, 'timeZone'>): DayKeys {
  const zone = policy.timeZone ?? `local:${Intl.DateTimeFormat().resolvedOptions().timeZone}`;
  return { key: (ms) => dayKey(ms, policy.timeZone), zone };
}

export class BudgetEngine {
  private readonly counters = new Map<string, Counter>();
  private readonly open = new Map<string, Reservation>();
  private readonly tokenInit = new Map<string, () => number>();
  private readonly alerted = new Emitter<BudgetAlert>();
  /** Threshold alerts fired by this process's settlements (once per scope and period across all processes). */
  readonly onAlert = this.alerted.event;
  private readonly changed = new Emitter<void>();
  /** Any counter moved (spend here or in another window): the status bar listens. */
  readonly onDidChange = this.changed.event;
  private readonly subscriptions: Array<{ dispose(): void }> = [];
  private policyError: Error | undefined;
  /** Resolved prices by provider and model, for the current policy's overrides (resolving scans the table). */
  private readonly prices = new Map<string, ResolvedPrice>();
  /** Effective limits by workflow for the current policy (merging overrides allocates; admissions are hot). */
  private readonly limits = new Map<string, ReturnType<typeof effectiveLimits>>();

  constructor(
    private readonly store: WorkspaceStore,
    private policy: BudgetPolicy,
    private readonly clock: Clock,
  ) {
    for (const r of store.queries.openReservations()) this.open.set(r.id, r);
    this.subscriptions.push(
      store.onDidApply(({ records }) => {
        for (const record of records) this.observe(record);
        this.changed.fire();
      }),
      store.onDidReload(() => this.reset()),
    );
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.alerted.dispose();
    this.changed.dispose();
  }

  get currentPolicy(): BudgetPolicy {
    return this.policy;
  }

  /**
   * A new policy (budget.json edited): limits apply from the next admission. Counters are unaffected, except that a
   * new time zone moves every period's boundaries: USD counters are then reloaded (after Workspace.reloadPolicy
   * has re-keyed the store's days to the new zone).
   */
  setPolicy(policy: BudgetPolicy): void {
    if (policy.timeZone !== this.policy.timeZone)
      for (const key of [...this.counters.keys()]) if (isUsdKey(key)) this.counters.delete(key);
    this.policy = policy;
    this.policyError = undefined;
    this.prices.clear();
    this.limits.clear();
    this.changed.fire();
  }

  /**
   * budget.json became invalid: every admission is refused with its message until it is fixed (runs never fall
   * back to defaults or run unlimited). Status keeps showing spend against the last valid policy.
   */
  setPolicyError(error: Error): void {
    this.policyError = error;
    this.changed.fire();
  }

  /** The problem with budget.json that stops runs, if any. */
  get invalidPolicy(): Error | undefined {
    return this.policyError;
  }

  /**
   * Admits one call: clamps, applies rules, and reserves the worst case durably in every scope. Throws
   * BudgetBlockedError when a hard limit, a cap or a BLOCK rule says no; UnknownModelError for an unpriced model.
   * `alsoCommit` (the runner's in-flight checkpoint) is written in the same durable write as the reservation, and
   * not at all when the call is refused.
   */
  async admit(req: AdmitRequest, alsoCommit: readonly StoreRecord[] = []): Promise<Admission> {
    for (const spec of req.tokenScopes)
      if (spec.initialUsed && !this.tokenInit.has(spec.key)) this.tokenInit.set(spec.key, spec.initialUsed);
    const sized = await this.sizePrompt(req);
    return this.store.transact(() => {
      const admission = this.plan(sized);
      return { records: [{ k: 'reserve', reservation: admission.reservation }, ...alsoCommit], result: admission };
    });
  }

  /**
   * The request with the prompt size to reserve: its bound, unless a trial plan with the bound is clamped by a
   * scope or refused — then the exact count (never more than the bound). The trial runs outside the transaction;
   * if others spend meanwhile, the real plan under the lock only clamps harder, so nothing is ever overshot.
   */
  private async sizePrompt(req: AdmitRequest): Promise<AdmitRequest> {
    if (!req.exactInputTokens) return req;
    try {
      const trial = this.plan(req);
      if (trial.clampedBy === 'model' || trial.clampedBy === 'request') return req;
    } catch (err) {
      if (!(err instanceof BudgetBlockedError) || err.scope === 'policy') return req;
    }
    let exact: number;
    try {
      exact = await req.exactInputTokens();
    } catch {
      return req; // no count (no key, endpoint down): the bound stands
    }
    if (!Number.isFinite(exact) || exact < 0) return req;
    return { ...req, inputTokens: Math.min(req.inputTokens, Math.ceil(exact)) };
  }

  /**
   * Settles an admitted call to what the provider reported. Without usage (the stream died first) the whole
   * reservation is charged and the row is marked estimated, so the ledger never under-counts.
   * `alsoCommit` (the runner's checkpoint holding the call's answer) lands in the same durable write as the ledger
   * row: a crash can never keep one without the other, so a billed call is never repeated on resume.
   */
  async settle(
    admission: Admission,
    input: SettleInput,
    alsoCommit: readonly StoreRecord[] = [],
  ): Promise<LedgerEntry> {
    const entry = this.entryFor(admission, input);
    const alerts = await this.store.transact((q) => {
      const plan = this.planSettlement(admission, entry, q.alertFired.bind(q));
      return { records: [...plan.records, ...alsoCommit], result: plan.alerts };
    });
    for (const alert of alerts) this.alerted.fire(alert);
    return entry;
  }

  /** The records that settle `admission` with `entry`, and the alerts they fire (synchronous; inside settle's transaction). */
  planSettlement(
    admission: Admission,
    entry: LedgerEntry,
    fired: (scope: string, periodKey: string, pct: number) => boolean,
  ): { records: StoreRecord[]; alerts: BudgetAlert[] } {
    const records: StoreRecord[] = [{ k: 'settle', reservationId: admission.reservation.id, ts: entry.ts, entry }];
    const alerts = this.crossedThresholds(admission.reservation.workflow, entry, fired);
    for (const alert of alerts)
      records.push({ k: 'alert', scope: alert.scope, periodKey: alert.periodKey, pct: alert.pct, ts: entry.ts });
    return { records, alerts };
  }

  /** Releases a reservation whose call was never billed (an HTTP error before any output, a refused request). */
  async release(admission: Admission): Promise<void> {
    await this.store.commit([
      { k: 'settle', reservationId: admission.reservation.id, ts: this.clock.now(), entry: null },
    ]);
  }

  /**
   * Charges a fixed tool cost (policy `tools.costsUsd`), checked against the USD caps like a call. `alsoCommit`
   * (the runner's checkpoint marking the charge) lands in the same durable write, and not at all when refused.
   */
  async chargeTool(
    args: {
      workflow: string;
      runId: string | null;
      taskId: string | null;
      task: string | null;
      tool: string;
      usd: number;
    },
    alsoCommit: readonly StoreRecord[] = [],
  ): Promise<LedgerEntry> {
    const micros = usdToMicros(args.usd);
    const now = this.clock.now();
    const entry: LedgerEntry = {
      id: newId(now),
      ts: now,
      provider: 'tool',
      model: args.tool,
      workflow: args.workflow,
      runId: args.runId,
      taskId: args.taskId,
      task: args.task,
      tool: args.tool,
      variant: null,
      usage: { input: 0, output: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
      costMicros: micros,
      estimated: false,
      requestId: null,
      latencyMs: null,
      reservationId: null,
      reservedMicros: null,
      estimatedInputTokens: null,
    };
    const alerts: BudgetAlert[] = [];
    await this.store.transact((q) => {
      for (const use of this.usdScopes(args.workflow, now)) {
        if (use.limit !== undefined && use.used + use.reserved + micros > use.limit) {
          throw new BudgetBlockedError(
            `${use.scope} cap of ${fmt(use.limit)} would be exceeded by the ${args.tool} charge of ${fmt(micros)}.`,
            use.scope,
            use.resetsAt,
          );
        }
      }
      const records: StoreRecord[] = [{ k: 'ledger', entry }];
      for (const alert of this.crossedThresholds(args.workflow, entry, q.alertFired.bind(q))) {
        alerts.push(alert);
        records.push({ k: 'alert', scope: alert.scope, periodKey: alert.periodKey, pct: alert.pct, ts: now });
      }
      return { records: [...records, ...alsoCommit], result: undefined };
    });
    for (const alert of alerts) this.alerted.fire(alert);
    return entry;
  }

  // -------------------------------------------------------------------------------------------------------------
  // The decision (synchronous, in-memory: inside the store transaction, and measured by the benchmark)

  /** Computes the admission for `req` against the current counters. Throws BudgetBlockedError. */
  plan(req: AdmitRequest): Admission {
    if (this.policyError) {
      throw new BudgetBlockedError(
        `No call is made while the budget policy is invalid. ${this.policyError.message}`,
        'policy',
      );
    }
    const now = this.clock.now();
    let model = req.model;
    let degraded = false;
    const warnings: string[] = [];
    for (;;) {
      const price = this.priceOf(req.provider, model);
      let clamp: ReturnType<BudgetEngine['clamp']>;
      try {
        clamp = this.clamp(req, price, model, now);
      } catch (err) {
        // A cap that cannot pay for this model may still pay for the workflow's cheaper one: the degrade model is
        // the fallback the user configured for exactly this (token limits are the same for any model).
        const cheaper = req.degradeModel;
        if (!(err instanceof BudgetBlockedError) || !isUsdKey(err.scope) || degraded || !cheaper || cheaper === model)
          throw err;
        warnings.push(`Degraded from ${model} to ${cheaper}: ${err.message}`);
        model = cheaper;
        degraded = true;
        continue;
      }
      const worst = worstCaseMicros(worstRates(price, req), req.inputTokens, clamp.maxOutputTokens);
      const tokens = req.inputTokens + clamp.maxOutputTokens;
      const scopes = [...clamp.tokenScopes, ...clamp.usdScopes];
      const decision = this.evaluateRules(req.workflow, model, scopes, worst, tokens);
      if (decision.action === 'block') {
        throw new BudgetBlockedError(
          `Blocked by a rule in budget.json: ${decision.reason}.`,
          'rule',
          decision.resetsAt,
        );
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
      for (const s of scopes) {
        const cost = s.unit === 'usd' ? worst : tokens;
        if (s.soft !== undefined && s.used + s.reserved + cost >= s.soft) {
          const held = s.used + s.reserved;
          warnings.push(
            held >= s.soft
              ? `${s.scope} is past its soft limit (${show(s, held)} of ${show(s, s.soft)} soft).`
              : `this call may take ${s.scope} past its soft limit (${show(s, held)} used or held + up to ${show(s, cost)} of ${show(s, s.soft)} soft).`,
          );
        }
      }
      const reservation: Reservation = {
        id: newId(now),
        ts: now,
        owner: this.store.ownerId,
        runId: req.runId,
        taskId: req.taskId,
        task: req.task,
        workflow: req.workflow,
        provider: req.provider,
        model,
        micros: worst,
        tokens,
        inputTokens: req.inputTokens,
        outputTokens: clamp.maxOutputTokens,
        scopes: scopes.map((s) => s.key),
        variant: req.promptVersion === undefined ? null : `${model}@${req.promptVersion}`,
      };
      const action = degraded ? 'degrade' : decision.action === 'degrade' ? 'warn' : decision.action;
      return {
        reservation,
        model,
        maxOutputTokens: clamp.maxOutputTokens,
        action,
        warnings,
        clampedBy: clamp.clampedBy,
        price,
      };
    }
  }

  private priceOf(provider: ProviderId, model: string): ResolvedPrice {
    const key = `${provider}\u0000${model}`;
    let price = this.prices.get(key);
    if (!price) {
      price = resolvePrice(provider, model, this.policy.prices);
      this.prices.set(key, price);
    }
    return price;
  }

  /** max_tokens = min(model max, the request, what every token scope and every USD scope still allows). */
  private clamp(req: AdmitRequest, price: ResolvedPrice, model: string, now: number) {
    let max = price.maxOutputTokens ?? Number.MAX_SAFE_INTEGER;
    let clampedBy = 'model';
    if (req.maxOutputTokens !== undefined && req.maxOutputTokens < max) {
      max = req.maxOutputTokens;
      clampedBy = 'request';
    }
    const minOut = req.minOutputTokens ?? 16;
    const tokenScopes = req.tokenScopes.map((spec) => this.tokenUse(spec));
    for (const s of tokenScopes) {
      if (s.limit === undefined) continue;
      const room = s.limit - s.used - s.reserved - req.inputTokens;
      if (room < max) {
        max = room;
        clampedBy = s.scope;
      }
      if (room < minOut) {
        throw new BudgetBlockedError(
          `${s.scope} token limit reached: ${s.used + s.reserved} of ${s.limit} tokens used or held, and this call needs ` +
            `about ${req.inputTokens} input tokens plus output. Raise limits.${s.scope === 'session' ? 'session' : 'task'}.hardTokens ` +
            "in .agent-budget/budget.json (or the step's limits) and resume.",
          s.scope,
        );
      }
    }
    const usdScopes = this.usdScopes(req.workflow, now);
    const rates = worstRates(price, req);
    for (const s of usdScopes) {
      if (s.limit === undefined) continue;
      // In 10⁻⁶ µ$ (exact integers): what is left, minus the prompt at its worst rate, buys this much output.
      const leftUnits =
        BigInt(s.limit - s.used - s.reserved) * 1_000_000n - BigInt(req.inputTokens) * rates.promptUnits;
      const affordable =
        rates.outputUnits > 0n ? Number(leftUnits > 0n ? leftUnits / rates.outputUnits : -1n) : Number.MAX_SAFE_INTEGER;
      if (affordable < max) {
        max = affordable;
        clampedBy = s.scope;
      }
      if (affordable < minOut) {
        throw new BudgetBlockedError(
          `${s.scope} cap reached: ${fmt(s.used + s.reserved)} of ${fmt(s.limit)} spent or held, not enough for a call to ${model}. ` +
            `It resets ${s.resetsAt ? new Date(s.resetsAt).toISOString() : 'at the next period'}; or raise the cap in .agent-budget/budget.json and resume.`,
          s.scope,
          s.resetsAt,
        );
      }
    }
    return { maxOutputTokens: Math.max(0, Math.floor(max)), clampedBy, tokenScopes, usdScopes };
  }

  /**
   * The strictest action of the rules that apply. A rule applies when every condition it states holds; a
   * condition that cannot be evaluated (a scope with no limit, an unknown scope) makes the rule not apply — which
   * can never open a gate, because hard limits and caps are enforced before and regardless of rules.
   */
  private evaluateRules(workflow: string, model: string, scopes: ScopeUse[], worstMicros: number, worstTokens: number) {
    let best: { action: RuleAction; reason: string; resetsAt?: number } = { action: 'allow', reason: '' };
    this.policy.rules.forEach((rule: BudgetRule, index) => {
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
        const pct =
          ((scope.used + scope.reserved + (scope.unit === 'usd' ? worstMicros : worstTokens)) / scope.limit) * 100;
        if (pct < (w.atLeastPct ?? 0)) return;
        resetsAt = scope.resetsAt;
        pctText = ` — ${w.scope} would be at ${pct.toFixed(0)}%`;
      }
      if (ACTION_RANK[rule.action] > ACTION_RANK[best.action]) {
        best = { action: rule.action, reason: `rules[${index}] (${describeRule(rule)})${pctText}`, resetsAt };
      }
    });
    return best;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Counters

  /** The counter of `key`, created on first use from `load()` (settled use) and the open reservations holding it. */
  private counter(key: string, load: (key: string) => number): Counter {
    let c = this.counters.get(key);
    if (!c) {
      let reserved = 0;
      for (const r of this.open.values()) if (r.scopes.includes(key)) reserved += isUsdKey(key) ? r.micros : r.tokens;
      c = { used: load(key), reserved };
      this.counters.set(key, c);
    }
    return c;
  }

  private readonly loadTokens = (key: string): number => this.tokenInit.get(key)?.() ?? 0;

  private tokenUse(spec: TokenScopeSpec): ScopeUse {
    const c = this.counter(spec.key, this.loadTokens);
    return {
      scope: spec.kind,
      key: spec.key,
      unit: 'tokens',
      used: c.used,
      reserved: c.reserved,
      limit: spec.hardTokens,
      soft: spec.softTokens,
    };
  }

  /**
   * Every USD scope a call of `workflow` at `now` counts against, with its cap (undefined = no cap). Uncapped
   * workflow scopes are listed too, so a reservation names them: a cap added to budget.json while calls are in
   * flight counts what they hold.
   */
  usdScopes(workflow: string, now: number): ScopeUse[] {
    let limits = this.limits.get(workflow);
    if (!limits) {
      limits = effectiveLimits(this.policy, workflow);
      this.limits.set(workflow, limits);
    }
    const out: ScopeUse[] = [];
    for (const period of PERIODS) {
      const win = periodWindow(period, now, this.policy.timeZone);
      out.push(this.usdUse(`workspace.${period}`, win, undefined, limits.workspace[`${period}Usd`]));
      out.push(this.usdUse(`workflow.${workflow}.${period}`, win, workflow, limits.workflow[`${period}Usd`]));
    }
    return out;
  }

  private usdUse(scope: string, win: PeriodWindow, workflow: string | undefined, capUsd: number | undefined): ScopeUse {
    const key = `${scope}@${win.key}`;
    const c = this.counter(key, () => {
      const range = {
        fromDay: dayKey(win.startMs, this.policy.timeZone),
        toDay: dayKey(win.endMs - 1, this.policy.timeZone),
      };
      return this.store.queries.totals(range, workflow === undefined ? undefined : { workflow }).costMicros;
    });
    const limit = capUsd === undefined ? undefined : usdToMicros(capUsd);
    return { scope, key, unit: 'usd', used: c.used, reserved: c.reserved, limit, soft: undefined, resetsAt: win.endMs };
  }

  /** Keeps counters current with every record the store applies (this process's and everyone else's). */
  private observe(record: StoreRecord): void {
    switch (record.k) {
      case 'reserve': {
        const r = record.reservation;
        this.open.set(r.id, r);
        for (const key of r.scopes) {
          const c = this.counters.get(key);
          if (c) c.reserved += isUsdKey(key) ? r.micros : r.tokens;
        }
        return;
      }
      case 'settle': {
        const r = this.open.get(record.reservationId);
        if (r) {
          this.open.delete(r.id);
          for (const key of r.scopes) {
            const c = this.counters.get(key);
            if (c) c.reserved -= isUsdKey(key) ? r.micros : r.tokens;
          }
        }
        if (record.entry)
          this.charge(
            record.entry,
            r?.scopes.filter((k) => !isUsdKey(k)),
          );
        return;
      }
      case 'ledger':
        this.charge(record.entry, undefined);
        return;
      default:
        return;
    }
  }

  private charge(entry: LedgerEntry, tokenKeys: string[] | undefined): void {
    const tokens = totalTokens(entry.usage);
    const keys = tokenKeys ?? [entry.taskId ? `task@${entry.taskId}` : '', entry.runId ? `session@${entry.runId}` : ''];
    for (const key of keys) {
      const c = key ? this.counters.get(key) : undefined;
      if (c) c.used += tokens;
    }
    // USD scopes in the period the rollups file the entry in: where its reservation was held (a call across midnight).
    for (const period of PERIODS) {
      const win = periodWindow(period, entry.heldAt ?? entry.ts, this.policy.timeZone);
      for (const key of [`workspace.${period}@${win.key}`, `workflow.${entry.workflow}.${period}@${win.key}`]) {
        const c = this.counters.get(key);
        if (c) c.used += entry.costMicros;
      }
    }
  }

  /**
   * The store rebuilt its memory from disk. USD counters are reloaded from the rollups on next use. Token counters
   * stay: they count this process's own runs, whose settled calls are on disk (a rejected write can only have
   * counted more, never less), and a task started here has no `initialUsed` to reload from. Their holds are
   * recomputed from the reservations still open.
   */
  private reset(): void {
    this.open.clear();
    for (const r of this.store.queries.openReservations()) this.open.set(r.id, r);
    for (const [key, c] of this.counters) {
      if (isUsdKey(key)) {
        this.counters.delete(key);
        continue;
      }
      c.reserved = 0;
      for (const r of this.open.values()) if (r.scopes.includes(key)) c.reserved += r.tokens;
    }
    this.changed.fire();
  }

  // -------------------------------------------------------------------------------------------------------------
  // Settlement details

  /** The ledger entry settling `admission` with what the provider reported (or the reservation, when nothing was). */
  entryFor(admission: Admission, input: SettleInput): LedgerEntry {
    const r = admission.reservation;
    const now = this.clock.now();
    const estimated = input.usage === undefined;
    const usage: TokenUsage = input.usage ?? {
      input: r.inputTokens,
      output: r.outputTokens,
      cacheRead: 0,
      cacheWrite5m: 0,
      cacheWrite1h: 0,
      reasoning: 0,
    };
    const costMicros = estimated ? r.micros : priceWith(admission.price, usage).costMicros;
    return {
      id: newId(now),
      ts: now,
      provider: r.provider,
      model: r.model,
      workflow: r.workflow,
      runId: r.runId,
      taskId: r.taskId,
      task: r.task,
      tool: input.tool ?? null,
      variant: input.variant ?? r.variant ?? null,
      usage,
      costMicros,
      estimated,
      requestId: input.requestId ?? null,
      latencyMs: input.latencyMs ?? null,
      reservationId: r.id,
      reservedMicros: r.micros,
      estimatedInputTokens: r.inputTokens,
      heldAt: r.ts,
    };
  }

  /** Alert thresholds this entry takes a USD scope across, not yet fired for the scope's period. */
  private crossedThresholds(
    workflow: string,
    entry: LedgerEntry,
    fired: (scope: string, periodKey: string, pct: number) => boolean,
  ): BudgetAlert[] {
    const alerts: BudgetAlert[] = [];
    const thresholds = this.policy.alerts.thresholdsPct;
    for (const use of this.usdScopes(workflow, entry.ts)) {
      if (use.limit === undefined || use.limit <= 0) continue;
      const after = use.used + entry.costMicros; // counters move when the settle record applies, just after this
      const periodKey = use.key.slice(use.key.indexOf('@') + 1);
      for (const pct of thresholds) {
        if (after * 100 >= use.limit * pct && !fired(use.scope, periodKey, pct)) {
          alerts.push({ scope: use.scope, periodKey, pct, usedMicros: after, limitMicros: use.limit });
        }
      }
    }
    return alerts;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Status

  /** Every USD scope with a cap (workspace and per workflow), as the status bar and `agent-budget status` see them. */
  status(now = this.clock.now()): Array<ScopeUse & { pct: number; level: BudgetLevel }> {
    const workflows = Object.keys(this.policy.workflows);
    const uses = new Map<string, ScopeUse>();
    for (const use of this.usdScopes('', now)) if (use.scope.startsWith('workspace.')) uses.set(use.key, use);
    for (const wf of workflows)
      for (const use of this.usdScopes(wf, now)) if (use.scope.startsWith('workflow.')) uses.set(use.key, use);
    return [...uses.values()].filter((u) => u.limit !== undefined).map((u) => withLevel(u));
  }

  /** Use of a token scope by key (for a running task or session in the status bar). */
  tokenStatus(spec: TokenScopeSpec): ScopeUse & { pct: number; level: BudgetLevel } {
    return withLevel(this.tokenUse(spec));
  }
}

/** ok < warn (soft limit, or 75 % of a cap) < critical (90 %) < blocked (100 %). */
export function withLevel(u: ScopeUse): ScopeUse & { pct: number; level: BudgetLevel } {
  const used = u.used + u.reserved;
  const pct = u.limit ? (used / u.limit) * 100 : 0;
  let level: BudgetLevel = 'ok';
  if (u.limit !== undefined && used >= u.limit) level = 'blocked';
  else if (pct >= 90) level = 'critical';
  else if ((u.soft !== undefined && used >= u.soft) || (u.unit === 'usd' && pct >= 75)) level = 'warn';
  return { ...u, pct, level };
}

/** A USD counter key or scope name (they share their prefix). */
function isUsdKey(key: string): boolean {
  return key.startsWith('workspace.') || key.startsWith('workflow.');
}

/** The most a call can cost: the prompt at its worst rate and the whole clamp as output, rounded up to the µ$. */
function worstCaseMicros(
  rates: { promptUnits: bigint; outputUnits: bigint },
  inputTokens: number,
  maxOutputTokens: number,
): Micros {
  const units = BigInt(inputTokens) * rates.promptUnits + BigInt(maxOutputTokens) * rates.outputUnits;
  return Number((units + 999_999n) / 1_000_000n);
}

/**
 * Per-token prompt and output rates of the worst case, in 10⁻⁶ µ$: the prompt as uncached input (or at the cache
 * write rate the request asks for — writes bill above input), output (reasoning included) at the output rate.
 * When the estimate is within 10 % of an `above` threshold the higher tier is assumed: a prompt a little larger
 * than estimated would bill the whole call there.
 */
function worstRates(price: ResolvedPrice, req: AdmitRequest): { promptUnits: bigint; outputUnits: bigint } {
  const tier = price.above && req.inputTokens * 1.1 > price.above.tokens ? price.above : price.base;
  const promptRate =
    req.promptCaching === '5m'
      ? tier.cacheWrite5mPerMTok
      : req.promptCaching === '1h'
        ? tier.cacheWrite1hPerMTok
        : tier.inputPerMTok;
  // Round rates up so the affordable output never exceeds what the cap pays for.
  return { promptUnits: BigInt(Math.ceil(promptRate * 1e6)), outputUnits: BigInt(Math.ceil(tier.outputPerMTok * 1e6)) };
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

export { parseScope, type Period };
