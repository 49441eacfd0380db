import type { RunnerStep } from './builtins';
import type { TaskCheckpoint } from './checkpoint';

/**
 * Where a task sits in its run's tree, as the step driver placed it when it started driving it: the step it runs,
 * the task above it (a sub-agent's fan-out, or the sub-agent whose steps it runs), and whether its own step's
 * loop, tool-call and wall-time limits bound it. A sub-agent that runs its fan-out's prompt does not own them: the
 * fan-out's limits bound all its sub-agents together.
 *
 * Kept beside the checkpoint (a weak map on the live task objects) rather than in it: it is derived from the
 * workflow each time a run is driven, so a resumed run places its tasks again and nothing stale is stored.
 */
export interface Placement {
  step: RunnerStep;
  parent?: TaskCheckpoint;
  ownsLimits: boolean;
}

const placements = new WeakMap<TaskCheckpoint, Placement>();

export function place(task: TaskCheckpoint, placement: Placement): void {
  placements.set(task, placement);
}

export function placementOf(task: TaskCheckpoint): Placement | undefined {
  return placements.get(task);
}

/** `task`, then each task above it up to the run's step it belongs to. */
export function lineage(task: TaskCheckpoint): TaskCheckpoint[] {
  const out: TaskCheckpoint[] = [];
  for (let t: TaskCheckpoint | undefined = task; t && !out.includes(t); t = placements.get(t)?.parent) out.push(t);
  return out;
}
