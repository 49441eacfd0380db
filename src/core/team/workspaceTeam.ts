import { hostname } from 'node:os';
import path from 'node:path';
import type { Clock } from '../clock';
import { Emitter } from '../events';
import type { Micros } from '../money';
import type { BudgetPolicy } from '../policy/types';
import type { WorkspaceStore } from '../store/store';
import type { TeamConnection } from './env';
import { TeamMeterGate } from './meterGate';
import { DEFAULT_OFFLINE_CAP_MICROS, DEFAULT_OFFLINE_SHARE, OfflineAllowance, type OfflineSnapshot } from './offline';
import { PostgresTeamLedger, type PgDriver } from './postgresLedger';
import { resolveTeamCaps, teamTimeZone, type ResolvedTeamCaps, type TeamPolicy } from './scopes';
import { StoreOutbox } from './storeOutbox';
import { TeamBudget } from './teamBudget';
import type { TeamReport, TeamScopeUse } from './types';

export interface WorkspaceTeamOptions {
  connection: TeamConnection;
  store: WorkspaceStore;
  folder: string;
  policy: BudgetPolicy;
  /** budget.json's own `timeZone` (team periods are the committed zone, else UTC: never user.json's or the machine's). */
  committedTimeZone: string | undefined;
  clock: Clock;
  log?: (line: string) => void;
  /** Tests: a shorter lease, a driver. */
  leaseMs?: number;
  connectTimeoutMs?: number;
  driver?: PgDriver;
  /** Which machine holds the budget, as the ledger shows it (default `<host>/<workspace folder name>`). */
  machine?: string;
}

/** What `status`, the meter and the panel show of the team: who, which tier, the scopes or why there are none. */
export interface TeamStatus {
  member: string;
  tier: string | undefined;
  /** Read from the ledger now; undefined while it is unreachable. */
  scopes: TeamScopeUse[] | undefined;
  /** `team ledger offline — $0.40 offline allowance left` while unreachable. */
  offlineLine: string | undefined;
}

/**
 * An outage spans processes (a CLI run each): what earlier processes spent offline since the ledger was last reached
 * comes off this one's allowance, so the outage's allowance is min(share × remaining, cap) once, not per process.
 */
function continuedAllowance(lastSeen: OfflineSnapshot | undefined, spent: Micros): OfflineAllowance {
  if (spent === 0 || !lastSeen) return new OfflineAllowance({}, lastSeen);
  const remaining =
    lastSeen.remainingMicros === null
      ? null
      : Math.max(0, lastSeen.remainingMicros - Math.ceil(spent / DEFAULT_OFFLINE_SHARE));
  return new OfflineAllowance(
    { capMicros: Math.max(0, DEFAULT_OFFLINE_CAP_MICROS - spent) },
    { remainingMicros: remaining },
  );
}

/** The team policy of the merged policy (teamPolicy.ts), in the committed zone. */
export function teamPolicyOf(policy: BudgetPolicy, committedTimeZone: string | undefined): TeamPolicy {
  return {
    limits: policy.limits.team,
    tiers: policy.team?.tiers,
    members: policy.team?.members,
    timeZone: committedTimeZone,
  };
}

/**
 * One workspace's membership in a team ledger: the PostgreSQL ledger, the TeamBudget deciding online or offline,
 * the store's outbox, and the Meter's gate. The outbox is flushed behind every settle (one at a time) and at close;
 * holds of calls in flight are renewed every third of the lease. Owned by the Workspace: `close()` ends it.
 */
export class WorkspaceTeam {
  readonly budget: TeamBudget;
  readonly gate: TeamMeterGate;
  readonly member: string;
  private readonly ledger: PostgresTeamLedger;
  private readonly outbox: StoreOutbox;
  private readonly allowance: OfflineAllowance;
  private caps: ResolvedTeamCaps;
  private readonly zone: string;
  private readonly clock: Clock;
  private lastRead: { scopes: TeamScopeUse[]; at: number } | undefined;
  /** Why the ledger refused the last reading (a wrong password, a missing database), until one succeeds. */
  problem: string | undefined;
  private offlineSpent: Micros;
  /** This process reached the ledger: the allowance's reading is its own (else the saved one is kept as it was). */
  private sawLedger = false;
  private readonly lastSeen: OfflineSnapshot | undefined;
  private flushing: Promise<void> | undefined;
  private flushAgain = false;
  private readonly renewal: ReturnType<typeof setInterval>;
  private readonly log: (line: string) => void;
  private readonly changed = new Emitter<void>();
  /** Online/offline, the allowance or the team's scopes may have moved: the meter redraws. */
  readonly onDidChange = this.changed.event;
  private readonly subscriptions: Array<{ dispose(): void }> = [];

