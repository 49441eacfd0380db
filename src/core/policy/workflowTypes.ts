import type { ProviderId } from '../usage';
import type { TaskLimits } from './types';

/**
 * The tools an agent-loop step may use (POLICY.md `tools`, workflow steps' `tools`). The tool implementations live
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

/** A workflow: a named recipe of steps, built in or from `.agent-budget/workflows/<id>.json` (POLICY.md). */
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
  /** The file it was loaded from; undefined for built-in workflows. */
  file?: string;
}

/** A task of a run: one LLM call, or an agent loop when `tools` is set (bounded by the task limits). */
export interface WorkflowStep {
  /** Unique within the workflow; later prompts refer to it as `{{steps.<id>.output}}`. */
  id: string;
  title?: string;
  /** Template variables: `{{input}}`, `{{file}}`, `{{fileContent}}`, `{{selection}}`, `{{steps.<id>.output}}`. */
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
}
