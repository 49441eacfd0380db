import type { RunStatus } from '../store/records';
import type { StoreQueries } from '../store/queries';
import type { TokenUsage } from '../usage';
import type { RunOutcome } from './api';
import type { Execution } from './execution';
import type { RunData } from './status';

/** A run's outcome as the store has it now: its status, cost and tokens, each step's, and why it stopped short. */
export function outcomeOf(ex: Execution, q: StoreQueries): RunOutcome {
  const run = q.getRun(ex.runId);
  const usage: TokenUsage = q.runUsage(ex.runId, ex.run.createdAt);
  const data = (run?.data ?? ex.run.data ?? {}) as RunData;
  const steps = ex.state.workflow.steps.map((s, i) => {
    const t = ex.state.steps[i];
    return {
      id: s.id,
      status: t?.status ?? ('pending' as RunStatus),
      costMicros: t ? q.taskTreeTotals(t.taskId).costMicros : 0,
      ...(t?.output !== undefined ? { output: t.output } : {}),
    };
  });
  const lastOutput = [...steps].reverse().find((s) => s.output !== undefined)?.output;
  const status = run?.status ?? ex.run.status;
  const totals = q.runTotals(ex.runId);
  return {
    runId: ex.runId,
    workflow: ex.run.workflow,
    status,
    costMicros: totals.costMicros,
    estimatedMicros: totals.estimatedMicros,
    tokens: {
      input: usage.input,
      output: usage.output,
      cacheRead: usage.cacheRead,
      cacheWrite: usage.cacheWrite5m + usage.cacheWrite1h,
      reasoning: usage.reasoning,
    },
    steps,
    ...(lastOutput !== undefined ? { output: lastOutput } : {}),
    ...(status !== 'completed' && data.error ? { error: data.error } : {}),
    ...(status !== 'completed' && data.errorKind ? { errorKind: data.errorKind } : {}),
    ...(status === 'blocked' && data.blockedScope ? { blockedScope: data.blockedScope } : {}),
    ...((status === 'blocked' || status === 'paused') && data.resumeAfter !== undefined
      ? { resumeAfter: data.resumeAfter }
      : {}),
    title: run?.title ?? ex.run.title,
  };
}
