import type { Admission, AdmitRequest, BudgetEngine } from '../budget/engine';
import type { LedgerEntry, StoreRecord } from '../store/records';
import type { TokenUsage } from '../usage';
import { failedCallCharge, type CallFailure } from './failure';

// PROVISIONAL (the proxy's branch): the agreed interface of the metered-call seam, implemented in the fewest lines so
// the proxy runs; issue 18's implementation replaces this file at merge.

export interface MeteredCall {
  /** The admission: model to call (maybe degraded), the max-output clamp, warnings, the reservation, the price. */
  readonly admission: Admission;
  /** Ends the call with the provider's usage (undefined usage: charged as estimated). Exactly once. */
  settle(
    result: { usage?: TokenUsage; requestId?: string | null; latencyMs?: number | null },
    alsoCommit?: readonly StoreRecord[],
  ): Promise<LedgerEntry>;
  /** Ends a failed call by failedCallCharge: exact, estimated, or released (undefined). Exactly once. */
  fail(failure: CallFailure, alsoCommit?: readonly StoreRecord[]): Promise<LedgerEntry | undefined>;
}

export class Meter {
  constructor(private readonly engine: BudgetEngine) {}

  /** Sizes the prompt, admits and reserves durably with `alsoCommit`. Throws BudgetBlockedError when the budget says no. */
  async begin(request: AdmitRequest, alsoCommit: readonly StoreRecord[] = []): Promise<MeteredCall> {
    const engine = this.engine;
    const admission = await engine.admit(request, alsoCommit);
    let ended = false;
    const end = () => {
      if (ended) throw new Error('A metered call was ended twice (a programming error); it was charged once.');
      ended = true;
    };
    return {
      admission,
      async settle(result, also = []) {
        end();
        return engine.settle(
          admission,
          { usage: result.usage, requestId: result.requestId, latencyMs: result.latencyMs },
          also,
        );
      },
      async fail(failure, also = []) {
        end();
        const charge = failedCallCharge(failure);
        if (charge.kind === 'release') {
          await engine.release(admission);
          return undefined;
        }
        const usage = charge.kind === 'exact' ? charge.usage : undefined;
        return engine.settle(admission, { usage, requestId: failure.requestId ?? null }, also);
      },
    };
  }
}
