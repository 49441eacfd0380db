import type { CutEstimate } from '../metering/failure';
import type { Micros } from '../money';
import { priceWith } from '../pricing/cost';
import { newId } from '../processIdentity';
import type { LedgerEntry, Reservation } from '../store/records';
import type { TokenUsage } from '../usage';
import type { AdmissionDecision } from './admission';
import type { Admission, AdmitRequest, SettleInput } from './types';

/**
 * Every row the budget writes is built here: the reservation an admission holds, the ledger entry that settles
 * it (exact, or the reservation as estimated), a fixed tool charge, and the estimated charge of a reservation whose
 * process died.
 */

/** The reservation holding a granted call's worst case in every scope it counts against. */
export function reservationFor(
  req: AdmitRequest,
  decision: AdmissionDecision,
  at: { ts: number; owner: string },
): Reservation {
  return {
    id: newId(at.ts),
    ts: at.ts,
    owner: at.owner,
    runId: req.runId,
    taskId: req.taskId,
    task: req.task,
    workflow: req.workflow,
    provider: req.provider,
    model: decision.model,
    micros: decision.micros,
    tokens: decision.tokens,
    inputTokens: req.inputTokens,
    outputTokens: decision.maxOutputTokens,
    scopes: decision.scopes.map((s) => s.key),
    variant: req.promptVersion === undefined ? null : `${decision.model}@${req.promptVersion}`,
    ...(req.client === undefined ? {} : { client: req.client }),
  };
}

/**
 * The ledger entry settling `admission` with what the provider reported — or, when nothing was (the stream died
 * first), the whole reservation marked estimated, so the ledger never under-counts.
 */
export function entryFor(admission: Admission, input: SettleInput, now: number): LedgerEntry {
  const r = admission.reservation;
  const estimated = input.usage === undefined;
  const usage = input.usage ?? (input.cut ? cutUsage(r, input.cut) : reservedUsage(r));
  // An estimate never charges more than the reservation held (the worst case the budget admitted).
  const estimatedMicros = input.cut ? Math.min(r.micros, priceWith(admission.price, usage).costMicros) : r.micros;
  const entry = fromReservation(r, {
    id: newId(now),
    ts: now,
    tool: input.tool ?? null,
    variant: input.variant ?? r.variant ?? null,
    usage,
    costMicros: estimated ? estimatedMicros : priceWith(admission.price, usage).costMicros,
    estimated,
    requestId: input.requestId ?? null,
    latencyMs: input.latencyMs ?? null,
  });
  // The honest estimate shown to people (estimate vs actual), not the bound the reservation held.
  entry.estimatedInputTokens = admission.promptEstimate;
  if (admission.price.origin !== 'table') entry.priceSource = admission.price.origin;
  return entry;
}

/**
 * The charge for a call whose usage never arrived and whose process is gone: the whole reservation (worst-case
 * input and output), marked estimated. Its id derives from the reservation, so two processes recovering the same
 * one record it once.
 */
export function estimatedEntry(r: Reservation, ts: number): LedgerEntry {
  return fromReservation(r, {
    id: `est-${r.id}`,
    ts,
    tool: null,
    variant: r.variant ?? null,
    usage: reservedUsage(r),
    costMicros: r.micros,
    estimated: true,
    requestId: null,
    latencyMs: null,
  });
}

/** A fixed tool cost (policy `tools.costsUsd`): a ledger row of its own, with no reservation behind it. */
export function toolChargeEntry(
  args: { workflow: string; runId: string | null; taskId: string | null; task: string | null; tool: string },
  micros: Micros,
  now: number,
): LedgerEntry {
  return {
    id: newId(now),
    ts: now,
    provider: 'tool',
    model: args.tool,
    workflow: args.workflow,
    runId: args.runId,
    taskId: args.taskId,
    task: args.task,
    tool: args.tool,
    variant: null,
    usage: usageOf(0, 0),
    costMicros: micros,
    estimated: false,
    requestId: null,
    latencyMs: null,
    reservationId: null,
    reservedMicros: null,
    estimatedInputTokens: null,
  };
}

/** What a reservation held, as usage: its worst-case prompt and output. */
function reservedUsage(r: Reservation): TokenUsage {
  return usageOf(r.inputTokens, r.outputTokens);
}

function usageOf(input: number, output: number, cacheRead = 0, cacheWrite5m = 0, cacheWrite1h = 0): TokenUsage {
  return { input, output, cacheRead, cacheWrite5m, cacheWrite1h, reasoning: 0 };
}

/**
 * A cut call's estimated usage: the prompt as the provider counted it (else the reservation's prompt count) and the
 * output streamed plus its margin, never more output than the call was allowed.
 */
function cutUsage(r: Reservation, cut: CutEstimate): TokenUsage {
  const output = Math.min(cut.output, r.outputTokens);
  const p = cut.prompt;
  return p ? usageOf(p.input, output, p.cacheRead, p.cacheWrite5m, p.cacheWrite1h) : usageOf(r.inputTokens, output);
}

/**
 * A settling entry: the fields it takes from its reservation (who called what, and what was held) and `own`.
 * Built field by field: object spread costs microseconds a call on Node 20's V8, and this is every call's path.
 */
function fromReservation(
  r: Reservation,
  own: Pick<
    LedgerEntry,
    'id' | 'ts' | 'tool' | 'variant' | 'usage' | 'costMicros' | 'estimated' | 'requestId' | 'latencyMs'
  >,
): LedgerEntry {
  const entry: LedgerEntry = {
    id: own.id,
    ts: own.ts,
    provider: r.provider,
    model: r.model,
    workflow: r.workflow,
    runId: r.runId,
    taskId: r.taskId,
    task: r.task,
    tool: own.tool,
    variant: own.variant,
    usage: own.usage,
    costMicros: own.costMicros,
    estimated: own.estimated,
    requestId: own.requestId,
    latencyMs: own.latencyMs,
    reservationId: r.id,
    reservedMicros: r.micros,
    estimatedInputTokens: r.inputTokens,
    // The period the row counts in is the one its reservation was held in (a call in flight at midnight).
    heldAt: r.ts,
  };
  if (r.client !== undefined) entry.client = r.client;
  return entry;
}