  constructor(options: WorkspaceTeamOptions) {
    this.log = options.log ?? (() => undefined);
    this.clock = options.clock;
    this.member = options.connection.member;
    const machine = options.machine ?? `${hostname()}/${path.basename(options.folder)}`;
    const identity = { member: this.member, machine };
    const policy = teamPolicyOf(options.policy, options.committedTimeZone);
    this.caps = resolveTeamCaps(policy, this.member);
    this.zone = teamTimeZone(policy);
    this.ledger = new PostgresTeamLedger({
      url: options.connection.url,
      timeZone: this.zone,
      leaseMs: options.leaseMs,
      connectTimeoutMs: options.connectTimeoutMs,
      driver: options.driver,
    });
    this.outbox = new StoreOutbox(options.store, identity, options.clock.now(), this.log);
    this.offlineSpent = this.outbox.offlineSpent;
    this.lastSeen = this.outbox.lastSeen;
    this.allowance = continuedAllowance(this.lastSeen, this.offlineSpent);
    this.budget = new TeamBudget({
      ledger: this.ledger,
      outbox: this.outbox,
      member: this.member,
      machine,
      caps: this.caps,
      clock: options.clock,
      allowance: this.allowance,
    });
    this.gate = new TeamMeterGate(this.budget, identity, {
      online: (scopes) => {
        this.sawLedger = true;
        if (scopes.length) this.seen(scopes);
      },
      settled: (entry, offline) => {
        if (offline) this.offlineSpent += entry.costMicros;
        this.flushSoon();
      },
      log: this.log,
    });
    this.subscriptions.push(
      this.budget.onDidChange(() => this.changed.fire()),
      this.budget.onDidReconcile((r) => {
        this.offlineSpent = 0;
        this.sawLedger = true;
        this.log(
          `The team ledger is back: ${r.shipped} row(s) shipped from the outbox, ${r.counted} new` +
            (r.overshoot.length
              ? `; the outage took ${r.overshoot.map((o) => `${o.scope} ${(o.overMicros / 1e6).toFixed(2)} USD`).join(', ')} past the cap.`
              : '.'),
        );
      }),
    );
    const lease = this.ledger.leaseMs;
    this.renewal = setInterval(
      () => void this.budget.renewInFlight().catch(() => undefined),
      Math.max(1_000, lease / 3),
    );
    this.renewal.unref?.();
  }

  /** The member's team scopes as last read from the ledger (by a status or an admission), with when. */
  get latest(): { scopes: TeamScopeUse[]; at: number } | undefined {
    return this.lastRead;
  }

  private seen(scopes: TeamScopeUse[]): void {
    this.lastRead = { scopes, at: this.clock.now() };
    this.changed.fire();
  }

  /** The team's period zone (budget.json's `timeZone`, else UTC). */
  get timeZone(): string {
    return this.zone;
  }

  get tier(): string | undefined {
    return this.caps.tier;
  }

  get offlineLine(): string | undefined {
    return this.budget.meterLine();
  }

  /**
   * budget.json or user.json changed: the new caps apply from the next admission. False when the team's zone
   * changed, which this ledger cannot follow (the Workspace then makes a new one).
   */
  setPolicy(policy: BudgetPolicy, committedTimeZone: string | undefined): boolean {
    const team = teamPolicyOf(policy, committedTimeZone);
    if (teamTimeZone(team) !== this.zone) return false;
    this.caps = resolveTeamCaps(team, this.member);
    this.budget.setCaps(this.caps);
    this.changed.fire();
    return true;
  }

  /** The member's team scopes now, after shipping the outbox (or trying the ledger again when it was offline). */
  async status(): Promise<TeamStatus> {
    await this.flush();
    let scopes: TeamScopeUse[] | undefined;
    try {
      scopes = await this.budget.status();
      this.problem = undefined;
    } catch (err) {
      // Not a network cut (that is the offline allowance's): the ledger refuses us. Said until it works again.
      this.problem = (err as Error).message;
      this.changed.fire();
      throw err;
    }
    if (scopes) {
      this.sawLedger = true;
      this.seen(scopes);
    }
    return { member: this.member, tier: this.caps.tier, scopes, offlineLine: this.budget.meterLine() };
  }

  /** Team spend in [fromMs, toMs) by member, workflow, model and client (throws when the ledger is unreachable). */
  async report(range: { fromMs: number; toMs: number }): Promise<TeamReport> {
    await this.budget.flush();
    return this.ledger.report(range);
  }

  /** Ships what the outbox holds now (after this process's settles). */
  async flush(): Promise<void> {
    this.flushSoon();
    while (this.flushing) await this.flushing;
  }

  /** Ships the outbox, keeps the allowance's reading for the next process, and closes the connection. */
  async close(): Promise<void> {
    clearInterval(this.renewal);
    try {
      await this.flush();
    } finally {
      try {
        const reading = this.sawLedger || !this.lastSeen ? this.allowance.snapshot() : this.lastSeen;
        this.outbox.saveAllowance(reading, this.offlineSpent);
      } catch (err) {
        this.log(`The team outbox's cursor could not be saved (${(err as Error).message}).`);
      }
      for (const s of this.subscriptions) s.dispose();
      this.budget.dispose();
      this.changed.dispose();
      await this.ledger.close();
    }
  }

  /** One flush at a time; a settle during a flush asks for one more after it. */
  private flushSoon(): void {
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    this.flushing = (async () => {
      do {
        this.flushAgain = false;
        try {
          if (this.budget.offline) await this.budget.reconnect();
          else if (await this.budget.flush()) {
            // The outbox reached the ledger: whatever an earlier process spent offline is counted there now.
            this.offlineSpent = 0;
          }
        } catch (err) {
          this.log(`The team outbox could not ship (${(err as Error).message}); it tries again after the next call.`);
          break;
        }
      } while (this.flushAgain);
    })().finally(() => (this.flushing = undefined));
  }
}
