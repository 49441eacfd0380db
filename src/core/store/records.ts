import type { TokenUsage } from '../usage';

/**
 * Everything the store persists is one of these records. Each is appended to the journal as one line and applied
 * to the in-memory database; applying is idempotent and order-insensitive across processes (inserts keyed by id,
 * upserts that keep the highest `rev`, reservations that only move forward), so a record replayed twice or seen
 * late from another window changes nothing.
 */
export type StoreRecord =
  | LedgerRecord
  | RunRecord
  | TaskRecord
  | CheckpointRecord
  | ReserveRecord
  | SettleRecord
  | AlertRecord
  | ArchiveRecord
  | OutcomeRecord;

export type RunStatus =
  'pending' | 'running' | 'paused' | 'blocked' | 'interrupted' | 'completed' | 'failed' | 'cancelled';
export const RUN_STATUSES: readonly RunStatus[] = [
  'pending',
  'running',
  'paused',
  'blocked',
  'interrupted',
  'completed',
  'failed',
  'cancelled',
];

/** The client name of calls made by our own workflows (proxied calls carry their token's name). */
export const OWN_CLIENT = 'agent-budget';

/** One billed call (or one fixed tool charge) in the usage ledger. */
export interface LedgerEntry {
  id: string;
  /** Epoch ms when the call finished. */
  ts: number;
  /** `anthropic`, `openai`, `gemini`, or `tool` for fixed tool charges. */
  provider: string;
  model: string;
  workflow: string;
  runId: string | null;
  /** The task instance id. */
  taskId: string | null;
  /** The task's name within its workflow (the step id), the "task" dimension of breakdowns. */
  task: string | null;
  /** The tool this charge is for (fixed tool costs), or null for model calls. */
  tool: string | null;
  /** Model + prompt version, e.g. `claude-haiku-4-5@v2`, compared in reports. */
  variant: string | null;
  usage: TokenUsage;
  costMicros: number;
  /** True when the provider's usage never arrived and the reservation was charged instead. */
  estimated: boolean;
  requestId: string | null;
  latencyMs: number | null;
  reservationId: string | null;
  /** What was held before the call (worst case), for estimate-vs-actual. */
  reservedMicros: number | null;
  /** The pre-call estimate of prompt tokens, for estimate-vs-actual. */
  estimatedInputTokens: number | null;
  /**
   * Where the call's rates came from when not the built-in table: `policy` (budget.json `prices`), `genai-prices`
   * (the second source) or `local` (a model on the user's own loopback endpoint, $0). Absent or null: the table.
   */
  priceSource?: string | null;
  /**
   * Who made the call: a proxy token's name for calls through the budget proxy; absent (read as `agent-budget`) for
   * our own workflows and for rows written before clients existed.
   */
  client?: string;
  /**
   * Epoch ms when the reservation this row settles was held. The row counts in that period (its day key, the
   * engine's USD counters): a call in flight at midnight is charged to the day that admitted it. Absent on rows
   * without a reservation and on rows written before it existed (they count at `ts`).
   */
  heldAt?: number;
}

export interface LedgerRecord {
  k: 'ledger';
  entry: LedgerEntry;
}

/** A run (session): upserted whole; the highest `rev` wins. */
export interface RunState {
  id: string;
  workflow: string;
  status: RunStatus;
  title: string;
  createdAt: number;
  updatedAt: number;
  /** Monotonic revision (see `nextRev`); the store keeps the row with the highest one. */
  rev: number;
  /** The process that runs it (`host:pid:nonce`); used to tell an interrupted run from a live one. */
  owner: string;
  parentRunId: string | null;
  variant: string | null;
  /** Runner-owned details (input, model, outputs, error), opaque to the store. */
  data: unknown;
}

export interface RunRecord {
  k: 'run';
  run: RunState;
}

export interface TaskState {
  id: string;
  runId: string;
  /** Step id within the workflow. */
  name: string;
  parentTaskId: string | null;
  status: RunStatus;
  createdAt: number;
  updatedAt: number;
  rev: number;
  data: unknown;
}

export interface TaskRecord {
  k: 'task';
  task: TaskState;
}

/** The durable state of a run after a step or tool call; only the highest `seq` per run is kept. */
export interface Checkpoint {
  runId: string;
  seq: number;
  ts: number;
  state: unknown;
}

export interface CheckpointRecord {
  k: 'checkpoint';
  checkpoint: Checkpoint;
}

/** A worst-case hold against budget scopes, taken before a call and closed by a settle record. */
export interface Reservation {
  id: string;
  ts: number;
  owner: string;
  runId: string | null;
  taskId: string | null;
  /** The task's name (step id), for the estimated charge's breakdown if the call never settles. */
  task: string | null;
  workflow: string;
  provider: string;
  model: string;
  micros: number;
  /** Worst-case tokens held: `inputTokens + outputTokens`. */
  tokens: number;
  /** The estimated prompt tokens and the output clamp (`max_tokens`) the call was admitted with. */
  inputTokens: number;
  outputTokens: number;
  /** Scope-period keys it holds, e.g. `workspace.daily@2026-11-22`, `task@<taskId>`. */
  scopes: string[];
  /** The call's variant (`model@promptVersion`), carried into the estimated charge of a call that never settles. */
  variant?: string | null;
  /** Who made the call (a proxy token's name), carried into the estimated charge of a call that never settles. */
  client?: string;
}

export interface ReserveRecord {
  k: 'reserve';
  reservation: Reservation;
}

/** Closes a reservation: with a ledger entry when it was spent (settled), without when it was released. */
export interface SettleRecord {
  k: 'settle';
  reservationId: string;
  ts: number;
  entry: LedgerEntry | null;
}

/** A threshold alert that fired, so it fires once per scope and period across all windows. */
export interface AlertRecord {
  k: 'alert';
  scope: string;
  periodKey: string;
  pct: number;
  ts: number;
}

/** Retention: raw ledger rows older than `beforeTs` were copied to `archive/` and leave the database; rollups keep their totals. */
export interface ArchiveRecord {
  k: 'archive';
  beforeTs: number;
  ts: number;
}

/** The user's verdict on a finished run's result, for the acceptance rate of variants. */
export type RunResult = 'accepted' | 'rejected';
export const RUN_RESULTS: readonly RunResult[] = ['accepted', 'rejected'];

/**
 * A run's result marked accepted or rejected (`agent-budget mark`, "Mark Run Result…"). The latest mark wins;
 * marks are compared by (ts, result), so replaying them in any order ends in the same state.
 */
export interface OutcomeRecord {
  k: 'outcome';
  runId: string;
  result: RunResult;
  ts: number;
}
