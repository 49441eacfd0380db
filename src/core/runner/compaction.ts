import { BudgetBlockedError, type Admission } from '../budget/engine';
import type { Meter } from '../metering/meter';
import { ProviderError } from '../providers/errors';
import type { ChatMessage, ContentPart } from '../providers/types';
import type { RunnerStep } from './builtins';
import type { TaskCheckpoint } from './checkpoint';
import type { PromptEstimates } from './estimates';
import type { Execution } from './execution';
import type { ModelCall } from './modelCall';
import type { ModelChoice } from './models';
import type { CallPlan, CallPlanner, CallSpec } from './request';

/**
 * COMPACT, the fifth action beside allow, warn, degrade and block: before a turn of an agent loop, the task's older
 * turns and tool results are summarised by the workflow's cheap model (ModelChoice.compactionModel) and the loop
 * continues from the summary instead of re-sending everything.
 *
 * When: a rule says `"action": "compact"`, or the call will likely take the task or run past its soft token or
 * dollar limit — and there is enough to drop: the turns before the last KEEP_TURNS add up to at least
 * MIN_DROP_TOKENS and (except for a rule) half the prompt, so the saving outweighs the summary and a loop past its
 * soft limit compacts every few turns, not every turn. Not at the hard limit itself: the summary reads what it
 * drops, so it cannot make room for the very next call — compacting from the soft limit on is what keeps a long
 * loop under its hard limit.
 *
 * What stays: the opening message (the step's context block and prompt, their cache prefix untouched), the summary
 * as a new last block of it (replacing an earlier summary), and the last KEEP_TURNS turns verbatim. The summary call
 * is metered like any call (a ledger row with task `compact`, counted against the task's limits); the compacted
 * conversation goes out in the same durable write as its ledger row, so a resume continues from it. A summary the
 * budget cannot afford is not made (the hard limits still decide the turn itself); one that fails is skipped.
 */
export class Compaction {
  constructor(
    private readonly parts: {
      meter: Meter;
      planner: CallPlanner;
      models: ModelChoice;
      estimates: PromptEstimates;
      now: () => number;
    },
  ) {}

  /** Compacts `task` before the call `next` when it should and can; true when the conversation changed. */
  async beforeCall(
    ex: Execution,
    step: RunnerStep,
    task: TaskCheckpoint,
    next: CallPlan,
    spec: CallSpec,
    caller: ModelCall,
  ): Promise<boolean> {
    const cut = task.messages.length - 2 * KEEP_TURNS;
    if (cut < 3) return false;
    const dropped = task.messages.slice(1, cut);
    const droppedTokens = this.parts.estimates.basis({ model: spec.request.model, messages: dropped });
    if (droppedTokens < MIN_DROP_TOKENS) return false;
    const why = this.trigger(next, droppedTokens);
    if (!why) return false;

    const { model, why: chosen } = this.parts.models.compactionModel(
      ex.state.workflow.id,
      task.provider,
      task.model,
      this.parts.now(),
    );
    const plan = this.parts.planner.plan(ex, step, task, {
      ...spec,
      request: { model, system: SUMMARY_SYSTEM, messages: summaryRequest(task, dropped) },
      taskName: 'compact',
      maxOutputTokens: SUMMARY_MAX_OUTPUT,
      minOutputTokens: SUMMARY_MIN_OUTPUT,
      loop: false,
      contextBlock: false,
    });
    const before = next.admit.likely?.inputTokens ?? next.admit.inputTokens;
    try {
      await caller.call(ex, step, task, plan, spec.adapter, spec.limits, {
        apply: (result) => {
          task.messages = compacted(task, result.text, model, cut);
          task.compactions = (task.compactions ?? 0) + 1;
        },
      });
    } catch (err) {
      if (err instanceof BudgetBlockedError && err.scope !== 'task.maxWallSeconds') {
        ex.warn(`${step.id}: not compacted (${why}): the summary does not fit the budget — ${err.message}`);
        return false;
      }
      if (err instanceof ProviderError) {
        ex.warn(`${step.id}: not compacted (${why}): the ${model} summary failed — ${err.message}`);
        return false;
      }
      throw err; // a cancel or the wall-time limit stops the run as any call would
    }
    const after = this.parts.estimates.prompt(task.provider, task.model, {
      model: task.model,
      messages: task.messages,
    });
    ex.warn(
      `${step.id}: compacted ${dropped.length} older messages (${why}) with ${model} (${chosen}): ` +
        `the next prompt is about ${after.tokens.toLocaleString('en-US')} tokens instead of ${before.toLocaleString('en-US')}.`,
    );
    return true;
  }

