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
 * The one way a paid call is metered (AGENTS.md, "How the code is written"): `begin` sizes the prompt, admits and
 * reserves the worst case durably — with `alsoCommit`, the caller's checkpoint marking the call in flight, in the
 * same write — and the call then ends exactly once. A call that never ends (the process died) keeps its reservation
 * open, and the store's recovery charges it as estimated once the process is gone. The runner and the proxy both
 * meter through this.
 */
export class Meter {
  constructor(private readonly engine: BudgetEngine) {}

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
    return new OpenCall(this.engine, admission);
  }
}

class OpenCall implements MeteredCall {
  private ended: 'settled' | 'failed' | undefined;

  constructor(
    private readonly engine: BudgetEngine,
    readonly admission: Admission,
  ) {}

  async settle(result: CallResult, alsoCommit: readonly StoreRecord[] = []): Promise<LedgerEntry> {
    this.end('settled');
    return this.engine.settle(
      this.admission,
      { usage: result.usage, requestId: result.requestId ?? null, latencyMs: result.latencyMs ?? null },
      alsoCommit,
    );
  }

  async fail(failure: CallFailure, alsoCommit: readonly StoreRecord[] = []): Promise<LedgerEntry | undefined> {
    this.end('failed');
    const charge = failedCallCharge(failure);
    if (charge.kind === 'release') {
      await this.engine.release(this.admission, alsoCommit);
      return undefined;
    }
    const requestId = failure.requestId ?? null;
    if (charge.kind === 'exact')
      return this.engine.settle(this.admission, { usage: charge.usage, requestId }, alsoCommit);
    return this.engine.settle(this.admission, { cut: charge.cut, requestId }, alsoCommit);
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
