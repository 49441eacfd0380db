import type { Admission, AdmitRequest, BudgetEngine } from '../budget/engine';
import { AgentBudgetError } from '../errors';
import type { LedgerEntry, StoreRecord } from '../store/records';
import type { TokenUsage } from '../usage';
import { failedCallCharge, type CallFailure } from './failure';

/** What a call that finished reports: the provider's usage (undefined: charged as estimated), id and latency. */
export interface CallResult {
  usage?: TokenUsage;
  requestId?: string | null;
  latencyMs?: number | null;
}

/** A paid call between its admission and its end. It ends exactly once, by `settle` or by `fail`. */
export interface MeteredCall {
  /** The admission: model to call (maybe degraded), the max-output clamp, warnings, the reservation, the price. */
  readonly admission: Admission;
  /**
   * Ends the call with the provider's usage (undefined usage: charged as estimated). `alsoCommit` (the caller's
   * checkpoint holding the answer) lands in the same durable write as the ledger row. Exactly once.
   */
  settle(result: CallResult, alsoCommit?: readonly StoreRecord[]): Promise<LedgerEntry>;
  /**
   * Ends a failed call by `failedCallCharge`: exact, estimated, or released. Exactly once. Returns the ledger row,
   * or undefined when released.
   */
  fail(failure: CallFailure, alsoCommit?: readonly StoreRecord[]): Promise<LedgerEntry | undefined>;
}

/**
 * The team ledger's side of a call (src/core/team/meterGate.ts implements it), asked after the local admission
 * succeeded: the local store stays the first place every record lands, the team ledger is asked second.
 */
export interface TeamGate {
  /**
   * Holds the call's worst case on the team scopes. Returns the admission to use: the same, or with its output
   * clamped to what the team ledger could hold. Throws BudgetBlockedError naming the team scope that is short.
   */
  admit(admission: Admission, request: AdmitRequest): Promise<Admission>;
  /** The call was billed (its ledger row is in the local store): the team hold becomes its cost. Never throws. */
  settle(admission: Admission, entry: LedgerEntry): Promise<void>;
  /** The call was never billed: frees the team hold. Never throws. */
  release(admission: Admission): Promise<void>;
}

/**
 * The one way a paid call is metered (AGENTS.md, "How the code is written"): `begin` sizes the prompt, admits and
 * reserves the worst case durably — with `alsoCommit`, the caller's checkpoint marking the call in flight, in the
 * same write — and the call then ends exactly once. A call that never ends (the process died) keeps its reservation
 * open, and the store's recovery charges it as estimated once the process is gone. The runner and the proxy both
 * meter through this.
 */
export class Meter {
  constructor(
    private readonly engine: BudgetEngine,
    /**
     * The team ledger, when one is configured (asked per call: the user may set or change it while a window is
     * open): asked after the local admission, settled after the local row.
     */
    private readonly teamGate: () => TeamGate | undefined = () => undefined,
  ) {}

  /**
   * What the budget would decide for `request` now, reserving nothing (in memory, no write): the runner asks before
   * a call whether to compact first. Throws BudgetBlockedError as `begin` would.
   */
  preview(request: AdmitRequest): Admission {
    return this.engine.plan(request);
  }

  /** Throws BudgetBlockedError when the budget says no (then nothing, `alsoCommit` included, is written). */
  async begin(request: AdmitRequest, alsoCommit: readonly StoreRecord[] = []): Promise<MeteredCall> {
    const admission = await this.engine.admit(request, alsoCommit);
    const team = this.teamGate();
    if (!team) return new OpenCall(this.engine, admission);
    let admitted: Admission;
    try {
      admitted = await team.admit(admission, request);
    } catch (err) {
      // The team said no (or cannot be asked): the call is not made, so its local hold goes. Should that write fail,
      // the reservation stays open and is charged as estimated later — never lost, so the team's answer is thrown.
      await this.engine.release(admission).catch(() => undefined);
      throw err;
    }
    return new OpenCall(this.engine, admitted, team);
  }
}

class OpenCall implements MeteredCall {
  private ended: 'settled' | 'failed' | undefined;

  constructor(
    private readonly engine: BudgetEngine,
    readonly admission: Admission,
    private readonly team?: TeamGate,
  ) {}

  async settle(result: CallResult, alsoCommit: readonly StoreRecord[] = []): Promise<LedgerEntry> {
    this.end('settled');
    const entry = await this.engine.settle(
      this.admission,
      { usage: result.usage, requestId: result.requestId ?? null, latencyMs: result.latencyMs ?? null },
      alsoCommit,
    );
    await this.team?.settle(this.admission, entry);
    return entry;
  }

  async fail(failure: CallFailure, alsoCommit: readonly StoreRecord[] = []): Promise<LedgerEntry | undefined> {
    this.end('failed');
    const charge = failedCallCharge(failure);
    if (charge.kind === 'release') {
      await this.engine.release(this.admission, alsoCommit);
      await this.team?.release(this.admission);
      return undefined;
    }
    const requestId = failure.requestId ?? null;
    const input = charge.kind === 'exact' ? { usage: charge.usage, requestId } : { cut: charge.cut, requestId };
    const entry = await this.engine.settle(this.admission, input, alsoCommit);
    await this.team?.settle(this.admission, entry);
    return entry;
  }

  /**
   * Marks the call ended before anything is written, so a second end — even one racing the first's write — throws
   * instead of charging twice. A write that fails leaves the reservation open: it is charged as estimated later.
   */
  private end(how: 'settled' | 'failed'): void {
    if (this.ended) {
      throw new AgentBudgetError(
        'internal',
        `The call holding reservation ${this.admission.reservation.id} already ${this.ended}; it is charged once, so it cannot be ${how} again.`,
      );
    }
    this.ended = how;
  }
}
