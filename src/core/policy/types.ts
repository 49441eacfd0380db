import type { ProviderId } from '../usage';
import type { TeamSection } from './teamPolicy';
import type { ToolName } from './workflowTypes';

/**
 * The typed shape of `.agent-budget/budget.json` (docs/policy.md is the contract; schemas/budget.schema.json
 * validates it). Dollar amounts are as the user typed them (USD floats); the engine converts them to micros once.
 * Produced by loadPolicy (load.ts) with the built-in defaults (DEFAULT_POLICY) filled in; an undefined limit means
 * "no limit" (the file can switch a built-in default off with `null`).
 */
export interface BudgetPolicy {
  /** IANA zone for period boundaries; undefined = the machine's local zone. */
  timeZone?: string;
  limits: {
    task: TaskLimits;
    session: SessionLimits;
    workspace: UsdCaps;
    /** The whole team's caps (a team ledger's; teamPolicy.ts). */
    team?: UsdCaps;
  };
  /** Members' team caps by tier (teamPolicy.ts). */
  team?: TeamSection;
  /** Prompt caching for every workflow (a workflow's own `caching` replaces it); undefined = `auto`. */
  caching?: CachingPolicy;
  workflows: Record<string, WorkflowPolicy>;
  rules: BudgetRule[];
  alerts: { thresholdsPct: number[]; webhookUrl?: string };
  providers: ProviderSettingsMap;
  prices: Record<string, PriceOverride>;
  tools: ToolPolicy;
  value: ValuePolicy;
  /** Commands or webhooks told of budget events (docs/policy.md "Hooks"); a hook never changes a decision. */
  hooks: HookPolicy;
  /** A/B experiments by workflow id (docs/policy.md "Experiments"). */
  experiments: Record<string, ExperimentPolicy>;
}

/** The budget events a hook may follow. */
export const HOOK_EVENTS = ['onWarn', 'onDegrade', 'onBlock', 'onAlert', 'onRunFinished'] as const;
export type HookEventName = (typeof HOOK_EVENTS)[number];

/** A hook as written: a shell command (the event as JSON on its stdin) or a webhook (the event POSTed as JSON). */
export type HookSpec = { command: string; timeoutSeconds?: number } | { url: string };

/**
 * A hook in force: where it came from decides whether it may run without asking — the user's own file yes; the
 * repository's (applied only with consent) under runCommand's approval rule. Set by the merge (trust/).
 */
export type Hook = HookSpec & { origin?: 'user' | 'repository' };

export type HookPolicy = Partial<Record<HookEventName, Hook[]>>;

/** An experiment on one workflow: runs split deterministically between variants until enough have run. */
export interface ExperimentPolicy {
  /** Two or more variants: a model, a prompt version of the workflow, or both. */
  variants: Array<{ model?: string; promptVersion?: string }>;
  /** Percent of runs per variant, in order, summing to 100 (default: even). */
  split?: number[];
  /** The experiment assigns this many runs, then runs go back to the workflow's routing. */
  until?: { runs: number };
}

export interface TokenLimits {
  softTokens?: number;
  hardTokens?: number;
}

/** A task's or a run's spend in USD, as written (`hardUsd` is never exceeded, `softUsd` warns). */
export interface UsdLimits {
  softUsd?: number;
  hardUsd?: number;
}

/** Limits of each run (session) of a workflow: tokens and dollars. */
export interface SessionLimits extends TokenLimits, UsdLimits {}

export interface TaskLimits extends TokenLimits, UsdLimits {
  maxToolCalls?: number;
  maxSteps?: number;
  maxWallSeconds?: number;
}

export interface UsdCaps {
  dailyUsd?: number;
  weeklyUsd?: number;
  monthlyUsd?: number;
}

/**
 * Prompt caching (docs/policy.md "Caching"): `auto` asks each provider to cache the stable prefix where it pays (Anthropic
 * breakpoints with a 5-minute life, OpenAI's cache key), `5m` and `1h` choose Anthropic's cache life, `off` asks for
 * none. A repository may set it: it never loosens a budget, because the reservation prices a cache write at its rate.
 */
export type CachingPolicy = 'auto' | 'off' | '5m' | '1h';
export const CACHING_POLICIES: readonly CachingPolicy[] = ['auto', 'off', '5m', '1h'];

export interface WorkflowPolicy {
  limits?: { task?: TaskLimits; session?: SessionLimits } & UsdCaps;
  /** Prompt caching for this workflow's calls (over the top-level `caching`). */
  caching?: CachingPolicy;
  model?: string;
  /** The prompt version of the workflow to run (a name in its `versions`, or its own `version`). */
  promptVersion?: string;
  complexModel?: string;
  degradeModel?: string;
  complexity?: { inputTokensAbove?: number; keywords?: string[] };
}

/**
 * `compact`: before the call, summarise the task's older turns and tool results with the workflow's cheap model and
 * continue from the summary (an agent loop with turns to summarise; otherwise it acts as `warn`).
 */
export type RuleAction = 'allow' | 'warn' | 'degrade' | 'compact' | 'block';

export interface BudgetRule {
  when: {
    /**
     * `task`, `session` (tokens), `task.usd`, `session.usd` (dollars), `workflow.<id>.daily|weekly|monthly`,
     * `workspace.daily|weekly|monthly`.
     */
    scope?: string;
    /** Percent of the scope's limit (0–1000) in use, counting the call's worst case; omitted = 0. Needs `scope`. */
    atLeastPct?: number;
    /** Case-insensitive regular expression searched in the model id ("opus"), or /pattern/flags; see modelMatch.ts. */
    modelMatches?: string;
    /** Only runs of this workflow id. */
    workflow?: string;
  };
  action: RuleAction;
}

export interface ProviderSettings {
  baseUrl?: string;
  /** OpenAI only. */
  api?: 'chat' | 'responses';
}
export type ProviderSettingsMap = Partial<Record<ProviderId, ProviderSettings>>;

/** Per-million-token prices in USD (docs/policy.md `prices`). */
export interface PriceRates {
  inputPerMTok: number;
  outputPerMTok: number;
  cacheReadPerMTok?: number;
  cacheWrite5mPerMTok?: number;
  cacheWrite1hPerMTok?: number;
}

export interface PriceOverride extends PriceRates {
  provider: ProviderId;
  /** Above this many prompt tokens (input + cache reads + cache writes) the whole call bills at these rates. */
  above?: PriceRates & { tokens: number };
  /** Largest output the model can produce (used to clamp max_tokens); optional for overrides. */
  maxOutputTokens?: number;
  contextWindow?: number;
}

export interface ToolPolicy {
  /** Tools that run without asking. Never overlaps `approve` (the loader resolves overlaps to approve). */
  allow: ToolName[];
  /** Tools that ask the user first (a diff preview for edits). A tool in neither list is refused. */
  approve: ToolName[];
  /** Fixed USD cost charged per tool call. */
  costsUsd: Partial<Record<ToolName, number>>;
}

export interface ValuePolicy {
  hourlyRateUsd?: number;
  workflows: Record<string, { minutesSavedPerRun?: number; valuePerRunUsd?: number }>;
}
