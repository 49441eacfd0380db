import { usdToMicros } from '../money';
import { effectiveLimits } from '../policy/effective';
import { PERIODS, dayKey, periodWindow, type PeriodWindow } from '../policy/periods';
import type { BudgetPolicy } from '../policy/types';
import type { LedgerEntry, Reservation, StoreRecord } from '../store/records';
import type { SpendFilter } from '../store/queries';
import type { WorkspaceStore } from '../store/store';
import { totalTokens } from '../usage';
import {
  CLIENT_PERIODS,
  isSpendKey,
  isUsdKey,
  type ClientCaps,
  type ScopeUse,
  type SpendScopeSpec,
  type TokenScopeSpec,
} from './types';

/** `workspace.<period>` for each of PERIODS. */
const WORKSPACE_SCOPES: readonly string[] = PERIODS.map((period) => `workspace.${period}`);

/** The policy field of each period's cap (a constant: a key built per call is looked up the slow way). */
const USD_FIELD = { daily: 'dailyUsd', weekly: 'weeklyUsd', monthly: 'monthlyUsd' } as const;

interface Counter {
  used: number;
  reserved: number;
}

/**
 * What every scope has used and holds, kept current by every record the store applies (this process's and every
 * other window's and CLI's):
 * - token scopes (`task@<id>`, `session@<runId>`, `pool@<id>`) and dollar scopes of a task, sub-agent pool or run
 *   (`task.usd@<id>`, `pool.usd@<id>`, `session.usd@<runId>`) belong to one run in one process; their limits come
 *   with each request, their use is read once from the store for a resumed run (`initialUsed`);
 * - USD scopes (`workspace.<period>@<key>`, `workflow.<id>.<period>@<key>`) are shared by every process; each is
 *   loaded from the store's rollups on first use.
 * A counter's `reserved` is what the open reservations naming it hold.
 */
export class ScopeCounters {
  private readonly counters = new Map<string, Counter>();
  private readonly open = new Map<string, Reservation>();
  private readonly runScopeInit = new Map<string, () => number>();
  /**
   * A task's dollar scopes above its own (`task.usd@<task>` → its parents' and their pools'): calls name every scope
   * in their reservation, but a fixed tool charge names none, so it is charged through this.
   */
  private readonly spendParents = new Map<string, string[]>();
  /** Effective limits by workflow for the current policy (merging overrides allocates; admissions are hot). */
  private readonly limits = new Map<string, ReturnType<typeof effectiveLimits>>();
  /**
   * USD scope names by period (`workflow.<id>.<period>`…) and counter keys by window and scope name: admissions and
   * charges look counters up by the same few keys on every call, and a string built afresh is hashed afresh on every
   * Map lookup (about half a microsecond each on Node 20; ten or more a call).
   */
  private readonly scopeNames = {
    'workflow.': new Map<string, readonly string[]>(),
    'client.': new Map<string, readonly string[]>(),
  };
  private readonly windowKeys = new WeakMap<PeriodWindow, Map<string, string>>();

  constructor(
    private readonly store: WorkspaceStore,
    private policy: BudgetPolicy,
  ) {
    for (const r of store.queries.openReservations()) this.open.set(r.id, r);
  }

  /**
   * A new policy: limits apply from now on. A new time zone moves every period's boundaries, so USD counters are
   * then reloaded (after the store re-keyed its days to the new zone).
   */
  setPolicy(policy: BudgetPolicy): void {
    if (policy.timeZone !== this.policy.timeZone)
      for (const key of [...this.counters.keys()]) if (isUsdKey(key)) this.counters.delete(key);
    this.policy = policy;
    this.limits.clear();
  }

  /**
   * Remembers how to read the use of token and dollar scopes this process has not counted yet (a resumed run's),
   * and which dollar scopes above a task (its parents' and their pools', in a fan-out) its charges count against:
   * the first `task.usd` spec is the task's own.
   */
  learn(specs: readonly (TokenScopeSpec | SpendScopeSpec)[]): void {
    for (const spec of specs)
      if (spec.initialUsed && !this.runScopeInit.has(spec.key)) this.runScopeInit.set(spec.key, spec.initialUsed);
    const spend = specs.filter((s) => s.kind === 'task.usd' || s.kind === 'pool.usd').map((s) => s.key);
    if (spend.length > 1 && spend[0]!.startsWith('task.usd@')) this.spendParents.set(spend[0]!, spend.slice(1));
  }

