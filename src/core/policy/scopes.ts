import { PERIODS, type Period } from './periods';
import { WORKFLOW_ID_RULE, isWorkflowId } from './workflowTypes';

/**
 * Scope names, as written in rules and printed by `agent-budget status` (docs/policy.md):
 * `task`, `session` (their tokens), `task.usd`, `session.usd` (their dollars), `workflow.<id>.daily|weekly|monthly`,
 * `workspace.daily|weekly|monthly`.
 * A workflow id may contain dots (`workflow.team.review.daily`): the name splits on its first and last dot, and
 * `workflow.` plus a period suffix is never part of an id, so every name has exactly one reading.
 */
export type ScopeRef =
  | { kind: 'task' }
  | { kind: 'session' }
  | { kind: 'task.usd' }
  | { kind: 'session.usd' }
  | { kind: 'workflow'; workflowId: string; period: Period }
  | { kind: 'workspace'; period: Period };

export type ScopeKind = ScopeRef['kind'];

function isPeriod(s: string): s is Period {
  return (PERIODS as readonly string[]).includes(s);
}

/** Why `name` is not a scope name, in plain words (with a suggestion where one is likely); undefined when it is. */
export function scopeNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'must be a scope name (a string)';
  if (RUN_SCOPES.includes(name)) return undefined;
  const use =
    'use "task", "session", "task.usd", "session.usd", "workspace.daily|weekly|monthly" or "workflow.<id>.daily|weekly|monthly"';
  const first = name.indexOf('.');
  const last = name.lastIndexOf('.');
  const head = first < 0 ? name : name.slice(0, first);
  if (head === 'workspace' || head === 'workflow') {
    if (first < 0)
      return `"${name}" needs a period: "${head === 'workspace' ? 'workspace' : 'workflow.<id>'}.daily", ".weekly" or ".monthly"`;
    const period = name.slice(last + 1);
    if (head === 'workflow' && first === last) {
      return isPeriod(period)
        ? `"${name}" needs a workflow id: "workflow.<id>.${period}"`
        : `"${name}" needs a workflow id and a period: "workflow.<id>.daily|weekly|monthly"`;
    }
    if (head === 'workspace' && first !== last) return `"${name}" is not a scope name; ${use}`;
    if (!isPeriod(period)) {
      const near = closest(period, PERIODS);
      return `"${period}" is not a period; use daily, weekly or monthly${near ? ` (did you mean "${name.slice(0, last + 1)}${near}"?)` : ''}`;
    }
    if (head === 'workflow') {
      const id = name.slice(first + 1, last);
      if (!isWorkflowId(id)) return `"${id}" is not a workflow id: use ${WORKFLOW_ID_RULE}`;
    }
    return undefined;
  }
  if (head === 'task' || head === 'session') {
    const near = closest(name, RUN_SCOPES);
    return `"${name}" is not a scope name; ${use}${near ? ` (did you mean "${near}"?)` : ''}`;
  }
  const near = first < 0 ? closest(name, ['task', 'session']) : closest(head, ['workspace', 'workflow']);
  const fix = near === undefined ? undefined : first < 0 ? near : `${near}${name.slice(first)}`;
  return `"${name}" is not a scope name; ${use}${fix ? ` (did you mean "${fix}"?)` : ''}`;
}

/** Parses a scope name; undefined when it is not one (see scopeNameProblem for why). */
export function parseScope(name: string): ScopeRef | undefined {
  if (name === 'task' || name === 'session' || name === 'task.usd' || name === 'session.usd') return { kind: name };
  if (scopeNameProblem(name) !== undefined) return undefined;
  const first = name.indexOf('.');
  const last = name.lastIndexOf('.');
  const period = name.slice(last + 1) as Period;
  if (name.startsWith('workspace.')) return { kind: 'workspace', period };
  return { kind: 'workflow', workflowId: name.slice(first + 1, last), period };
}

export function formatScope(scope: ScopeRef): string {
  switch (scope.kind) {
    case 'task':
    case 'session':
    case 'task.usd':
    case 'session.usd':
      return scope.kind;
    case 'workspace':
      return `workspace.${scope.period}`;
    case 'workflow':
      return `workflow.${scope.workflowId}.${scope.period}`;
  }
}

/** The scopes that last as long as a task or a run: their tokens, and their dollars. */
const RUN_SCOPES = ['task', 'session', 'task.usd', 'session.usd'];

/** The period of a USD scope; undefined for task and session scopes (they last as long as the task or run). */
export function scopePeriod(scope: ScopeRef): Period | undefined {
  return scope.kind === 'workflow' || scope.kind === 'workspace' ? scope.period : undefined;
}

/** The option within edit distance 2 of `word` (case-insensitive), if exactly one is nearest. */
export function closest(word: string, options: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  const w = word.toLowerCase();
  for (const option of options) {
    const d = editDistance(w, option.toLowerCase());
    if (d < bestDistance) {
      best = option;
      bestDistance = d;
    }
  }
  return best !== undefined && best !== word ? best : undefined;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}
