import { AgentBudgetError } from '../errors';
import { allTasks, type RunCheckpointState } from '../runner/checkpoint';
import { isWritingTool, TOOL_SPECS } from '../runner/toolSpecs';

/**
 * Resume never executes what it did not witness.
 *
 * - A run records the install that created (or last resumed) it (`install` in the run's data, installId.ts). A run
 *   that names another install, or none, was written by another machine, another user, an older version or a
 *   repository that shipped its state: resuming it continues a conversation and tool calls nobody here approved, so
 *   the front end must show its pending tool calls and ask (VS Code: a modal listing them; the CLI refuses with the
 *   list unless `--trust-run`).
 * - Whoever created it, the tool calls a checkpoint ends with (asked for by the model, never run) always go through
 *   approval when the run resumes, even for tools in `tools.allow`: the approval they had, if any, was in another
 *   process. Reading tools (readFile, listFiles, searchText) are excepted: they change nothing.
 */

/** A tool call a checkpoint holds that has not run yet: resuming would run it. */
export interface PendingToolCall {
  stepId: string;
  callId: string;
  tool: string;
  /** One line for people: `runCommand rm -rf build`, `writeFile src/app.ts`. */
  summary: string;
}

/** What a front end shows before resuming a run it did not witness. */
export interface ForeignRun {
  runId: string;
  workflow: string;
  title: string;
  /** Who wrote it, as far as the store says (`host:pid:…`). */
  owner: string;
  pending: PendingToolCall[];
}

/** Says whether to resume a run another install wrote (after showing `run.pending`); anything but `true` is a no. */
export type ForeignRunConsent = (run: ForeignRun) => boolean | Promise<boolean>;

/** A resume refused because the run was not witnessed here and nobody said yes. */
export class UntrustedRunError extends AgentBudgetError {
  override readonly name = 'UntrustedRunError';
  constructor(
    readonly run: ForeignRun,
    how: string,
  ) {
    super('conflict', `${describeForeignRun(run)}\n${how}`);
  }
}

/** Whether this install wrote the run (its data names this install's id). */
export function witnessed(runData: unknown, installId: string): boolean {
  return typeof runData === 'object' && runData !== null && (runData as { install?: unknown }).install === installId;
}

/** The tool calls of the checkpoint's unfinished tasks that have no result yet and are not marked in flight. */
export function pendingToolCalls(state: RunCheckpointState): PendingToolCall[] {
  const pending: PendingToolCall[] = [];
  for (const task of allTasks(state)) {
    if (task.status === 'completed' || !Array.isArray(task.messages)) continue;
    const last = task.messages[task.messages.length - 1];
    if (last?.role !== 'assistant' || !Array.isArray(last.content)) continue;
    const done = new Set(
      (Array.isArray(task.toolResults) ? task.toolResults : []).flatMap((r) =>
        r.type === 'toolResult' ? [r.callId] : [],
      ),
    );
    for (const part of last.content) {
      if (part.type !== 'toolCall' || done.has(part.id) || task.toolInFlight === part.id) continue;
      pending.push({
        stepId: task.stepId,
        callId: part.id,
        tool: part.name,
        summary: describeCall(part.name, part.input),
      });
    }
  }
  return pending;
}

/** Whether a pending call must be approved on resume: every tool but the reading ones (an unknown name too). */
export function approvalOnResume(tool: string): boolean {
  return isWritingTool(tool) || !Object.hasOwn(TOOL_SPECS, tool);
}

/** The text both front ends show: which run, who wrote it, and each tool call resuming would run. */
export function describeForeignRun(run: ForeignRun): string {
  const lines = [
    `Run ${run.runId} (${run.workflow}: ${oneLine(run.title, 80)}) was not started by Agent Budget on this machine ` +
      `(it was written by ${oneLine(run.owner, 60)}), so resuming it would continue work nobody here saw.`,
  ];
  if (run.pending.length) {
    lines.push('Its checkpoint ends with these tool calls, which would be asked about again before they run:');
    for (const p of run.pending) lines.push(`  - ${p.summary} (step ${oneLine(p.stepId, 40)})`);
  } else {
    lines.push('Its checkpoint holds no pending tool call; resuming continues its conversation with the model.');
  }
  return lines.join('\n');
}

function describeCall(tool: string, input: unknown): string {
  const args = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const detail =
    typeof args.command === 'string'
      ? args.command
      : typeof args.path === 'string'
        ? args.path
        : JSON.stringify(input ?? null);
  return `${oneLine(tool, 40)} ${oneLine(detail ?? '', 160)}`;
}

/** One line of at most `max` characters, control characters shown as spaces (a terminal or a dialog shows it). */
function oneLine(text: string, max: number): string {
  const s = String(text)
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
    .trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
