import type { ForeignRunConsent } from '../trust/resumeGuard';
import type { ErrorKind } from '../errors';
import type { ToolName } from '../policy/workflowTypes';
import type { ProviderAdapter } from '../providers/types';
import type { RunStatus } from '../store/records';
import type { ProviderId } from '../usage';

/** The runner's API, as both front ends (the VS Code UI and the CLI) use it. */

export interface RunInput {
  /** Free text: a question, notes, or a diff (`git diff` output). */
  input?: string;
  /** Workspace-relative (or absolute, inside the workspace) path of the current file. */
  file?: string;
  /** The file's text; read from `file` when omitted. */
  fileContent?: string;
  /** The selected text; when omitted and a workflow uses it, the whole file. */
  selection?: string;
  /** Model for every step, over the workflow's and the policy's choice. */
  model?: string;
  /** Use the workflow's complex model (policy `workflows.<id>.complexModel`). */
  complex?: boolean;
}

export type RunEvent =
  | { type: 'runStarted'; runId: string; workflow: string; title: string }
  | { type: 'stepStarted'; runId: string; stepId: string; title: string; model: string }
  | { type: 'text'; runId: string; stepId: string; delta: string }
  | {
      type: 'call';
      runId: string;
      stepId: string;
      model: string;
      costMicros: number;
      tokens: number;
      estimated: boolean;
    }
  | { type: 'tool'; runId: string; stepId: string; tool: string; summary: string }
  | { type: 'warning'; runId: string; message: string }
  | { type: 'stepFinished'; runId: string; stepId: string; status: RunStatus }
  | { type: 'runFinished'; runId: string; status: RunStatus; error?: string };

export interface ApprovalRequest {
  runId: string;
  /** A tool the policy lists in tools.approve: usually a writing one, but reading tools may be listed too. */
  tool: ToolName;
  /** One line: `editFile src/app.ts`. */
  summary: string;
  path?: string;
  /** The file's text before and after the change (writeFile: before is undefined for a new file). */
  before?: string;
  after?: string;
  command?: string;
  /** The call was pending in the checkpoint the run resumed from (asked although tools.allow lists it). */
  fromCheckpoint?: boolean;
}

/** Says yes or no to a tool call the policy lists in tools.approve. Anything but `true` is a no. */
export interface Approver {
  approve(request: ApprovalRequest): Promise<boolean>;
}

export interface ProviderAccess {
  /** The adapter for a provider; throws a clear error naming the key to set when there is none. */
  adapter(provider: ProviderId): Promise<ProviderAdapter>;
  /**
   * Whether a key is set (optional): a workflow that names no model runs on the first provider with a key
   * (Anthropic, OpenAI, Gemini in that order); without this method, Anthropic.
   */
  hasKey?(provider: ProviderId): boolean | Promise<boolean>;
  /**
   * Whether the provider's endpoint is a loopback server the user set (their settings or environment, never a
   * repository's file), e.g. Ollama: a model no price list knows is priced at $0 there (optional; default no).
   */
  isLocal?(provider: ProviderId): boolean | Promise<boolean>;
}

/**
 * Why a run stopped short of `completed` (an addition to the agreed RunOutcome; front ends map it to exit codes
 * and actions): the `errorKind` of the error that stopped it (src/core/errors.ts). Runs recorded before the error
 * root hold one of `budget`, `rateLimit`, `auth`, `provider`, `config`, `crash`, `cancelled`, `internal`, all still
 * kinds (a missing key was `config` then, `missingKey` now).
 */
export type RunErrorKind = ErrorKind;

export interface RunOutcome {
  runId: string;
  workflow: string;
  status: RunStatus;
  costMicros: number;
  tokens: { input: number; output: number; cacheRead: number; cacheWrite: number; reasoning: number };
  steps: Array<{ id: string; status: RunStatus; costMicros: number; output?: string }>;
  /** The last finished step's output (the run's result once it completed). */
  output?: string;
  error?: string;
  blockedScope?: string;
  /** Added: see RunErrorKind. */
  errorKind?: RunErrorKind;
  /** Added: the run's title, as the runs list shows it. */
  title?: string;
  /**
   * Added: the part of `costMicros` that is estimated (a call cut short or lost, charged from what streamed, not
   * from the provider's usage). Every front end labels a figure that includes it "estimated".
   */
  estimatedMicros?: number;
  /** Added: when a blocked run's period resets, or a paused run may go on (epoch ms). */
  resumeAfter?: number;
}

export interface RunOptions {
  /** Aborting cancels the run: the stream in flight stops at once; finished steps and their output are kept. */
  signal?: AbortSignal;
  onEvent?: (e: RunEvent) => void;
  /**
   * Resume only. Asked (with the pending tool calls) before a run another install wrote is resumed; without it, or
   * unless it says `true`, the resume throws UntrustedRunError (trust/resumeGuard.ts).
   */
  trustForeignRun?: ForeignRunConsent;
}
