import type { Clock } from '../clock';
import { Emitter } from '../events';
import { usdToMicros } from '../money';
import { dayKey } from '../policy/periods';
import type { BudgetPolicy } from '../policy/types';
import { resolvePrice, type ResolvedPrice } from '../pricing/cost';
import { utcDay } from '../pricing/prices';
import type { LedgerEntry, StoreRecord } from '../store/records';
import type { DayKeys, WorkspaceStore } from '../store/store';
import type { ProviderId } from '../usage';
import { decideAdmission, toolChargeBlocked } from './admission';
import { ScopeCounters } from './counters';
import { entryFor, reservationFor, toolChargeEntry } from './ledgerRows';
import { budgetStatus, withLevel, type ScopeWithLevel } from './status';
import { alertRecord, crossedThresholds } from './thresholds';
import {
  BudgetBlockedError,
  type Admission,
  type AdmitRequest,
  type BudgetAlert,
  type BudgetDecision,
  type ClientCaps,
  type ScopeUse,
  type SettleInput,
  type SpendScopeSpec,
  type TokenScopeSpec,
} from './types';

export { parseScope } from '../policy/scopes';
export type { Period } from '../policy/periods';
export { withLevel } from './status';
export {
  BudgetBlockedError,
  type Admission,
  type AdmitRequest,
  type BudgetAlert,
  type BudgetDecision,
  type BudgetLevel,
  type ClientCaps,
  type ScopeUse,
  type SettleInput,
  type SpendScopeSpec,
  type TokenScopeSpec,
} from './types';

/** A UTC day in ms (JavaScript time has no leap seconds). */
const DAY_MS = 86_400_000;

/**
 * The budget engine: every provider call is admitted here first and settled here after, so a hard limit holds
 * by construction (docs/product.md "Budget semantics"). Callers meter a call through src/core/metering, which ends it
 * exactly once.
 *
 * Admission: estimate the prompt, then — in one store transaction, under the store's lock, after reading every
 * other window's and CLI process's records — decide (admission.ts, a pure function of the request, the prices, the
 * scopes' use and the rules) and reserve the worst case against every scope. Settlement replaces the reservation
 * with the provider's reported usage; a failure before billing releases it; a crash leaves it to be charged as
 * estimated. The scopes' use is counters.ts; the rows written, ledgerRows.ts; alerts, thresholds.ts.
 */

/** Day keys of the store in the policy's zone (the store rekeys rollups when the zone changes). */
export function policyDays(policy: Pick<BudgetPolicy, 'timeZone'>): DayKeys {
  const zone = policy.timeZone ?? `local:${Intl.DateTimeFormat().resolvedOptions().timeZone}`;
  return { key: (ms) => dayKey(ms, policy.timeZone), zone };
}

export class BudgetEngine {
  private readonly counters: ScopeCounters;
  private readonly alerted = new Emitter<BudgetAlert>();
  /** Threshold alerts fired by this process's settlements (once per scope and period across all processes). */
  readonly onAlert = this.alerted.event;
  private readonly decided = new Emitter<BudgetDecision>();
  /** Warnings, degrades and blocks of this process's admissions and tool charges (hooks follow them). */
  readonly onDecision = this.decided.event;
  private readonly changed = new Emitter<void>();
  /** Any counter moved (spend here or in another window): the status bar listens. */
  readonly onDidChange = this.changed.event;
  private readonly subscriptions: Array<{ dispose(): void }> = [];
  private policyError: Error | undefined;
  /** Resolved prices by provider and model, for the current policy's overrides (resolving scans the table). */
  /** Resolved prices of the UTC day `pricesDay`, by model, then provider (and whether the endpoint is local). */
  private readonly prices = new Map<string, Map<string, ResolvedPrice>>();
  private pricesDay = { number: NaN, day: '' };

  constructor(
    private readonly store: WorkspaceStore,
    private policy: BudgetPolicy,
    private readonly clock: Clock,
  ) {
    this.counters = new ScopeCounters(store, policy);
    this.subscriptions.push(
      store.onDidApply(({ records }) => {
        for (const record of records) this.observe(record);
        this.changed.fire();
      }),
      store.onDidReload(() => {
        this.counters.reset();
        this.changed.fire();
      }),
    );
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.alerted.dispose();
    this.decided.dispose();
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
    this.counters.setPolicy(policy);
    this.policy = policy;
    this.policyError = undefined;
    this.prices.clear();
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
    this.counters.learn([...req.tokenScopes, ...(req.spendScopes ?? [])]);
    const sized = await this.sizePrompt(req);
    let admission: Admission;
    try {
      admission = await this.store.transact(() => {
        const planned = this.plan(sized);
        return { records: [{ k: 'reserve', reservation: planned.reservation }, ...alsoCommit], result: planned };
      });
    } catch (err) {
      if (err instanceof BudgetBlockedError) this.decide(req, 'block', [err.message], err.scope, err.resetsAt);
      throw err;
    }
    if (admission.action !== 'allow' || admission.warnings.length > 0)
      this.decide(req, admission.action === 'degrade' ? 'degrade' : 'warn', admission.warnings);
    return admission;
  }

