import type { Clock } from '../clock';
import { Emitter } from '../events';
import { formatUsd, type Micros } from '../money';
import { TeamLedgerUnreachableError } from './errors';
import { OfflineAllowance, type OfflineReconciliation } from './offline';
import { drainOutbox, type DrainResult, type TeamOutbox } from './outbox';
import { blockedMessage, type ResolvedTeamCaps } from './scopes';
import type { TeamLedger, TeamLedgerRow, TeamRenewResult, TeamScopeUse } from './types';

/**
 * The team side of a call's admission, for one member on one machine: the shared ledger when it answers, the
 * offline allowance when it does not, and the reconciliation in between (ship the outbox, read the scopes, report
 * any overshoot). This is what the engine's admission calls after its local checks pass (the wiring phase).
 */
export interface TeamBudgetOptions {
  ledger: TeamLedger;
  /** Where settled rows wait to be shipped (the local store). */
  outbox: TeamOutbox;
  member: string;
  machine: string;
  /** The member's caps from the committed policy (resolveTeamCaps); replaced by setCaps when it changes. */
  caps: ResolvedTeamCaps;
  clock: Clock;
  allowance?: OfflineAllowance;
  /** After an admission found the ledger unreachable, how long to decide offline before asking it again (15 s). */
  retryMs?: number;
}

/** `micros`: what is held for the call (the engine clamps the call's output to it). */
export type TeamDecision =
  | { ok: true; mode: 'online'; micros: Micros; scopes: TeamScopeUse[] }
  | { ok: true; mode: 'offline'; micros: Micros; allowanceLeft: Micros }
  | { ok: false; mode: 'online'; blocked: TeamScopeUse; message: string }
  | { ok: false; mode: 'offline'; message: string };

export class TeamBudget {
  private readonly allowance: OfflineAllowance;
  private caps: ResolvedTeamCaps;
  /** Calls admitted by the ledger and not settled yet: renewed while in flight. */
  private readonly inFlight = new Map<string, Micros>();
  /** Rows settled online whose settle the drain has not yet confirmed on the server's disk (see outbox.ts). */
  private readonly settledOnline = new Set<string>();
  private lastFailure: number | undefined;
  private reconnecting: Promise<OfflineReconciliation | undefined> | undefined;
  private readonly changed = new Emitter<void>();
  /** Online/offline or the allowance moved: the meter redraws. */
  readonly onDidChange = this.changed.event;
  private readonly reconciled = new Emitter<OfflineReconciliation & DrainResult>();
  /** An outage ended: what it spent, what the outbox shipped, and any team cap it took past. */
  readonly onDidReconcile = this.reconciled.event;

  constructor(private readonly options: TeamBudgetOptions) {
    this.allowance = options.allowance ?? new OfflineAllowance();
    this.caps = options.caps;
  }

  dispose(): void {
    this.changed.dispose();
    this.reconciled.dispose();
  }

  setCaps(caps: ResolvedTeamCaps): void {
    this.caps = caps;
  }

  get offline(): boolean {
    return this.allowance.offline;
  }

  /** The meter's line while offline: `team ledger offline — $0.40 offline allowance left`. */
  meterLine(): string | undefined {
    return this.offline
      ? `team ledger offline — ${formatUsd(this.allowance.left())} offline allowance left`
      : undefined;
  }

  /**
   * Holds `micros` on the team scopes (or on the offline allowance) for the call with this reservation id — or less,
   * down to `minMicros`, when that is all a cap has room for.
   */
  async admit(
    reservationId: string,
    micros: Micros,
    minMicros: Micros = micros,
    at = this.options.clock.now(),
  ): Promise<TeamDecision> {
    if (this.offline && !this.mayRetry()) return this.admitOffline(reservationId, micros, minMicros);
    if (this.offline) {
      await this.reconnect();
      if (this.offline) return this.admitOffline(reservationId, micros, minMicros);
    }
    try {
      const result = await this.options.ledger.admit({
        reservationId,
        member: this.options.member,
        machine: this.options.machine,
        micros,
        minMicros,
        at,
        team: this.caps.team,
        memberCaps: this.caps.memberCaps,
        tier: this.caps.tier,
      });
      this.allowance.observe(result.scopes);
      if (result.ok) {
        this.inFlight.set(reservationId, result.micros);
        return { ok: true, mode: 'online', micros: result.micros, scopes: result.scopes };
      }
      return {
        ok: false,
        mode: 'online',
        blocked: result.blocked,
        message: blockedMessage(result.blocked, this.options.member, this.caps.tier),
      };
    } catch (err) {
      if (!(err instanceof TeamLedgerUnreachableError)) throw err;
      this.goOffline();
      return this.admitOffline(reservationId, micros, minMicros);
    }
  }

