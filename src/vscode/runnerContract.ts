// The runner's API as agreed in issue 7 (src/core/runner/runner.ts is being built beside this). The extension codes
// against these types; once the runner lands they are re-exported from it instead (one place to switch).
import type { WorkflowDefinition } from '../core/policy/workflowTypes';
import type { PolicyError } from '../core/policy/issues';
import type { ProviderAdapter } from '../core/providers/types';
import type { RunStatus } from '../core/store/records';
import type { ProviderId } from '../core/usage';

export interface RunInput {
  input?: string;
  file?: string;
  fileContent?: string;
  selection?: string;
  model?: string;
  complex?: boolean;
}

export type RunEvent =
  | { type: 'runStarted'; runId: string; workflow: string; title: string }
  | { type: 'stepStarted'; runId: string; stepId: string; title: string; model: string }
  | { type: 'text'; runId: string; stepId: string; delta: string }
  | { type: 'call'; runId: string; stepId: string; model: string; costMicros: number; tokens: number; estimated: boolean }
  | { type: 'tool'; runId: string; stepId: string; tool: string; summary: string }
  | { type: 'warning'; runId: string; message: string }
  | { type: 'stepFinished'; runId: string; stepId: string; status: RunStatus }
  | { type: 'runFinished'; runId: string; status: RunStatus; error?: string };

export interface ApprovalRequest {
  runId: string;
  tool: 'writeFile' | 'editFile' | 'runCommand';
  summary: string;
  path?: string;
  before?: string;
  after?: string;
  command?: string;
}

export interface Approver {
  approve(request: ApprovalRequest): Promise<boolean>;
}

export interface ProviderAccess {
  adapter(provider: ProviderId): Promise<ProviderAdapter>;
}

export interface RunOutcome {
  runId: string;
  workflow: string;
  status: RunStatus;
  costMicros: number;
  tokens: { input: number; output: number; cacheRead: number; cacheWrite: number; reasoning: number };
  steps: Array<{ id: string; status: RunStatus; costMicros: number; output?: string }>;
  output?: string;
  error?: string;
  blockedScope?: string;
}

export interface RunOptions {
  signal?: AbortSignal;
  onEvent?: (e: RunEvent) => void;
}

/** What the extension uses of the Runner class. */
export interface WorkflowRunner {
  listWorkflows(): Promise<{ workflows: WorkflowDefinition[]; errors: PolicyError[] }>;
  start(workflowId: string, input: RunInput, options?: RunOptions): Promise<RunOutcome>;
  resume(runId: string, options?: RunOptions): Promise<RunOutcome>;
  cancel(runId: string): Promise<void>;
  active(): string[];
}