  /** Tells hooks of a decision, with the figures of the scope that made it (or the call's tightest). */
  private decide(
    req: Pick<
      AdmitRequest,
      'workflow' | 'runId' | 'task' | 'model' | 'tokenScopes' | 'spendScopes' | 'client' | 'clientCaps'
    >,
    action: BudgetDecision['action'],
    messages: string[],
    scopeName?: string,
    resetsAt?: number,
  ): void {
    const uses = [
      ...req.tokenScopes.map((spec) => this.counters.tokenUse(spec)),
      ...this.counters.usdScopes(req.workflow, this.clock.now(), req.client, req.clientCaps),
      ...this.spendUses(req.spendScopes),
    ].filter((u) => u.limit !== undefined && u.limit > 0);
    const fill = (u: ScopeUse) => (u.used + u.reserved) / u.limit!;
    const scope = scopeName
      ? uses.find((u) => u.scope === scopeName)
      : uses.reduce<ScopeUse | undefined>((a, u) => (!a || fill(u) > fill(a) ? u : a), undefined);
    const { workflow, runId, task, model } = req;
    this.decided.fire({ action, workflow, runId, task, model, messages, scope, resetsAt });
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
   * Computes the admission for `req` against the current counters (synchronous, in memory: inside the store
   * transaction, and measured by the benchmark). Throws BudgetBlockedError.
   */
  plan(req: AdmitRequest): Admission {
    if (this.policyError) {
      throw new BudgetBlockedError(
        `No call is made while the budget policy is invalid. ${this.policyError.message}`,
        'policy',
      );
    }
    const now = this.clock.now();
    this.counters.learn([...req.tokenScopes, ...(req.spendScopes ?? [])]);
    const result = decideAdmission({
      request: req,
      price: (model) => this.priceOf(req.provider, model, now, req.localEndpoint === true),
      scopes: {
        tokens: req.tokenScopes.map((spec) => this.counters.tokenUse(spec)),
        usd: [
          ...this.counters.usdScopes(req.workflow, now, req.client, req.clientCaps),
          ...this.spendUses(req.spendScopes),
        ],
      },
      rules: this.policy.rules,
    });
    if ('blocked' in result) throw BudgetBlockedError.of(result.blocked);
    const d = result.admit;
    // Built field by field: object spread and rest cost microseconds a call on Node 20's V8 (bench: budget).
    const admission: Admission = {
      reservation: reservationFor(req, d, { ts: now, owner: this.store.ownerId }),
      model: d.model,
      maxOutputTokens: d.maxOutputTokens,
      action: d.action,
      promptEstimate: d.promptEstimate,
      softReached: d.softReached,
      warnings: d.warnings,
      clampedBy: d.clampedBy,
      price: d.price,
    };
    if (d.compact !== undefined) admission.compact = d.compact;
    return admission;
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

  /** The ledger entry settling `admission` with what the provider reported (or the reservation, when nothing was). */
  entryFor(admission: Admission, input: SettleInput): LedgerEntry {
    return entryFor(admission, input, this.clock.now());
  }

  /** The records that settle `admission` with `entry`, and the alerts they fire (synchronous; inside settle's transaction). */
  planSettlement(
    admission: Admission,
    entry: LedgerEntry,
    fired: (scope: string, periodKey: string, pct: number) => boolean,
  ): { records: StoreRecord[]; alerts: BudgetAlert[] } {
    const records: StoreRecord[] = [{ k: 'settle', reservationId: admission.reservation.id, ts: entry.ts, entry }];
    const alerts = this.crossed(admission.reservation.workflow, entry, fired);
    for (const alert of alerts) records.push(alertRecord(alert, entry.ts));
    return { records, alerts };
  }

  /**
   * Releases a reservation whose call was never billed (an HTTP error before any output, a refused request), with
   * `alsoCommit` (the caller's checkpoint) in the same durable write.
   */
  async release(admission: Admission, alsoCommit: readonly StoreRecord[] = []): Promise<void> {
    await this.store.commit([
      { k: 'settle', reservationId: admission.reservation.id, ts: this.clock.now(), entry: null },
      ...alsoCommit,
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
      /** The task's and run's dollar scopes (its own first, then its parents' and pools'): their limits hold too. */
      spendScopes?: SpendScopeSpec[];
    },
    alsoCommit: readonly StoreRecord[] = [],
  ): Promise<LedgerEntry> {
    const now = this.clock.now();
    const entry = toolChargeEntry(args, usdToMicros(args.usd), now);
    this.counters.learn(args.spendScopes ?? []);
    const alerts = await this.store.transact((q) => {
      const scopes = [...this.usdScopes(args.workflow, now), ...this.spendUses(args.spendScopes)];
      const blocked = toolChargeBlocked(scopes, entry.costMicros, args.tool);
      if (blocked) {
        const { workflow, runId, task, tool, spendScopes } = args;
        const req = { workflow, runId, task, model: tool, tokenScopes: [], spendScopes };
        this.decide(req, 'block', [blocked.message], blocked.scope, blocked.resetsAt);
        throw BudgetBlockedError.of(blocked);
      }
      const crossed = this.crossed(args.workflow, entry, q.alertFired.bind(q));
      const records: StoreRecord[] = [{ k: 'ledger', entry }, ...crossed.map((a) => alertRecord(a, now))];
      return { records: [...records, ...alsoCommit], result: crossed };
    });
    for (const alert of alerts) this.alerted.fire(alert);
    return entry;
  }

  /** Every USD scope a call of `workflow` at `now` counts against, with its cap (see ScopeCounters.usdScopes). */
  usdScopes(workflow: string, now: number): ScopeUse[] {
    return this.counters.usdScopes(workflow, now);
  }

  /**
   * Every USD scope with a cap (workspace and per workflow, and each of `clients`' own caps), as the status bar and
   * `agent-budget status` see them.
   */
  status(now = this.clock.now(), clients: Readonly<Record<string, ClientCaps>> = {}): ScopeWithLevel[] {
    const clientUses = Object.entries(clients).flatMap(([client, caps]) =>
      this.counters.clientScopes(client, caps, now),
    );
    return budgetStatus(this.policy, (workflow) => this.usdScopes(workflow, now), clientUses);
  }

  /** Use of a token scope by key (for a running task or session in the status bar). */
  tokenStatus(spec: TokenScopeSpec): ScopeWithLevel {
    return withLevel(this.counters.tokenUse(spec));
  }

  /** Use of a task's or run's dollar scope (`task.usd`, `session.usd`). */
  spendStatus(spec: SpendScopeSpec): ScopeWithLevel {
    this.counters.learn([spec]);
    return withLevel(this.counters.spendUse(spec));
  }

  private spendUses(specs: readonly SpendScopeSpec[] | undefined): ScopeUse[] {
    return (specs ?? []).map((spec) => this.counters.spendUse(spec));
  }

  /**
   * The price of `model` in force on the UTC day of `now` (a promotion's end or a price change applies from that day
   * on) under the current policy's prices, resolved once a day per model: resolving scans the whole table, and
   * admissions and the proxy's prompt sizing ask on every call.
   */
  priceOf(provider: ProviderId, model: string, now = this.clock.now(), localEndpoint = false): ResolvedPrice {
    // Prices are resolved per UTC day: a new day starts an empty cache (so it stays one entry per model in use).
    const dayNumber = Math.floor(now / DAY_MS);
    if (dayNumber !== this.pricesDay.number) {
      this.prices.clear();
      this.pricesDay = { number: dayNumber, day: utcDay(now) };
    }
    // Nested by model, keyed by constant strings: no key string is built on the hot path.
    let byModel = this.prices.get(model);
    if (!byModel) {
      byModel = new Map();
      this.prices.set(model, byModel);
    }
    const key = localEndpoint ? `${provider}:local` : provider;
    let price = byModel.get(key);
    if (!price) {
      price = resolvePrice(provider, model, this.policy.prices, { at: this.pricesDay.day, localEndpoint });
      byModel.set(key, price);
    }
    return price;
  }

  private crossed(
    workflow: string,
    entry: LedgerEntry,
    fired: (scope: string, periodKey: string, pct: number) => boolean,
  ): BudgetAlert[] {
    return crossedThresholds(
      this.usdScopes(workflow, entry.heldAt ?? entry.ts),
      entry,
      this.policy.alerts.thresholdsPct,
      fired,
    );
  }

  /** Keeps counters current with every record the store applies (the benchmark drives it directly). */
  private observe(record: StoreRecord): void {
    this.counters.observe(record);
  }
}
