import type { ChatMessage } from '../providers/types';
import { RunInputError } from './errors';
import type { RunnerStep } from './builtins';
import type { RunCheckpointState, TaskCheckpoint } from './checkpoint';
import { renderPrompts } from './conversation';

/**
 * Follow-ups: a completed run continued as a conversation. A follow-up is one more step appended to the run's own
 * copy of its workflow (the checkpoint's `workflow`), with its task already made, so everything a step has holds
 * for it — metered under the run's scopes (its session budget), checkpointed after every call, resumed like any
 * step when interrupted, and listed in the run's outcome (whose `output` is then the latest answer).
 *
 * The conversation a follow-up sends is rebuilt from the checkpoint, since a finished task keeps only its output
 * (conversation.ts, `completeTask`): the last workflow step's prompt rendered again (the same input and earlier
 * outputs, so the same text the model answered), its answer, each earlier follow-up and its answer, then the new
 * question. The question is sent as the user typed it, never rendered as a template.
 */

/** A follow-up's step id: `follow-up-1`, `follow-up-2`, … */
export const FOLLOW_UP_PREFIX = 'follow-up-';

/** Longest question accepted (a pasted log would cost real money; the run's input is the place for files). */
export const MAX_FOLLOW_UP_CHARS = 20_000;

export function isFollowUp(step: { id: string }): boolean {
  return step.id.startsWith(FOLLOW_UP_PREFIX);
}

/**
 * Appends a follow-up asking `text` to a completed run's checkpoint state: a new step (the last workflow step's
 * model, tools, system prompt and output limit) and its running task. Returns the task; the caller writes it
 * durably before any call.
 */
export function appendFollowUp(
  state: RunCheckpointState,
  text: string,
  ids: { taskId: string; now: number },
): TaskCheckpoint {
  const question = text.trim();
  if (!question) throw new RunInputError('A follow-up needs a question.');
  if (question.length > MAX_FOLLOW_UP_CHARS)
    throw new RunInputError(
      `A follow-up is limited to ${MAX_FOLLOW_UP_CHARS.toLocaleString('en-US')} characters (this one has ${question.length.toLocaleString('en-US')}); start a run with the material as its input instead.`,
    );
  const steps = state.workflow.steps;
  // A follow-up left without its answer (cancelled, failed, blocked) is replaced by this one, not kept before it.
  const open = state.steps.findIndex((t, i) => t.status !== 'completed' && isFollowUp(steps[i]!));
  if (open >= 0) {
    steps.splice(open);
    state.steps.splice(open);
  }
  const originals = steps.filter((s) => !isFollowUp(s));
  const last = originals[originals.length - 1];
  const lastTask = last ? state.steps[steps.indexOf(last)] : undefined;
  if (!last || lastTask?.status !== 'completed' || lastTask.output === undefined)
    throw new RunInputError(
      'Only a run whose steps have all completed can be continued with a follow-up; resume it first.',
    );

  const opening = renderPrompts(state, last);
  // A fan-out's prompt is its sub-agents' (each filled with its item), or empty when they run steps of their own:
  // what the model is shown asking for its answer is the fan-out itself.
  const asked = last.subAgents
    ? `Step "${last.title ?? last.id}" ran one sub-agent per item; their answers follow, each under its item.`
    : opening.prompt;
  const messages: ChatMessage[] = [user(asked), assistant(lastTask.output)];
  for (const [i, step] of steps.entries()) {
    if (!isFollowUp(step)) continue;
    messages.push(user(step.prompt), assistant(state.steps[i]?.output ?? ''));
  }
  messages.push(user(question));

  const n = steps.filter(isFollowUp).length + 1;
  const step: RunnerStep = {
    id: `${FOLLOW_UP_PREFIX}${n}`,
    title: `Follow-up ${n}`,
    prompt: question,
    ...(last.tools ? { tools: last.tools } : {}),
    ...(last.maxOutputTokens !== undefined ? { maxOutputTokens: last.maxOutputTokens } : {}),
    ...(last.limits ? { limits: last.limits } : {}),
  };
  const task: TaskCheckpoint = {
    taskId: ids.taskId,
    createdAt: ids.now,
    stepId: step.id,
    status: 'running',
    provider: lastTask.provider,
    model: lastTask.model,
    ...(opening.system !== undefined ? { system: opening.system } : {}),
    messages,
    toolResults: [],
    calls: 0,
    toolCalls: 0,
    wallMs: 0,
  };
  steps.push(step);
  state.steps.push(task);
  return task;
}

function user(text: string): ChatMessage {
  return { role: 'user', content: [{ type: 'text', text }] };
}

function assistant(text: string): ChatMessage {
  return { role: 'assistant', content: [{ type: 'text', text }] };
}
