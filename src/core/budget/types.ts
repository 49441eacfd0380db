import { AgentBudgetError } from '../errors';
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
 * A dollar scope of one task or one sub-agent pool of a run (`task.usd@<taskId>`, `pool.usd@<taskId>`): counted in
 * µ$ like the workspace's caps, but its limits come with each request, like a token scope (sub-agents' `maxUsd`
 * and their shares and pools of it).
 */
export interface SpendScopeSpec {
  key: string;
  /** The scope name rules, messages and status use. */
  kind: 'task.usd' | 'pool.usd';
  softMicros?: number;
  hardMicros?: number;
  /** µ$ already spent in this scope before this process saw it (a resumed run): read once. */
  initialUsed?: () => number;
}

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
  /** Dollar scopes of the task, its parents and their pools, with their limits (the first is the task's own). */
  spendScopes?: SpendScopeSpec[];
  /** Where DEGRADE routes; undefined = none configured. */
  degradeModel?: string;
  /** The run's prompt version: the reservation records the variant `<model called>@<promptVersion>`. */
  promptVersion?: string;
  /** Prompt caching the request asks for: its writes bill above the input rate, so the worst case must use that rate. */
  promptCaching?: 'none' | '5m' | '1h';
  /** Fewest output tokens worth a call (default 16); below this the call is blocked instead of starved. */
  minOutputTokens?: number;
  /** The call goes to a loopback endpoint the user chose: a model no price list knows is free there (pricing). */
  localEndpoint?: boolean;
}

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
  /** The action the rules decided (never `block`: a block is an error). */
  action: Exclude<RuleAction, 'block'>;
  /** Human-readable notes: soft limits crossed, a degrade, a warn rule. */
  warnings: string[];
  /** What binds the clamp: `model`, `request`, or a scope name. */
  clampedBy: string;
  price: ResolvedPrice;
}

export interface SettleInput {
  /** The provider's reported usage; undefined when it never arrived (stream cut, abort, crash). */
  usage?: TokenUsage;
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

/** A USD counter key or scope name (they share their prefix): the periods' caps, and tasks' and pools' dollars. */
export function isUsdKey(key: string): boolean {
  return key.startsWith('workspace.') || key.startsWith('workflow.') || isSpendKey(key);
}

/** A task's or pool's dollar scope of one run: `task.usd`, `pool.usd`, or one of their counter keys. */
export function isSpendKey(key: string): boolean {
  return /^(task|pool)\.usd(@|$)/.test(key);
}
