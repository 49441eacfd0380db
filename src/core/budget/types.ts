import { AgentBudgetError } from '../errors';
import type { Period } from '../policy/periods';
import type { CutEstimate } from '../metering/failure';
import type { RuleAction } from '../policy/types';
import type { ResolvedPrice } from '../pricing/cost';
import type { Reservation } from '../store/records';
import type { ProviderId, TokenUsage } from '../usage';

/** The words of the budget engine: what is asked (AdmitRequest), what is counted (ScopeUse), what is granted. */

export type BudgetLevel = 'ok' | 'warn' | 'critical' | 'blocked';

/** A token scope a call counts against, with its limits. */
export interface TokenScopeSpec {
  /** `task@<taskId>`, `session@<runId>`, `pool@<poolId>`: the counter's identity. */
  key: string;
  /** The scope name rules and status use: `task`, `session`, or `pool`. */
  kind: 'task' | 'session' | 'pool';
  softTokens?: number;
  hardTokens?: number;
  /** Tokens already used in this scope before this process saw it (a resumed run): read once. */
  initialUsed?: () => number;
}

/**
 * A dollar scope of one task or run, or of one sub-agent pool (`task.usd@<taskId>`, `session.usd@<runId>`,
 * `pool.usd@<taskId>`): docs/policy.md "Dollar limits per run and per task", and a fan-out's `subAgents.budget.maxUsd`
 * (its shares and pools). Counted like the workspace's caps, in µ$, but its limits come with each request, like a
 * token scope.
 */
export interface SpendScopeSpec {
  key: string;
  /** The scope name rules, messages and status use. */
  kind: 'task.usd' | 'session.usd' | 'pool.usd';
  softMicros?: number;
  hardMicros?: number;
  /** µ$ already spent in this scope before this process saw it (a resumed run): read once. */
  initialUsed?: () => number;
}

/** What a call will likely use (an honest estimate, not a bound): soft limits warn on it, never on the worst case. */
export interface LikelyUse {
  /** The prompt estimate shown to people: the tokenizer's count, or the calibrated one (report/calibration.ts). */
  inputTokens: number;
  /** The answer's likely length (at most the clamp). */
  outputTokens: number;
}

/**
 * The prompt caching a request asks for, as its worst case must price it: `none` (the provider may still cache on
 * its own: OpenAI does, and bills a write at its write rate), `5m` or `1h` (Anthropic's cache life; a 1-hour request
 * may also write 5-minute entries).
 */
export type PromptCaching = 'none' | '5m' | '1h';

export interface AdmitRequest {
  workflow: string;
  runId: string | null;
  taskId: string | null;
  /** The task's name (step id), for the ledger. */
  task: string | null;
  provider: ProviderId;
  model: string;
  /**
   * Prompt tokens: an upper bound (`inputTokenBound`), or an exact count with its margin. The hard limits hold only
   * if the provider bills no more prompt than this.
   */
  inputTokens: number;
  /**
   * The provider's count (count-tokens endpoint or tokenizer, with margin), asked for only when `inputTokens` as
   * given would bind a limit or block: a bound's slack must not shorten an answer or stop a call near a limit.
   */
  exactInputTokens?: () => Promise<number>;
  /** The most output the step wants; the clamp never exceeds it. */
  maxOutputTokens?: number;
  /** Token scopes (task, parents, pools, session) with their limits. */
  tokenScopes: TokenScopeSpec[];
  /**
   * Dollar scopes of the task (its own first, then its parents' and their pools') and of the run, with their limits.
   */
  spendScopes?: SpendScopeSpec[];
  /** The honest estimate of the call (soft limits, the ledger's prompt estimate); default the sized prompt, no output. */
  likely?: LikelyUse;
  /** Where DEGRADE routes; undefined = none configured. */
  degradeModel?: string;
  /** The run's prompt version: the reservation records the variant `<model called>@<promptVersion>`. */
  promptVersion?: string;
  /** Prompt caching the request asks for: its writes bill above the input rate, so the worst case must use that rate. */
  promptCaching?: PromptCaching;
  /** Fewest output tokens worth a call (default 16); below this the call is blocked instead of starved. */
  minOutputTokens?: number;
  /** The call goes to a loopback endpoint the user chose: a model no price list knows is free there (pricing). */
  localEndpoint?: boolean;
  /** Who makes the call: a proxy token's name (absent: our own workflows, `agent-budget`). Filed on the ledger row. */
  client?: string;
  /**
   * The client's own caps (its proxy token's `dailyUsd` / `monthlyUsd`): the call also counts against
   * `client.<name>.daily` and `client.<name>.monthly`, reserved with every other scope in the same transaction.
   */
  clientCaps?: ClientCaps;
}

