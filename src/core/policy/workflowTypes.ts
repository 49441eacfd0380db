import type { ProviderId } from '../usage';
import type { TaskLimits } from './types';

/**
 * The tools an agent-loop step may use (docs/policy.md `tools`, workflow steps' `tools`). The tool implementations live
 * with the runner; this list is the contract that schemas, policy checks and the runner share.
 */
export const TOOL_NAMES = ['readFile', 'listFiles', 'searchText', 'writeFile', 'editFile', 'runCommand'] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

export function isToolName(name: unknown): name is ToolName {
  return typeof name === 'string' && (TOOL_NAMES as readonly string[]).includes(name);
}

/**
 * Workflow ids: lowercase letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit, at most 64
 * characters. Lowercase only, so two files that differ only in case cannot collide on macOS/Windows; the id is the
 * file name (`<id>.json`) and appears in scope names (`workflow.<id>.daily`), which parse by their last dot.
 */
export const WORKFLOW_ID_PATTERN = /^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$/;
export const WORKFLOW_ID_RULE =
  'lowercase letters, digits, "-", "_" or ".", starting and ending with a letter or digit (at most 64)';

export function isWorkflowId(id: unknown): id is string {
  return typeof id === 'string' && WORKFLOW_ID_PATTERN.test(id) && !id.includes('..');
}

/** Step ids: a letter or `_`, then letters, digits, `_` or `-` (no dots, so `{{steps.<id>.output}}` reads plainly). */
export const STEP_ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

/** A workflow: a named recipe of steps, built in or from `.agent-budget/workflows/<id>.json` (docs/policy.md). */
export interface WorkflowDefinition {
  /** Equals the file name without `.json`. */
  id: string;
  /** Shown in the palette and the runs view; defaults to the id. */
  title: string;
  description?: string;
  /** Prompt version, recorded with each run as part of its variant (model + prompt version). */
  version?: string;
  /** Provider for every step; omitted = the provider of the chosen model. */
  provider?: ProviderId;
  /** Model for every step; omitted = the policy's routing for this workflow id (`workflows.<id>.model`, …). */
  model?: string;
  /** System prompt for every step (a step's own `system` replaces it). Template variables allowed. */
  system?: string;
  steps: WorkflowStep[];
  /**
   * Other prompt versions of this workflow, by version name: each replaces the system prompt and the prompts of the
   * top-level steps it names. An experiment's variant or `workflows.<id>.promptVersion` in the policy picks one.
   */
  versions?: Record<string, PromptVersion>;
  /** The file it was loaded from; undefined for built-in workflows. */
  file?: string;
}

/** One prompt version of a workflow: what it replaces in the base prompts (docs/policy.md `versions`). */
export interface PromptVersion {
  system?: string;
  /** By top-level step id. */
  steps?: Record<string, { prompt?: string; system?: string }>;
}

/** How deep sub-agents may nest: a fan-out inside a sub-agent's steps inside another fan-out, this many levels. */
export const MAX_SUB_AGENT_DEPTH = 3;

/** The most sub-agents one fan-out may start, and the most that run at once. */
export const MAX_SUB_AGENTS = 100;
export const MAX_SUB_AGENT_CONCURRENCY = 16;

/**
 * Sub-agents of a step (docs/policy.md "Sub-agents"): one child per item — a line of an earlier step's output
 * (`itemsFrom`) or a file of the workspace matching a glob (`files`) — each running the step's prompt (or its own
 * `steps`, which may fan out again) with `{{item}}` (and `{{itemContent}}` for files).
 */
export interface SubAgentPlan {
  /** The earlier step whose output lists the items, one per line (list markers and numbering are stripped). */
  itemsFrom?: string;
  /** A glob of workspace files, confined like the tools (`.git`, `node_modules`, the state folder never match). */
  files?: string;
  /** At most this many sub-agents (default 8). */
  max?: number;
  /** How many run at once (default 1); each call is still admitted atomically against every scope above it. */
  concurrency?: number;
  /**
   * How the children are budgeted from the parent task (the fan-out): `share` = each child, when it starts, gets
   * this fraction of what the parent has left; `pool` = all children draw from one pool of this fraction of what the
   * parent had left when the first child started. Both apply to the parent's tokens and, where it has a dollar limit
   * (`maxUsd`), to its dollars. Children's calls always count against the parent's limits too.
   */
  budget?: SubAgentBudget;
  /** Each child runs these steps in order instead of the step's prompt; they may fan out again. */
  steps?: WorkflowStep[];
}

export interface SubAgentBudget {
  share?: number;
  pool?: number;
  /** The most the sub-agents of this step may spend together, in USD (their nested sub-agents included). */
  maxUsd?: number;
}

/** A task of a run: one LLM call, or an agent loop when `tools` is set (bounded by the task limits). */
export interface WorkflowStep {
  /** Unique within the workflow; later prompts refer to it as `{{steps.<id>.output}}`. */
  id: string;
  title?: string;
  /**
   * Template variables: `{{input}}`, `{{file}}`, `{{fileContent}}`, `{{selection}}`, `{{steps.<id>.output}}`, and in
   * sub-agents `{{item}}` (`{{itemContent}}` for files). Absent only on a fan-out whose sub-agents have `steps`.
   */
  prompt: string;
  system?: string;
  /** Model for this step only (overrides the workflow's `model` and the policy's routing). */
  model?: string;
  /** Upper bound on the output of each call of this step (the budget may clamp it further). */
  maxOutputTokens?: number;
  /** Task limits for this step; they can only tighten the policy's task limits, never loosen them. */
  limits?: TaskLimits;
  /** Tools of the agent loop; absent = a single call without tools. */
  tools?: ToolName[];
  /** Fan out: one sub-agent per item. Without its own `steps`, each child runs this step's prompt. */
  subAgents?: SubAgentPlan;
}