  /** Why to compact before `next`, or undefined: a rule, or a soft limit the call will likely reach. */
  private trigger(next: CallPlan, droppedTokens: number): string | undefined {
    let admission: Admission;
    try {
      admission = this.parts.meter.preview(next.admit);
    } catch (err) {
      if (err instanceof BudgetBlockedError) return undefined; // the call itself says why, when it is made
      throw err;
    }
    if (admission.compact) return admission.compact;
    const soft = admission.softReached.find((s) => RUN_SCOPES.includes(s));
    const prompt = next.admit.likely?.inputTokens ?? next.admit.inputTokens;
    if (soft && droppedTokens * 2 >= prompt) return `${soft} soft limit reached`;
    return undefined;
  }
}

/** Turns kept verbatim after the summary: the model's latest steps and what its tools just returned. */
export const KEEP_TURNS = 2;
/** Less than this to drop and a summary costs more than it saves. */
export const MIN_DROP_TOKENS = 2_048;
const SUMMARY_MAX_OUTPUT = 1_024;
/** A summary cut shorter than this is not worth its call: the budget refuses it rather than starve it. */
const SUMMARY_MIN_OUTPUT = 256;
/** The scopes a task's conversation counts against: compacting it helps them. */
const RUN_SCOPES = ['task', 'session', 'task.usd', 'session.usd'];
/** Opens the summary block, so a later compaction replaces it and the model knows what it reads. */
export const SUMMARY_HEADER = '[Summary of the earlier turns of this task, written to save tokens]';

const SUMMARY_SYSTEM =
  "You compress an AI agent's working history so it can continue its task without it. Write a dense summary of the " +
  'turns below: what was looked at (file paths, line numbers, commands), what was found (facts, figures, quotes ' +
  'the task needs verbatim), what was decided, and what is still to do. Leave out file contents that are already ' +
  'digested and anything the task does not need. Plain text, no preamble.';

/** The summary call's conversation: the task, the summary so far, and the turns to fold in. */
function summaryRequest(task: TaskCheckpoint, dropped: ChatMessage[]): ChatMessage[] {
  const opening = task.messages[0]!.content;
  const own = opening
    .filter((_, i) => i < openingParts(task))
    .map(textOf)
    .join('\n\n');
  const earlier = opening.slice(openingParts(task)).map(textOf).join('\n\n');
  const turns = dropped.map(
    (m) => `${m.role === 'assistant' ? 'AGENT' : 'TOOLS'}:\n${m.content.map(textOf).join('\n')}`,
  );
  const text =
    `The agent's task:\n<task>\n${own}\n</task>\n\n` +
    (earlier ? `Its earlier summary:\n<summary>\n${earlier}\n</summary>\n\n` : '') +
    `The turns to summarise:\n<turns>\n${turns.join('\n\n')}\n</turns>`;
  return [{ role: 'user', content: [{ type: 'text', text }] }];
}

/** The task's conversation with messages before `cut` (after the opening) replaced by `summary`. */
function compacted(task: TaskCheckpoint, summary: string, model: string, cut: number): ChatMessage[] {
  const opening = task.messages[0]!;
  const kept = opening.content.slice(0, openingParts(task));
  kept.push({ type: 'text', text: `${SUMMARY_HEADER} (by ${model})\n${summary.trim()}` });
  return [{ role: opening.role, content: kept }, ...task.messages.slice(cut)];
}

/** How many parts of the opening message are the step's own (context block, prompt), before any summary. */
function openingParts(task: TaskCheckpoint): number {
  return task.contextBlock ? 2 : 1;
}

function textOf(part: ContentPart): string {
  switch (part.type) {
    case 'text':
      return part.text;
    case 'thinking':
      return '';
    case 'toolCall':
      return `${part.name}(${JSON.stringify(part.input ?? {})})`;
    case 'toolResult':
      return `${part.name}${part.isError ? ' failed' : ''}: ${part.content}`;
  }
}