  tokenUse(spec: TokenScopeSpec): ScopeUse {
    const c = this.counter(spec.key, this.loadRunScope);
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

  /** A task's or run's dollars (µ$), with its limits. */
  spendUse(spec: SpendScopeSpec): ScopeUse {
    const c = this.counter(spec.key, this.loadRunScope);
    return {
      scope: spec.kind,
      key: spec.key,
      unit: 'usd',
      used: c.used,
      reserved: c.reserved,
      limit: spec.hardMicros,
      soft: spec.softMicros,
    };
  }

  /**
   * Every USD scope a call of `workflow` (made by `client`, when a proxy client makes it) at `now` counts against,
   * with its cap (undefined = no cap). Uncapped workflow scopes are listed too, so a reservation names them: a cap
   * added to budget.json while calls are in flight counts what they hold.
   */
  usdScopes(workflow: string, now: number, client?: string, clientCaps: ClientCaps = {}): ScopeUse[] {
    let limits = this.limits.get(workflow);
    if (!limits) {
      limits = effectiveLimits(this.policy, workflow);
      this.limits.set(workflow, limits);
    }
    const out: ScopeUse[] = [];
    const own = this.names('workflow.', workflow);
    for (const [i, period] of PERIODS.entries()) {
      const win = periodWindow(period, now, this.policy.timeZone);
      out.push(this.usdUse(WORKSPACE_SCOPES[i]!, win, undefined, limits.workspace[USD_FIELD[period]]));
      out.push(this.usdUse(own[i]!, win, { workflow }, limits.workflow[USD_FIELD[period]]));
    }
    if (client !== undefined) for (const use of this.clientScopes(client, clientCaps, now)) out.push(use);
    return out;
  }

  /** A proxy client's own scopes (`client.<name>.daily|monthly`) at `now`, with its caps. */
  clientScopes(client: string, caps: ClientCaps, now: number): ScopeUse[] {
    const names = this.names('client.', client);
    return CLIENT_PERIODS.map((period) =>
      this.usdUse(
        names[PERIODS.indexOf(period)]!,
        periodWindow(period, now, this.policy.timeZone),
        { client },
        caps[USD_FIELD[period]],
      ),
    );
  }

  /** `<kind><id>.<period>` for each of PERIODS, built once per id. */
  private names(kind: 'workflow.' | 'client.', id: string): readonly string[] {
    let names = this.scopeNames[kind].get(id);
    if (!names) {
      names = PERIODS.map((period) => `${kind}${id}.${period}`);
      this.scopeNames[kind].set(id, names);
    }
    return names;
  }

  /** The counter key `<scope>@<window key>`, built once per window and scope. */
  private keyOf(scope: string, win: PeriodWindow): string {
    let keys = this.windowKeys.get(win);
    if (!keys) {
      keys = new Map();
      this.windowKeys.set(win, keys);
    }
    let key = keys.get(scope);
    if (key === undefined) {
      key = `${scope}@${win.key}`;
      keys.set(scope, key);
    }
    return key;
  }

  /** Keeps counters current with one record the store applied. */
  observe(record: StoreRecord): void {
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
        if (record.entry) this.charge(record.entry, r?.scopes);
        return;
      }
      case 'ledger':
        this.charge(record.entry, undefined);
        return;
      default:
        return;
    }
  }

  /**
   * The store rebuilt its memory from disk. The periods' USD counters are reloaded from the rollups on next use.
   * Task and run counters (tokens and dollars) stay: they count this process's own runs, whose settled calls are on
   * disk (a rejected write can only have counted more, never less), and a task started here has no `initialUsed` to
   * reload from. Their holds are recomputed from the reservations still open.
   */
  reset(): void {
    this.open.clear();
    for (const r of this.store.queries.openReservations()) this.open.set(r.id, r);
    for (const [key, c] of this.counters) {
      if (isUsdKey(key) && !isSpendKey(key)) {
        this.counters.delete(key);
        continue;
      }
      c.reserved = 0;
      for (const r of this.open.values())
        if (r.scopes.includes(key)) c.reserved += isSpendKey(key) ? r.micros : r.tokens;
    }
  }

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

  private readonly loadRunScope = (key: string): number => this.runScopeInit.get(key)?.() ?? 0;

  private usdUse(
    scope: string,
    win: PeriodWindow,
    filter: SpendFilter | undefined,
    capUsd: number | undefined,
  ): ScopeUse {
    const key = this.keyOf(scope, win);
    const c = this.counter(key, () => {
      const range = {
        fromDay: dayKey(win.startMs, this.policy.timeZone),
        toDay: dayKey(win.endMs - 1, this.policy.timeZone),
      };
      return this.store.queries.totals(range, filter).costMicros;
    });
    const limit = capUsd === undefined ? undefined : usdToMicros(capUsd);
    return { scope, key, unit: 'usd', used: c.used, reserved: c.reserved, limit, soft: undefined, resetsAt: win.endMs };
  }

  /**
   * Counts a ledger row against the task, pool and run scopes it names (`reserved`: the scopes of the reservation it
   * settles; a fixed tool charge has none, so its task's, the task's dollar parents' and its run's) and against the
   * periods' USD scopes of its own time.
   */
  private charge(entry: LedgerEntry, reserved: string[] | undefined): void {
    const tokens = totalTokens(entry.usage);
    const ownSpend = entry.taskId ? `task.usd@${entry.taskId}` : '';
    const keys = reserved ?? [
      entry.taskId ? `task@${entry.taskId}` : '',
      entry.runId ? `session@${entry.runId}` : '',
      ownSpend,
      ...(this.spendParents.get(ownSpend) ?? []),
      entry.runId ? `session.usd@${entry.runId}` : '',
    ];
    for (const key of keys) {
      const c = key ? this.counters.get(key) : undefined;
      if (!c || (isUsdKey(key) && !isSpendKey(key))) continue;
      c.used += isSpendKey(key) ? entry.costMicros : tokens;
    }
    // USD scopes in the period the rollups file the entry in: where its reservation was held (a call across midnight).
    const at = entry.heldAt ?? entry.ts;
    const workflow = this.names('workflow.', entry.workflow);
    const client = entry.client === undefined ? undefined : this.names('client.', entry.client);
    for (const [i, period] of PERIODS.entries()) {
      const win = periodWindow(period, at, this.policy.timeZone);
      for (const scope of [WORKSPACE_SCOPES[i]!, workflow[i]!, client?.[i]]) {
        const c = scope === undefined ? undefined : this.counters.get(this.keyOf(scope, win));
        if (c) c.used += entry.costMicros;
      }
    }
  }
}
