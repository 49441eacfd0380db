import { formatUsd, type Micros } from '../money';
import type { TeamScopeUse } from './types';

/**
 * Admissions while the team ledger is unreachable: a bounded allowance, so work goes on through a network blip
 * without letting a cut-off machine spend the team's budget blind.
 *
 * The allowance of an outage is a share of the member's remaining team budget as last seen online (the tightest
 * capped team or member scope, after everything held then), capped in dollars: default 10 % and at most $1.00.
 * Why those: the overshoot of a team cap during an outage is at most the sum of the allowances of the machines
 * cut off, so the dollar cap keeps it small and predictable (ten machines → at most $10 past an $800 monthly cap),
 * while $1 still covers a few dozen typical calls, enough to finish what was running; the share keeps a member who
 * is almost at a cap from spending a whole dollar past it. A machine that has never reached the ledger knows no
 * remaining budget, so its allowance is zero (persist `snapshot()` to keep the last reading across restarts).
 * Holds on the server that can no longer be renewed are moved here at their worst case, so an outage that starts
 * mid-call counts that call too.
 *
 * Pure bookkeeping: no I/O, no clock. TeamBudget drives it.
 */
export interface OfflineAllowanceOptions {
  /** Share of the remaining team budget an outage may spend (0–1, default 0.1). */
  share?: number;
  /** The most an outage may spend, in µ$ (default $1.00). */
  capMicros?: Micros;
}

export const DEFAULT_OFFLINE_SHARE = 0.1;
export const DEFAULT_OFFLINE_CAP_MICROS = 1_000_000;

/** What an outage spent and whether a team cap was passed meanwhile (found on reconnect). */
export interface OfflineReconciliation {
  allowanceMicros: Micros;
  /** Settled offline (shipped on reconnect) plus worst cases still held. */
  spentMicros: Micros;
  /** Capped scopes over their cap once everything was shipped: by how much. Bounded by the machines' allowances. */
  overshoot: Array<{ scope: string; key: string; overMicros: Micros }>;
}

export interface OfflineSnapshot {
  /** µ$ left in the tightest capped scope at the last online reading; null = no capped scope. */
  remainingMicros: Micros | null;
}

interface Outage {
  allowance: Micros;
  spent: Micros;
  holds: Map<string, Micros>;
}

export class OfflineAllowance {
  private readonly share: number;
  private readonly cap: Micros;
  /** undefined: never seen online; null: seen, and no scope is capped. */
  private remaining: Micros | null | undefined;
  private outage: Outage | undefined;

  constructor(options: OfflineAllowanceOptions = {}, snapshot?: OfflineSnapshot) {
    this.share = options.share ?? DEFAULT_OFFLINE_SHARE;
    this.cap = options.capMicros ?? DEFAULT_OFFLINE_CAP_MICROS;
    if (!(this.share >= 0 && this.share <= 1))
      throw new RangeError(`offline share must be within 0–1 (got ${this.share})`);
    if (!Number.isSafeInteger(this.cap) || this.cap < 0)
      throw new RangeError(`offline allowance cap must be whole µ$ ≥ 0 (got ${this.cap})`);
    this.remaining = snapshot?.remainingMicros;
  }

  /** An online reading of the member's scopes (after an admission, a refusal or a status). */
  observe(scopes: readonly TeamScopeUse[]): void {
    let tightest: Micros | null = null;
    for (const s of scopes)
      if (s.limit !== undefined) tightest = Math.min(tightest ?? Infinity, Math.max(0, s.limit - s.used - s.held));
    this.remaining = tightest;
  }

  snapshot(): OfflineSnapshot {
    return { remainingMicros: this.remaining === undefined ? 0 : this.remaining };
  }

  get offline(): boolean {
    return this.outage !== undefined;
  }

  /** The server became unreachable: an outage starts with its allowance (no-op if one is going on). */
  begin(): void {
    if (this.outage) return;
    const allowance =
      this.remaining === null
        ? Number.MAX_SAFE_INTEGER // nothing is capped: there is no team budget to protect
        : Math.min(Math.floor(this.share * (this.remaining ?? 0)), this.cap);
    this.outage = { allowance, spent: 0, holds: new Map() };
  }

  /** µ$ the outage may still spend (0 when online). */
  left(): Micros {
    const o = this.outage;
    if (!o) return 0;
    let held = 0;
    for (const m of o.holds.values()) held += m;
    return Math.max(0, o.allowance - o.spent - held);
  }

  /** Holds `micros`, or what is left if that is at least `minMicros` (the clamp, as online). */
  admit(
    reservationId: string,
    micros: Micros,
    minMicros: Micros = micros,
  ): { ok: true; micros: Micros } | { ok: false; message: string } {
    const o = this.requireOutage();
    const left = this.left();
    const take = Math.min(micros, left);
    if (take < minMicros)
      return {
        ok: false,
        message:
          `The team ledger is unreachable and this call's worst case (${formatUsd(minMicros)}) is more than the ` +
          `${formatUsd(left)} offline allowance left${o.allowance === 0 ? ' (this machine has not reached the team ledger yet)' : ''}. ` +
          'It resumes when the ledger is back; check the network or AGENT_BUDGET_TEAM_DATABASE_URL.',
      };
    o.holds.set(reservationId, take);
    return { ok: true, micros: take };
  }

  /** A call admitted online whose hold can no longer be renewed: its worst case counts here, even past the allowance. */
  adopt(reservationId: string, micros: Micros): void {
    this.requireOutage().holds.set(reservationId, micros);
  }

  /** Whether the outage holds this reservation. */
  holds(reservationId: string): boolean {
    return this.outage?.holds.has(reservationId) ?? false;
  }

  /** The call cost `costMicros`: that replaces its hold. */
  settle(reservationId: string, costMicros: Micros): void {
    const o = this.requireOutage();
    o.holds.delete(reservationId);
    o.spent += costMicros;
  }

  release(reservationId: string): void {
    this.outage?.holds.delete(reservationId);
  }

  /**
   * The ledger is back and the outbox shipped: ends the outage. `scopes` is the member's reading after shipping;
   * any capped scope past its cap is the overshoot to report.
   */
  end(scopes: readonly TeamScopeUse[]): OfflineReconciliation {
    const o = this.requireOutage();
    let held = 0;
    for (const m of o.holds.values()) held += m;
    this.outage = undefined;
    this.observe(scopes);
    const overshoot = scopes
      .filter((s) => s.limit !== undefined && s.used + s.held > s.limit)
      .map((s) => ({ scope: s.scope, key: s.key, overMicros: s.used + s.held - s.limit! }));
    return { allowanceMicros: o.allowance, spentMicros: o.spent + held, overshoot };
  }

  private requireOutage(): Outage {
    if (!this.outage) throw new Error('OfflineAllowance: no outage in progress (call begin() first)');
    return this.outage;
  }
}
