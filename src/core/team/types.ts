import type { Micros } from '../money';
import type { Period } from '../policy/periods';
import type { TokenUsage } from '../usage';

/**
 * The team ledger's port: what admission, the outbox and the views need from the shared ledger, and nothing about
 * how it is stored (PostgresTeamLedger implements it; OfflineAllowance stands in while it is unreachable).
 *
 * Money is integer micro-dollars. Period keys are those of policy/periods.ts in the team's time zone.
 */
export interface TeamLedger {
  /**
   * Holds `micros` on every team scope of the member (team and member × daily, weekly, monthly) only if each capped
   * one stays within its cap; one round trip, answered once the hold survives a server crash. The hold lasts
   * `leaseMs` in server time unless renewed.
   * Throws TeamLedgerUnreachableError when the server cannot be reached (the caller falls back to its allowance).
   */
  admit(request: TeamAdmitRequest): Promise<TeamAdmitResult>;
  /**
   * Replaces the reservation's hold with the call's actual cost, at once for every machine, without waiting for the
   * disk: a server crash before the next `confirm` or `ship` may undo it (the hold comes back). So the row stays
   * pending in the outbox until the drain that follows confirms it (or ships it again).
   */
  settle(reservationId: string, row: TeamLedgerRow): Promise<TeamShipResult>;
  /**
   * Which of these row ids the ledger has, answered once they survive a server crash (the drain's check on rows
   * settled online: those it has may be marked shipped without shipping them again; the others were lost).
   */
  confirm(rowIds: readonly string[]): Promise<string[]>;
  /** Frees the holds of reservations whose calls were never billed. */
  release(reservationIds: readonly string[]): Promise<void>;
  /** Extends the leases of calls in flight; returns which were still live (the others already expired). */
  renew(reservationIds: readonly string[], leaseMs?: number): Promise<TeamRenewResult>;
  /**
   * Inserts ledger rows idempotently (by row id): a row shipped twice is counted once. Durable: when it returns, the
   * rows (new or already there) survive a server crash, so the outbox may mark them shipped.
   */
  ship(rows: readonly TeamLedgerRow[]): Promise<TeamShipResult>;
  /** The member's team scopes now, with the caps the caller's policy sets. */
  status(request: TeamStatusRequest): Promise<TeamScopeUse[]>;
  /** Team spend in [fromMs, toMs) broken down by member, workflow, model and client. */
  report(range: { fromMs: number; toMs: number }): Promise<TeamReport>;
  close(): Promise<void>;
}

/** Caps of one kind of team scope in µ$; undefined = no cap in that period. */
export type TeamCaps = Partial<Record<Period, Micros>>;

export interface TeamAdmitRequest {
  /** The local reservation's id: a retried admit with the same id does not hold twice. */
  reservationId: string;
  member: string;
  /** Which machine or workspace holds it (shown to whoever wonders who holds the budget). */
  machine: string;
  /** The worst case the call may cost: what is held when every capped scope has room for it. */
  micros: Micros;
  /**
   * The least worth holding (default: `micros`). When a capped scope has less room than `micros`, the ledger holds
   * what is left if that is at least this much, and the caller clamps the call's output to the hold — the engine's
   * clamp, done by the server in the same round trip.
   */
  minMicros?: Micros;
  /** Instant of the call (client clock) that picks the periods. */
  at: number;
  team: TeamCaps;
  /** The member's caps (their tier's). */
  memberCaps: TeamCaps;
  /** The member's tier, which names their scopes (`team.member.<tier>.daily`). */
  tier?: string;
  /** Default: the ledger's lease. */
  leaseMs?: number;
}

export type TeamAdmitResult =
  | {
      ok: true;
      /** What is held for the call: `micros`, or less (down to `minMicros`) when a cap left less room. */
      micros: Micros;
      scopes: TeamScopeUse[];
      /** Server time the lease ends, ms since the epoch. */
      expiresAt: number;
    }
  | {
      ok: false;
      /** The capped scope with the least room: the one the call does not fit. */
      blocked: TeamScopeUse;
      scopes: TeamScopeUse[];
    };

/** A team scope's use, as status and the meter show it. */
export interface TeamScopeUse {
  /** The name status and the meter use: `team.daily`, `team.member.senior.monthly` (the member's own, by tier). */
  scope: TeamScopeName;
  /** The counter key: `team.daily@2026-11-22`, `team.member.ana@x.dev.monthly@2026-11`. */
  key: string;
  period: Period;
  used: Micros;
  /** Live holds (calls in flight on every machine), this call's included once admitted. */
  held: Micros;
  limit: Micros | undefined;
  /** When the period ends (the team's zone). */
  resetsAt: number;
}

/**
 * `team.daily|weekly|monthly`, and the member's own by their tier (`team.member.senior.daily`, docs/cli.md); a member
 * with no tier has no cap of their own, and their scopes read `team.member.daily`.
 */
export type TeamScopeName = `team.${Period}` | `team.member.${string}`;

export interface TeamStatusRequest {
  member: string;
  at: number;
  team: TeamCaps;
  memberCaps: TeamCaps;
  tier?: string;
}

/**
 * One billed call as the team ledger keeps it: a local ledger entry plus who and where. `id` is the local record's
 * id (the idempotency key); `ts` picks the periods its cost is filed under, as in the local rollups.
 */
export interface TeamLedgerRow {
  id: string;
  reservationId: string | null;
  member: string;
  machine: string;
  ts: number;
  workflow: string;
  provider: string;
  model: string;
  /** `agent-budget` for our own workflows; a proxy client's name otherwise. */
  client: string;
  runId: string | null;
  task: string | null;
  costMicros: Micros;
  estimated: boolean;
  usage: TokenUsage;
}

export interface TeamShipResult {
  /** Rows new to the ledger, now counted. */
  counted: number;
  /** Rows it already had (replays): not counted again. */
  duplicates: number;
  /** Ids it already had with another member or cost: two records with one id, counted once, to report. */
  conflicts: string[];
}

export interface TeamRenewResult {
  renewed: string[];
  /** Holds that had already expired (and may have been given away): the call's cost still ships when it settles. */
  expired: string[];
}

export interface TeamSpendRow {
  key: string;
  costMicros: Micros;
  /** The part charged from reservations because the provider's usage never arrived. */
  estimatedMicros: Micros;
  calls: number;
  tokens: number;
}

export interface TeamReport {
  fromMs: number;
  toMs: number;
  total: Omit<TeamSpendRow, 'key'>;
  byMember: TeamSpendRow[];
  byWorkflow: TeamSpendRow[];
  byModel: TeamSpendRow[];
  byClient: TeamSpendRow[];
}