/** A proxy client's USD caps (undefined = no cap of its own; the workspace caps still apply). */
export interface ClientCaps {
  dailyUsd?: number;
  monthlyUsd?: number;
}

/** The periods a client scope has (a proxy token sets a daily and a monthly cap). */
export const CLIENT_PERIODS = ['daily', 'monthly'] as const satisfies readonly Period[];

export interface ScopeUse {
  /** Scope name as in rules and `agent-budget status` (`task`, `session`, `workspace.daily`, `workflow.x.monthly`). */
  scope: string;
  /** Counter key (`workspace.daily@2026-11-22`, `task@<id>`). */
  key: string;
  unit: 'usd' | 'tokens';
  used: number;
  reserved: number;
  limit: number | undefined;
  soft: number | undefined;
  /** When the period resets (USD scopes). */
  resetsAt?: number;
}

export interface Admission {
  reservation: Reservation;
  /** The model to call (the requested one, or the degrade model). */
  model: string;
  /** The clamp to send as max_tokens. */
  maxOutputTokens: number;
  /** The action the rules decided (never `block`: a block is an error; `compact` comes in `compact`). */
  action: Exclude<RuleAction, 'block' | 'compact'>;
  /** A rule asks to compact the task's conversation before this call: why. */
  compact?: string;
  /** The prompt estimate the ledger records (the likely prompt, else the sized one). */
  promptEstimate: number;
  /** Scopes whose soft limit this call will likely reach or has passed (`task`, `session.usd`, …). */
  softReached: string[];
  /** Human-readable notes: soft limits crossed, a degrade, a warn rule. */
  warnings: string[];
  /** What binds the clamp: `model`, `request`, or a scope name. */
  clampedBy: string;
  price: ResolvedPrice;
}

export interface SettleInput {
  /** The provider's reported usage; undefined when it never arrived (stream cut, abort, crash). */
  usage?: TokenUsage;
  /**
   * Without `usage`: the estimate of a call cut short (src/core/metering/failure.ts), charged instead of the whole
   * reservation — priced, capped at it, marked estimated.
   */
  cut?: CutEstimate;
  requestId?: string | null;
  latencyMs?: number | null;
  variant?: string | null;
  tool?: string | null;
}

/**
 * A decision other than a plain allow, as hooks follow it (src/core/hooks): a call that goes ahead with a warning
 * or on the degrade model, or one the budget refused.
 */
export interface BudgetDecision {
  action: 'warn' | 'degrade' | 'block';
  workflow: string;
  runId: string | null;
  /** The task's name (step id). */
  task: string | null;
  /** The model asked for (a degrade: the one called instead is in the messages). */
  model: string;
  /** What the budget said: the warnings, or the block's message. */
  messages: string[];
  /** The scope that blocked, or the call's tightest scope (most of its limit used or held); none for a bare rule. */
  scope?: ScopeUse;
  /** When a blocking period resets. */
  resetsAt?: number;
}

export interface BudgetAlert {
  scope: string;
  periodKey: string;
  pct: number;
  usedMicros: number;
  limitMicros: number;
}

/** Why the budget says no: the message, the scope that blocked, and when its period resets. */
export interface BlockedReason {
  message: string;
  /** The scope that blocked (`task`, `session`, `workspace.daily`, …), `rule`, or `policy`. */
  scope: string;
  resetsAt?: number;
}

/** A call the budget does not allow. The runner pauses the run as `blocked` with a checkpoint. */
export class BudgetBlockedError extends AgentBudgetError {
  override readonly name = 'BudgetBlockedError';
  constructor(
    message: string,
    /** The scope that blocked (`task`, `session`, `workspace.daily`, …) or `rule`. */
    readonly scope: string,
    /** When the blocking period resets, if it is a period scope. */
    readonly resetsAt?: number,
  ) {
    super('budget', message);
  }

  static of(reason: BlockedReason): BudgetBlockedError {
    return new BudgetBlockedError(reason.message, reason.scope, reason.resetsAt);
  }
}

/** A USD counter key or scope name (they share their prefix): the periods' caps, and task, pool and run dollars. */
export function isUsdKey(key: string): boolean {
  return key.startsWith('workspace.') || key.startsWith('workflow.') || key.startsWith('client.') || isSpendKey(key);
}

/**
 * A task's, sub-agent pool's or run's dollar scope: `task.usd`, `pool.usd`, `session.usd`, or one of their counter
 * keys (`task.usd@<id>`).
 */
export function isSpendKey(key: string): boolean {
  const dot = key.indexOf('.usd');
  if (dot !== 4 && dot !== 7) return false;
  const kind = key.slice(0, dot);
  const after = key.charCodeAt(dot + 4);
  return (kind === 'task' || kind === 'pool' || kind === 'session') && (Number.isNaN(after) || after === 64); /* @ */
}
