import { withLevel, type BudgetLevel, type ClientCaps } from '../budget/engine';
import { usdToMicros } from '../money';
import { effectiveLimits, stepTaskLimits } from '../policy/effective';
import type { RunnerStep } from '../runner/builtins';
import { readCheckpoint } from '../runner/checkpoint';
import type { RunStatus } from '../store/records';
import type { Workspace } from '../workspace';

/**
 * The JSON documents of `agent-budget status --json` and `agent-budget runs --json` (docs/cli.md), built here so the CLI
 * and the proxy's read API (`/agent-budget/v1/status`, `/runs`) print the same thing. (`report --json` is
 * buildReport in report.ts.)
 */

/**
 * One row of `agent-budget status --json` (docs/cli.md), plus reservedMicros/reservedTokens (in flight: counted in pct
 * and level, not in used), resetsAt, and runId/taskId/step for the token scopes of running runs.
 */
export interface StatusScope {
  scope: string;
  usedMicros: number | null;
  limitMicros: number | null;
  usedTokens: number | null;
  limitTokens: number | null;
  pct: number;
  level: BudgetLevel;
  reservedMicros?: number;
  reservedTokens?: number;
  resetsAt?: string;
  runId?: string;
  taskId?: string;
  step?: string;
}

/**
 * Every active budget scope as the status bar sees it: the capped USD scopes of the workspace and of each
 * workflow for the current periods, and the session and running tasks of each running run. Each row's used amount
 * is what has settled; calls in flight are `reserved…` and count toward pct and level, as the engine admits them.
 * `clients` are the proxy's clients with their own caps (`client.<name>.daily|monthly` rows).
 */
export function collectStatus(
  workspace: Workspace,
  now: number,
  clients: Readonly<Record<string, ClientCaps>> = {},
): StatusScope[] {
  const scopes: StatusScope[] = workspace.engine.status(now, clients).map((s) => ({
    scope: s.scope,
    usedMicros: s.used,
    limitMicros: s.limit ?? null,
    usedTokens: null,
    limitTokens: null,
    pct: round1(s.pct),
    level: s.level,
    reservedMicros: s.reserved,
    resetsAt: s.resetsAt === undefined ? undefined : new Date(s.resetsAt).toISOString(),
  }));
  const q = workspace.store.queries;
  const open = q.openReservations();
  const reservedTokens = (key: string) => open.reduce((sum, r) => sum + (r.scopes.includes(key) ? r.tokens : 0), 0);
  const tokenRow = (
    scope: 'session' | 'task',
    key: string,
    used: number,
    limits: { softTokens?: number; hardTokens?: number },
  ) => {
    const reserved = reservedTokens(key);
    const use = withLevel({
      scope,
      key,
      unit: 'tokens',
      used,
      reserved,
      limit: limits.hardTokens,
      soft: limits.softTokens,
    });
    return {
      usedTokens: used,
      limitTokens: limits.hardTokens ?? null,
      reservedTokens: reserved,
      pct: round1(use.pct),
      level: use.level,
    };
  };
  // A task's or run's dollar limit (`task.usd`, `session.usd`): a row of its own when the policy sets one.
  const spendRow = (
    scope: 'session.usd' | 'task.usd',
    key: string,
    used: number,
    limits: { softUsd?: number; hardUsd?: number },
    where: Pick<StatusScope, 'runId' | 'taskId' | 'step'>,
  ): void => {
    if (limits.hardUsd === undefined && limits.softUsd === undefined) return;
    const reserved = open.reduce((sum, r) => sum + (r.scopes.includes(key) ? r.micros : 0), 0);
    const limit = limits.hardUsd === undefined ? undefined : usdToMicros(limits.hardUsd);
    const soft = limits.softUsd === undefined ? undefined : usdToMicros(limits.softUsd);
    const use = withLevel({ scope, key, unit: 'usd', used, reserved, limit, soft });
    scopes.push({
      scope,
      usedMicros: used,
      limitMicros: limit ?? null,
      usedTokens: null,
      limitTokens: null,
      pct: round1(use.pct),
      level: use.level,
      reservedMicros: reserved,
      ...where,
    });
  };
  for (const run of q.listRuns({ status: ['running'] })) {
    const limits = effectiveLimits(workspace.policy, run.workflow);
    scopes.push({
      scope: 'session',
      usedMicros: run.costMicros,
      limitMicros: null,
      reservedMicros: open.reduce((sum, r) => sum + (r.runId === run.id ? r.micros : 0), 0),
      ...tokenRow('session', `session@${run.id}`, run.tokens, limits.session),
      runId: run.id,
    });
    spendRow('session.usd', `session.usd@${run.id}`, run.costMicros, limits.session, { runId: run.id });
    const steps = workflowSteps(q.checkpoint(run.id)?.state);
    for (const task of q.tasksOfRun(run.id)) {
      if (task.status !== 'running') continue;
      // The step's limits tighten the policy's (a sub-agent's share or pool of its parent is not shown here).
      const taskLimits = stepTaskLimits(limits.task, steps.find((st) => st.id === task.name)?.limits);
      // A task's scope holds its sub-agents' calls too: its use is its whole tree's.
      const tree = q.taskTreeTotals(task.id);
      scopes.push({
        scope: 'task',
        usedMicros: tree.costMicros,
        limitMicros: null,
        ...tokenRow('task', `task@${task.id}`, tree.tokens, taskLimits),
        runId: run.id,
        taskId: task.id,
        step: task.name,
      });
      spendRow('task.usd', `task.usd@${task.id}`, tree.costMicros, taskLimits, {
        runId: run.id,
        taskId: task.id,
        step: task.name,
      });
    }
  }
  return scopes;
}

/** The steps of the workflow a run started with, from its checkpoint (none when it cannot be read). */
function workflowSteps(state: unknown): RunnerStep[] {
  try {
    return readCheckpoint(state).workflow.steps;
  } catch {
    return [];
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/** One row of `agent-budget runs --json` (docs/cli.md), plus the run's title. */
export interface RunRow {
  runId: string;
  workflow: string;
  status: RunStatus;
  createdAt: string;
  updatedAt: string;
  costMicros: number;
  title: string;
}

/** The runs of the workspace, newest first (at most `limit`, default 500), optionally with one of `status`. */
export function runsDocument(workspace: Workspace, options: { status?: RunStatus[]; limit?: number } = {}): RunRow[] {
  return workspace.store.queries.listRuns(options).map((r) => ({
    runId: r.id,
    workflow: r.workflow,
    status: r.status,
    createdAt: new Date(r.createdAt).toISOString(),
    updatedAt: new Date(r.updatedAt).toISOString(),
    costMicros: r.costMicros,
    title: r.title,
  }));
}
