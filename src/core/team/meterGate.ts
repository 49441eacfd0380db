import { worstCaseMicros, worstRates } from '../budget/admission';
import { BudgetBlockedError, type Admission, type AdmitRequest } from '../budget/types';
import type { TeamGate } from '../metering/meter';
import type { Micros } from '../money';
import type { LedgerEntry } from '../store/records';
import { teamRowOf } from './storeOutbox';
import type { TeamBudget, TeamDecision } from './teamBudget';
import type { TeamScopeUse } from './types';

/** The fewest output tokens worth a call, as the local admission's default (AdmitRequest.minOutputTokens). */
const MIN_OUTPUT_TOKENS = 16;

/**
 * The Meter's team gate over a TeamBudget: the call's worst case (as the local admission priced it) is held on the
 * team ledger — or on the offline allowance — after the local reservation is durable. Where the team holds less,
 * the call's output is clamped to what is held, as the local caps clamp it; where it holds nothing worth a call,
 * the call is blocked with the team scope's name. Settling is best-effort: the row is already in the local store,
 * and the outbox ships it whatever happens here.
 */
export class TeamMeterGate implements TeamGate {
  constructor(
    private readonly budget: TeamBudget,
    private readonly identity: { member: string; machine: string },
    private readonly hooks: {
      /** An admission was decided by the ledger itself (not the offline allowance), which read these scopes. */
      online?: (scopes: TeamScopeUse[]) => void;
      /** A settle landed (the workspace's team flushes the outbox behind it). */
      settled?: (entry: LedgerEntry, offline: boolean) => void;
      log?: (line: string) => void;
    } = {},
  ) {}

  async admit(admission: Admission, request: AdmitRequest): Promise<Admission> {
    const r = admission.reservation;
    const rates = worstRates(admission.price, { inputTokens: r.inputTokens, promptCaching: request.promptCaching });
    const minOut = Math.min(request.minOutputTokens ?? MIN_OUTPUT_TOKENS, admission.maxOutputTokens);
    const minMicros = Math.min(r.micros, worstCaseMicros(rates, r.inputTokens, minOut));
    const decision = await this.budget.admit(r.id, r.micros, minMicros, r.ts);
    if (decision.mode === 'online') this.hooks.online?.(decision.ok ? decision.scopes : []);
    if (!decision.ok) throw blocked(decision);
    if (decision.micros >= r.micros) return admission;
    // In 10⁻⁶ µ$, like the local clamp: what is held, minus the prompt at its worst rate, buys this much output.
    const left = BigInt(decision.micros) * 1_000_000n - BigInt(r.inputTokens) * rates.promptUnits;
    const affordable = rates.outputUnits > 0n ? Number(left > 0n ? left / rates.outputUnits : 0n) : Infinity;
    if (affordable >= admission.maxOutputTokens) return admission;
    return {
      ...admission,
      maxOutputTokens: Math.max(0, Math.floor(affordable)),
      clampedBy: decision.mode === 'online' ? tightest(decision) : 'team.offline',
    };
  }

  async settle(admission: Admission, entry: LedgerEntry): Promise<void> {
    try {
      await this.budget.settle(admission.reservation.id, teamRowOf(entry, this.identity));
    } catch (err) {
      this.hooks.log?.(
        `The team ledger did not take the settle of ${entry.id} (${(err as Error).message}); the outbox ships it.`,
      );
    }
    this.hooks.settled?.(entry, this.budget.offline);
  }

  async release(admission: Admission): Promise<void> {
    try {
      await this.budget.release(admission.reservation.id);
    } catch (err) {
      this.hooks.log?.(
        `The team hold of ${admission.reservation.id} was not released (${(err as Error).message}); its lease ends it.`,
      );
    }
  }
}

function blocked(decision: Extract<TeamDecision, { ok: false }>): BudgetBlockedError {
  if (decision.mode === 'online')
    return new BudgetBlockedError(decision.message, decision.blocked.scope, decision.blocked.resetsAt);
  return new BudgetBlockedError(decision.message, 'team.offline');
}

/** The capped team scope with the least room: what clamped the call. */
function tightest(decision: Extract<TeamDecision, { ok: true; mode: 'online' }>): string {
  let scope = 'team';
  let least: Micros = Infinity;
  for (const s of decision.scopes) {
    if (s.limit === undefined) continue;
    const room = s.limit - s.used - s.held;
    if (room < least) [least, scope] = [room, s.scope];
  }
  return scope;
}
