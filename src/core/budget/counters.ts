import { usdToMicros } from '../money';
import { effectiveLimits } from '../policy/effective';
import { PERIODS, dayKey, periodWindow, type PeriodWindow } from '../policy/periods';
import type { BudgetPolicy } from '../policy/types';
import type { LedgerEntry, Reservation, StoreRecord } from '../store/records';
import type { SpendFilter } from '../store/queries';
import type { WorkspaceStore } from '../store/store';
import { totalTokens } from '../usage';
import { CLIENT_PERIODS, isUsdKey, type ClientCaps, type ScopeUse, type TokenScopeSpec } from './types';

interface Counter {
  used: number;
  reserved: number;
}

/**
 * What every scope has used and holds, kept current by every record the store applies (this process's and every
 * other window's and CLI's):
 * - token scopes (`task@<id>`, `session@<runId>`, `pool@<id>`) belong to one run in one process; their limits come
 *   with each request, their use is read once from the store for a resumed run (`initialUsed`);
 * - USD scopes (`workspace.<period>@<key>`, `workflow.<id>.<period>@<key>`) are shared by every process; each is
 *   loaded from the store's rollups on first use.
 * A counter's `reserved` is what the open reservations naming it hold.
 */
export class ScopeCounters {
  private readonly counters = new Map<string, Counter>();
  private readonly open = new Map<string, Reservation>();
  private readonly tokenInit = new Map<string, () => number>();
  /** Effective limits by workflow for the current policy (merging overrides allocates; admissions are hot). */
  private readonly limits = new Map<string, ReturnType<typeof effectiveLimits>>();

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

  /** Remembers how to read the use of token scopes this process has not counted yet (a resumed run's). */
  learn(specs: readonly TokenScopeSpec[]): void {
    for (const spec of specs)
      if (spec.initialUsed && !this.tokenInit.has(spec.key)) this.tokenInit.set(spec.key, spec.initialUsed);
  }

  tokenUse(spec: TokenScopeSpec): ScopeUse {
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
    for (const period of PERIODS) {
      const win = periodWindow(period, now, this.policy.timeZone);
      out.push(this.usdUse(`workspace.${period}`, win, undefined, limits.workspace[`${period}Usd`]));
      out.push(this.usdUse(`workflow.${workflow}.${period}`, win, { workflow }, limits.workflow[`${period}Usd`]));
    }
    if (client !== undefined) out.push(...this.clientScopes(client, clientCaps, now));
    return out;
  }

  /** A proxy client's own scopes (`client.<name>.daily|monthly`) at `now`, with its caps. */
  clientScopes(client: string, caps: ClientCaps, now: number): ScopeUse[] {
    return CLIENT_PERIODS.map((period) =>
      this.usdUse(
        `client.${client}.${period}`,
        periodWindow(period, now, this.policy.timeZone),
        { client },
        caps[`${period}Usd`],
      ),
    );
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

  /**
   * The store rebuilt its memory from disk. USD counters are reloaded from the rollups on next use. Token counters
   * stay: they count this process's own runs, whose settled calls are on disk (a rejected write can only have
   * counted more, never less), and a task started here has no `initialUsed` to reload from. Their holds are
   * recomputed from the reservations still open.
   */
  reset(): void {
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

  private readonly loadTokens = (key: string): number => this.tokenInit.get(key)?.() ?? 0;

  private usdUse(
    scope: string,
    win: PeriodWindow,
    filter: SpendFilter | undefined,
    capUsd: number | undefined,
  ): ScopeUse {
    const key = `${scope}@${win.key}`;
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
      const keys = [`workspace.${period}@${win.key}`, `workflow.${entry.workflow}.${period}@${win.key}`];
      if (entry.client !== undefined) keys.push(`client.${entry.client}.${period}@${win.key}`);
      for (const key of keys) {
        const c = this.counters.get(key);
        if (c) c.used += entry.costMicros;
      }
    }
  }
}
