// The contract between the run view's page (src/webview/run/main.ts) and its host (src/vscode/runView.ts), the
// run view's half of the webview protocol (protocol.ts holds the budget panel's). Both sides import this file and
// nothing else of each other; the host runs `parseRunViewMessage` on everything the page posts and acts only on
// what it returns. Money is integer micro-dollars.

/** One step of a run as the view shows it: a workflow step, a sub-agent fan-out, or a follow-up. */
export interface RunStepView {
  /** The step's task id (stable across updates: the page keeps its folding by it). */
  key: string;
  stepId: string;
  title: string;
  /** The model the step ran on (routing's choice). */
  model: string;
  /** pending / running / completed / blocked / … */
  status: string;
  /** Spend of the step and its sub-agents (µ$). */
  costMicros: number;
  tokens: number;
  calls: number;
  /** The step's answer as Markdown (while it streams: the text so far). */
  output: string;
  /** One line per tool call seen in this window (`readFile src/app.ts`). */
  tools: string[];
  /** For a follow-up: the question the user asked. */
  question?: string;
  /** The workflow's last step: its output is the run's answer. */
  final: boolean;
}

/** A tool call waiting for the user's yes or no. */
export interface ApprovalView {
  id: number;
  tool: string;
  summary: string;
  /** A diff of the change can be opened (an edit or a new file). */
  hasDiff: boolean;
}

/** Everything the run view shows, computed by the host from the store and the live events of this window. */
export interface RunViewModel {
  runId: string;
  workflow: string;
  title: string;
  status: string;
  /** Spend of the run, estimated part included (µ$). */
  costMicros: number;
  /** The part of `costMicros` charged from an estimate (a call cut short or lost) (µ$). */
  estimatedMicros: number;
  tokens: number;
  createdAt: number;
  /** Why the run stopped short, if it did. */
  error: string | null;
  /** A blocked run: when its period resets; a paused one: when it may go on (epoch ms, shown in local time). */
  resumeAfter: number | null;
  /** Workflow steps in order; the last completed one is the answer. */
  steps: RunStepView[];
  /** Follow-up questions and their answers, in order. */
  followUps: RunStepView[];
  /** Warnings of this window's last session of the run (soft limits, degraded models). */
  warnings: string[];
  /** Running in this window now. */
  running: boolean;
  canResume: boolean;
  canCancel: boolean;
  /** A follow-up can be asked now (every step completed, nothing running, a trusted workspace). */
  canFollowUp: boolean;
  approval: ApprovalView | null;
}

/** What the view persists across reloads (webview state, restored by the serializer). */
export interface RunViewState {
  runId: string;
}

/** Actions the page asks the host for. */
export type RunViewRequest =
  | { kind: 'cancel' }
  | { kind: 'resume' }
  | { kind: 'followUp'; text: string }
  | { kind: 'copy'; text: string }
  | { kind: 'insert'; text: string }
  | { kind: 'approve'; id: number; answer: 'apply' | 'reject' }
  | { kind: 'showDiff'; id: number }
  | { kind: 'openPanel' };

export type RunViewMessage =
  /** The page has loaded and listens. */
  { type: 'ready' } | { type: 'request'; id: number; request: RunViewRequest };

export type RunViewHostMessage =
  { type: 'model'; model: RunViewModel } | { type: 'reply'; id: number; ok: boolean; error?: string };

/** Longest text the page may hand over (a follow-up question, a code block to copy or insert). */
export const MAX_RUN_VIEW_TEXT = 200_000;

/** Run ids are the store's time-ordered ids: letters, digits, '-' and '_'. */
export const RUN_ID_PATTERN = /^[A-Za-z0-9_-]{1,80}$/;

function plain(v: unknown): Record<string, unknown> | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.getPrototypeOf(v) !== Object.prototype)
    return undefined;
  return Object.fromEntries(Object.entries(v));
}

function hasOnly(v: Record<string, unknown>, keys: readonly string[]): boolean {
  return Object.keys(v).every((k) => keys.includes(k)) && keys.every((k) => k in v);
}

const text = (v: unknown): v is string => typeof v === 'string' && v.length <= MAX_RUN_VIEW_TEXT;
const id = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function runViewRequest(raw: unknown): RunViewRequest | undefined {
  const v = plain(raw);
  if (!v) return undefined;
  switch (v.kind) {
    case 'cancel':
    case 'resume':
    case 'openPanel':
      return hasOnly(v, ['kind']) ? { kind: v.kind } : undefined;
    case 'followUp':
    case 'copy':
    case 'insert':
      return hasOnly(v, ['kind', 'text']) && text(v.text) ? { kind: v.kind, text: v.text } : undefined;
    case 'approve':
      return hasOnly(v, ['kind', 'id', 'answer']) && id(v.id) && (v.answer === 'apply' || v.answer === 'reject')
        ? { kind: 'approve', id: v.id, answer: v.answer }
        : undefined;
    case 'showDiff':
      return hasOnly(v, ['kind', 'id']) && id(v.id) ? { kind: 'showDiff', id: v.id } : undefined;
    default:
      return undefined;
  }
}

/** The message if it is exactly one of RunViewMessage, else why not. A copy: nothing the page attached survives. */
export function parseRunViewMessage(input: unknown): { message: RunViewMessage } | { error: string } {
  const raw = plain(input);
  if (!raw) return { error: 'not a plain object' };
  switch (raw.type) {
    case 'ready':
      return hasOnly(raw, ['type']) ? { message: { type: 'ready' } } : { error: 'bad ready message' };
    case 'request': {
      if (!hasOnly(raw, ['type', 'id', 'request']) || !id(raw.id)) return { error: 'bad request id' };
      const request = runViewRequest(raw.request);
      return request
        ? { message: { type: 'request', id: raw.id as number, request } }
        : { error: 'unknown or malformed request' };
    }
    default:
      return {
        error: `unknown message type ${typeof raw.type === 'string' ? JSON.stringify(raw.type.slice(0, 40)) : typeof raw.type}`,
      };
  }
}

/** The persisted state, if it is one (the serializer hands back whatever the page stored). */
export function parseRunViewState(raw: unknown): RunViewState | undefined {
  const v = plain(raw);
  return v && typeof v.runId === 'string' && RUN_ID_PATTERN.test(v.runId) ? { runId: v.runId } : undefined;
}
