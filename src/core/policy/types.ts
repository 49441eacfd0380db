import type { ProviderId } from '../usage';

/**
 * The typed shape of `.agent-budget/budget.json` (shared/POLICY.md is the contract; schemas/budget.schema.json
 * validates it). Dollar amounts are as the user typed them (USD floats); the engine converts them to micros once.
 */
export interface BudgetPolicy {
  /** IANA zone for period boundaries; undefined = the machine's local zone. */
  timeZone?: string;
  limits: {
    task: TaskLimits;
    session: TokenLimits;
    workspace: UsdCaps;
  };
  workflows: Record<string, WorkflowPolicy>;
  rules: BudgetRule[];
  alerts: { thresholdsPct: number[]; webhookUrl?: string };
  providers: ProviderSettingsMap;
  prices: Record<string, PriceOverride>;
  tools: ToolPolicy;
  value: ValuePolicy;
}

export interface TokenLimits {
  softTokens?: number;
  hardTokens?: number;
}

export interface TaskLimits extends TokenLimits {
  maxToolCalls?: number;
  maxSteps?: number;
  maxWallSeconds?: number;
}

export interface UsdCaps {
  dailyUsd?: number;
  weeklyUsd?: number;
  monthlyUsd?: number;
}

export interface WorkflowPolicy {
  limits?: { task?: TaskLimits; session?: TokenLimits } & UsdCaps;
  model?: string;
  complexModel?: string;
  degradeModel?: string;
  complexity?: { inputTokensAbove?: number; keywords?: string[] };
}

export type RuleAction = 'allow' | 'warn' | 'degrade' | 'block';

export interface BudgetRule {
  when: {
    /** `task`, `session`, `workflow.<id>.daily|weekly|monthly`, `workspace.daily|weekly|monthly`. */
    scope?: string;
    atLeastPct?: number;
    /** Case-insensitive substring or /regex/ on the model id. */
    modelMatches?: string;
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

/** Per-million-token prices in USD (POLICY.md `prices`). */
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
  /** Tools that run without asking. */
  allow: string[];
  /** Tools that ask the user first (a diff preview for edits). */
  approve: string[];
  /** Fixed USD cost charged per tool call. */
  costsUsd: Record<string, number>;
}

export interface ValuePolicy {
  hourlyRateUsd?: number;
  workflows: Record<string, { minutesSavedPerRun?: number; valuePerRunUsd?: number }>;
}
