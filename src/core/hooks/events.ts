import path from 'node:path';
import type { BudgetAlert, BudgetDecision, ScopeUse } from '../budget/types';
import { formatUsd } from '../money';
import type { HookEventName } from '../policy/types';
import type { RunStatus } from '../store/records';

/**
 * What a hook receives: one JSON object per event, on a command's stdin or as a webhook's body. It says which event,
 * scope, figures, period, run and workflow — never an API key, a prompt, an output, a file path or a run's input
 * (a run's title is built from its input, so it is left out too).
 */
export interface HookEvent {
  /** Always `agent-budget.hook`. */
  type: 'agent-budget.hook';
  event: HookEventName;
  /** One line for people (chat webhooks display it). */
  text: string;
  /** The workspace folder's name (not its path). */
  workspace: string;
  /** When it happened (ISO). */
  time: string;
  runId: string | null;
  workflow: string | null;
  /** The step (task name) whose call it was. */
  task: string | null;
  model: string | null;
  /** `workspace.daily`, `workflow.code-review.monthly`, `task`, `session`, `pool`, `task.usd`, `rule`, … */
  scope: string | null;
  /** The period of a USD cap: `2026-11-22`, `2026-W47`, `2026-11`; null for a run's or task's own scope. */
  period: string | null;
  /** `usd` (figures in µ$) or `tokens`. */
  unit: 'usd' | 'tokens' | null;
  used: number | null;
  /** Held by calls in flight. */
  reserved: number | null;
  limit: number | null;
  /** (used + reserved) ÷ limit × 100, rounded down. */
  pct: number | null;
  /** When a blocking period resets (ISO). */
  resetsAt: string | null;
  /** What the budget said: warnings, the block's message, the error a run stopped with. */
  messages: string[];
  /** The run's status (onRunFinished; onBlock of a run: `blocked`). */
  status: RunStatus | null;
  /** The run's whole cost so far (µ$). */
  costMicros: number | null;
}

/** The parts every event shares, with nothing known yet. */
function base(event: HookEventName, workspaceFolder: string, now: number): HookEvent {
  return {
    type: 'agent-budget.hook',
    event,
    text: '',
    workspace: path.basename(workspaceFolder),
    time: new Date(now).toISOString(),
    runId: null,
    workflow: null,
    task: null,
    model: null,
    scope: null,
    period: null,
    unit: null,
    used: null,
    reserved: null,
    limit: null,
    pct: null,
    resetsAt: null,
    messages: [],
    status: null,
    costMicros: null,
  };
}

/** A scope's figures; a USD cap's period is its counter key's suffix (`workspace.daily@2026-11-22`). */
export function scopeFigures(
  use: ScopeUse,
): Pick<HookEvent, 'scope' | 'period' | 'unit' | 'used' | 'reserved' | 'limit' | 'pct'> {
  const periodScope = use.scope.startsWith('workspace.') || use.scope.startsWith('workflow.');
  return {
    scope: use.scope,
    period: periodScope ? (use.key.split('@')[1] ?? null) : null,
    unit: use.unit,
    used: use.used,
    reserved: use.reserved,
    limit: use.limit ?? null,
    pct: use.limit ? Math.floor(((use.used + use.reserved) / use.limit) * 100) : null,
  };
}

function amount(unit: 'usd' | 'tokens' | null, n: number | null): string {
  if (n === null) return '?';
  return unit === 'usd' ? formatUsd(n) : `${n.toLocaleString('en-US')} tokens`;
}

const VERB: Record<BudgetDecision['action'], string> = {
  warn: 'warned',
  degrade: 'degraded a call',
  block: 'blocked a call',
};
const EVENT_OF: Record<BudgetDecision['action'], HookEventName> = {
  warn: 'onWarn',
  degrade: 'onDegrade',
  block: 'onBlock',
};

export function decisionEvent(d: BudgetDecision, workspaceFolder: string, now: number): HookEvent {
  const e: HookEvent = {
    ...base(EVENT_OF[d.action], workspaceFolder, now),
    runId: d.runId,
    workflow: d.workflow,
    task: d.task,
    model: d.model,
    messages: d.messages,
    resetsAt: d.resetsAt !== undefined ? new Date(d.resetsAt).toISOString() : null,
    ...(d.scope ? scopeFigures(d.scope) : {}),
  };
  const where = e.scope
    ? ` at ${e.scope}${e.period ? ` (${e.period})` : ''}: ${amount(e.unit, e.used)} of ${amount(e.unit, e.limit)}`
    : '';
  e.text = `Agent Budget ${VERB[d.action]} in ${e.workspace} (${d.workflow}${d.task ? ` › ${d.task}` : ''})${where}.`;
  return e;
}

export function alertEvent(a: BudgetAlert, workspaceFolder: string, now: number): HookEvent {
  const e: HookEvent = {
    ...base('onAlert', workspaceFolder, now),
    scope: a.scope,
    period: a.periodKey,
    unit: 'usd',
    used: a.usedMicros,
    reserved: 0,
    limit: a.limitMicros,
    pct: a.pct,
    workflow: a.scope.startsWith('workflow.') ? a.scope.slice('workflow.'.length, a.scope.lastIndexOf('.')) : null,
  };
  e.text = `Agent Budget: ${a.scope} (${a.periodKey}) passed ${a.pct}% of its cap in ${e.workspace}: ${formatUsd(a.usedMicros)} of ${formatUsd(a.limitMicros)}.`;
  return e;
}

/** A run that stopped (onRunFinished), or was blocked (onBlock: `figures` from the engine's block, when it was one). */
export function runEvent(
  event: 'onRunFinished' | 'onBlock',
  run: { id: string; workflow: string; status: RunStatus; costMicros: number; error?: string; blockedScope?: string },
  workspaceFolder: string,
  now: number,
  figures?: BudgetDecision,
): HookEvent {
  const e: HookEvent = {
    ...base(event, workspaceFolder, now),
    runId: run.id,
    workflow: run.workflow,
    status: run.status,
    costMicros: run.costMicros,
    messages: run.error ? [run.error] : [],
    scope: run.blockedScope ?? null,
  };
  if (figures) {
    Object.assign(e, {
      task: figures.task,
      model: figures.model,
      resetsAt: figures.resetsAt !== undefined ? new Date(figures.resetsAt).toISOString() : null,
      ...(figures.scope ? scopeFigures(figures.scope) : {}),
    });
  }
  e.text =
    event === 'onBlock'
      ? `Agent Budget blocked run ${run.id} (${run.workflow}) in ${e.workspace}${e.scope ? ` at ${e.scope}` : ''}: ${run.error ?? ''}`.trim()
      : `Agent Budget: run ${run.id} (${run.workflow}) in ${e.workspace} ${run.status}, ${formatUsd(run.costMicros)}.`;
  return e;
}