  /**
   * The call was billed: `row` (already in the outbox: the local store is written first) replaces the hold. Online
   * every machine sees the cost at once; the row stays pending until `flush` confirms it is on the server's disk
   * (a crash before that undoes the settle on the server, and the flush ships the row again). Offline it counts
   * against the allowance and waits in the outbox.
   */
  async settle(reservationId: string, row: TeamLedgerRow): Promise<void> {
    this.inFlight.delete(reservationId);
    if (!this.offline) {
      try {
        const result = await this.options.ledger.settle(reservationId, row);
        // A row the ledger already had with other contents is shipped again by the drain, which reports it.
        if (!result.conflicts.includes(row.id)) this.settledOnline.add(row.id);
        return;
      } catch (err) {
        if (!(err instanceof TeamLedgerUnreachableError)) throw err;
        this.goOffline(reservationId, row.costMicros);
      }
    }
    this.allowance.settle(reservationId, row.costMicros);
    this.changed.fire();
  }

  /** The call was never billed: frees its hold (on the server, or on the allowance). */
  async release(reservationId: string): Promise<void> {
    const online = this.inFlight.delete(reservationId);
    if (this.allowance.holds(reservationId)) {
      this.allowance.release(reservationId);
      this.changed.fire();
      return;
    }
    if (!online) return;
    try {
      await this.options.ledger.release([reservationId]);
    } catch (err) {
      // Unreachable: the hold lapses with its lease.
      if (!(err instanceof TeamLedgerUnreachableError)) throw err;
    }
  }

  /** Renews the leases of calls in flight (call every third of the lease). Expired holds are reported, not revived. */
  async renewInFlight(): Promise<TeamRenewResult> {
    if (this.offline || this.inFlight.size === 0) return { renewed: [], expired: [] };
    try {
      return await this.options.ledger.renew([...this.inFlight.keys()]);
    } catch (err) {
      if (!(err instanceof TeamLedgerUnreachableError)) throw err;
      this.goOffline();
      return { renewed: [], expired: [] };
    }
  }

  /**
   * Tries the ledger again: ships the outbox, reads the member's scopes and ends the outage with its
   * reconciliation. Undefined when still unreachable (or not offline). One attempt at a time.
   */
  reconnect(): Promise<OfflineReconciliation | undefined> {
    this.reconnecting ??= this.tryReconnect().finally(() => (this.reconnecting = undefined));
    return this.reconnecting;
  }

  /**
   * Ships the outbox durably and marks what the ledger has (rows settled online are already counted: for them this
   * is one check that also waits for the server's disk, so it can run behind every settle and at exit). Offline it
   * does nothing; `reconnect` drains then.
   */
  async flush(): Promise<DrainResult | undefined> {
    if (this.offline) return undefined;
    try {
      return await drainOutbox(this.options.ledger, this.options.outbox, undefined, this.settledOnline);
    } catch (err) {
      if (!(err instanceof TeamLedgerUnreachableError)) throw err;
      this.goOffline();
      return undefined;
    }
  }

  /** The member's team scopes now; undefined while offline. */
  async status(at = this.options.clock.now()): Promise<TeamScopeUse[] | undefined> {
    if (this.offline) return undefined;
    try {
      const scopes = await this.options.ledger.status({
        member: this.options.member,
        at,
        team: this.caps.team,
        memberCaps: this.caps.memberCaps,
        tier: this.caps.tier,
      });
      this.allowance.observe(scopes);
      return scopes;
    } catch (err) {
      if (!(err instanceof TeamLedgerUnreachableError)) throw err;
      this.goOffline();
      return undefined;
    }
  }

  private async tryReconnect(): Promise<OfflineReconciliation | undefined> {
    if (!this.offline) return undefined;
    try {
      const drained = await drainOutbox(this.options.ledger, this.options.outbox, undefined, this.settledOnline);
      const scopes = await this.options.ledger.status({
        member: this.options.member,
        at: this.options.clock.now(),
        team: this.caps.team,
        memberCaps: this.caps.memberCaps,
        tier: this.caps.tier,
      });
      const reconciliation = this.allowance.end(scopes);
      this.lastFailure = undefined;
      this.changed.fire();
      this.reconciled.fire({ ...reconciliation, ...drained });
      return reconciliation;
    } catch (err) {
      if (!(err instanceof TeamLedgerUnreachableError)) throw err;
      this.lastFailure = this.options.clock.now();
      return undefined;
    }
  }

  /** Starts an outage: calls admitted online and still in flight can no longer be renewed, so they count here. */
  private goOffline(settling?: string, settlingMicros?: Micros): void {
    this.lastFailure = this.options.clock.now();
    if (this.offline) return;
    this.allowance.begin();
    for (const [id, micros] of this.inFlight) this.allowance.adopt(id, micros);
    if (settling !== undefined && settlingMicros !== undefined) this.allowance.adopt(settling, settlingMicros);
    this.inFlight.clear();
    this.changed.fire();
  }

  private mayRetry(): boolean {
    return (
      this.lastFailure === undefined || this.options.clock.now() - this.lastFailure >= (this.options.retryMs ?? 15_000)
    );
  }

  private admitOffline(reservationId: string, micros: Micros, minMicros: Micros): TeamDecision {
    const decision = this.allowance.admit(reservationId, micros, minMicros);
    this.changed.fire();
    return decision.ok
      ? { ok: true, mode: 'offline', micros: decision.micros, allowanceLeft: this.allowance.left() }
      : { ok: false, mode: 'offline', message: decision.message };
  }
}
