import { createHash } from 'node:crypto';
import { renderTemplate } from '../policy/templates';
import type { WorkflowDefinition } from '../policy/workflowTypes';
import type { ChatMessage, ChatRequest, ContentPart, ToolCall, ToolSpec } from '../providers/types';
import type { RunnerStep } from './builtins';
import { stepOutputs, type RunCheckpointState, type TaskCheckpoint } from './checkpoint';

/**
 * A task's conversation: prompts rendered from the workflow's templates (a step's context block first, the stable
 * part a cache can hold), the model's answers and the tools' results appended, the answer read back out. What each
 * call sends on top of it — prompt caching, the budget's view of it — is request.ts and caching.ts; summarising its
 * older turns is compaction.ts.
 */

/**
 * A task's prompts for `step` (its context block too), rendered now from the run's input and the finished steps'
 * outputs — a sub-agent's with its item and the outputs it sees (its own finished steps over the enclosing ones').
 */
export function renderPrompts(
  state: RunCheckpointState,
  step: RunnerStep,
  sub: { item?: string; itemContent?: string; outputs?: Record<string, string> } = {},
): { prompt: string; system?: string; context?: string } {
  const values = {
    ...state.input,
    stepOutputs: sub.outputs ?? stepOutputs(state),
    item: sub.item,
    itemContent: sub.itemContent,
  };
  const fill = (text: string) => renderTemplate(text, values);
  const systemText = step.system ?? state.workflow.system;
  return {
    prompt: fill(step.prompt),
    ...(systemText ? { system: fill(systemText) } : {}),
    ...(step.context ? { context: fill(step.context) } : {}),
  };
}

/**
 * The conversation a new task starts with: its rendered prompt, after its context block when the step has one (its
 * own part, so a cache breakpoint can end the stable prefix there; the blank line keeps the two apart for providers
 * that join a message's parts).
 */
export function openingMessages(prompt: string, context?: string): ChatMessage[] {
  const parts: ContentPart[] = context ? [{ type: 'text', text: `${context}\n\n` }] : [];
  parts.push({ type: 'text', text: prompt });
  return [{ role: 'user', content: parts }];
}

/** What the task's next call sends, before the budget clamps its output. */
export function nextRequest(task: TaskCheckpoint, tools: ToolSpec[] | undefined): Omit<ChatRequest, 'maxOutputTokens'> {
  return { model: task.model, system: task.system, messages: task.messages, tools };
}

/** The tool calls the task's last message asks for (none: the model has answered, or has not been asked yet). */
export function requestedToolCalls(task: TaskCheckpoint): ToolCall[] {
  const last = task.messages[task.messages.length - 1];
  if (last?.role !== 'assistant') return [];
  return last.content.flatMap((p) => (p.type === 'toolCall' ? [{ id: p.id, name: p.name, input: p.input }] : []));
}

/** Whether the model's last message is its answer (it asks for no tool). */
export function hasAnswered(task: TaskCheckpoint): boolean {
  return task.messages[task.messages.length - 1]?.role === 'assistant' && requestedToolCalls(task).length === 0;
}

/** Whether the model's last message asks for tools whose results are to be sent back. */
export function awaitsToolResults(task: TaskCheckpoint): boolean {
  return task.messages[task.messages.length - 1]?.role === 'assistant';
}

/** Whether the result of tool call `id` is in. */
export function hasToolResult(task: TaskCheckpoint, id: string): boolean {
  return task.toolResults.some((r) => r.type === 'toolResult' && r.callId === id);
}

/** Sends the results of the last message's tool calls back, as one message, once all are in. */
export function sendToolResults(task: TaskCheckpoint): void {
  task.messages.push({ role: 'user', content: task.toolResults });
  task.toolResults = [];
}

/** The task's answer: its last message's text, or all its text when the last message had none. */
export function answerOf(task: TaskCheckpoint): string {
  const last = task.messages[task.messages.length - 1]!;
  const text = textOf(last).trim();
  if (text) return text;
  return task.messages
    .filter((m) => m.role === 'assistant')
    .map(textOf)
    .filter((t) => t.trim())
    .join('\n\n');
}

/**
 * A finished task keeps only its output in the checkpoint: later steps need nothing else, and dropping the
 * conversation keeps every checkpoint of a long run small (the ledger keeps what each call cost).
 */
export function completeTask(task: TaskCheckpoint): void {
  task.status = 'completed';
  task.messages = [];
  task.toolResults = [];
  delete task.system;
}

/** The workflow's `version`, or a short hash of its prompts (a workspace file edited without a version still gets a new variant). */
export function promptVersion(workflow: WorkflowDefinition): string {
  if (workflow.version) return workflow.version;
  const hash = createHash('sha256')
    .update(JSON.stringify({ system: workflow.system, steps: workflow.steps }))
    .digest('hex');
  return `sha-${hash.slice(0, 8)}`;
}

function textOf(message: ChatMessage): string {
  return message.content
    .filter((p): p is Extract<ContentPart, { type: 'text' }> => p.type === 'text')
    .map((p) => p.text)
    .join('');
}
