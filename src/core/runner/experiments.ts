import { createHash } from 'node:crypto';
import { AgentBudgetError } from '../errors';
import type { BudgetPolicy, ExperimentPolicy } from '../policy/types';
import type { StoreQueries } from '../store/queries';
import type { RunnerWorkflow } from './builtins';
import type { RunData } from './status';

/**
 * Experiments (docs/policy.md "Experiments"): `experiments.<workflow>` splits the workflow's runs between variants — a
 * model, a prompt version, or both — deterministically by a hash of the run id, until it has assigned `until.runs`
 * runs. The run records its variant in its row (`variant`, as every run does) and its arm in its data, so the
 * report and the panel compare exactly the runs the experiment assigned.
 */

/** What a run of an experiment records in its data. */
export interface ExperimentMark {
  /** The experiment as configured (its variants and split): editing them starts a new one. */
  id: string;
  /** Which variant, by index. */
  arm: number;
}

export interface AssignedVariant extends ExperimentMark {
  model?: string;
  promptVersion?: string;
}

/** A short hash of what defines the experiment: its variants and split. */
export function experimentId(exp: ExperimentPolicy): string {
  const text = JSON.stringify({ variants: exp.variants, split: splitOf(exp) });
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/** The split in percent per variant; an even one when the policy gives none. */
export function splitOf(exp: ExperimentPolicy): number[] {
  return exp.split ?? exp.variants.map(() => 100 / exp.variants.length);
}

/** A run's bucket in [0, 10000): the first four bytes of sha256(run id), so it is fixed by the id alone. */
export function bucketOf(runId: string): number {
  return createHash('sha256').update(runId).digest().readUInt32BE(0) % 10_000;
}

/** The variant whose share of [0, 100 %) holds `bucket` (in hundredths of a percent). */
export function armFor(bucket: number, split: readonly number[]): number {
  let upTo = 0;
  for (let i = 0; i < split.length; i++) {
    upTo += split[i]! * 100;
    if (bucket < upTo) return i;
  }
  return split.length - 1;
}

/**
 * The variant a new run of `workflow` gets, or undefined when no experiment is running on it (none set, or it has
 * assigned `until.runs` already). `assigned(id)`: how many runs the experiment `id` has assigned so far.
 */
export function assignVariant(
  policy: BudgetPolicy,
  workflow: string,
  runId: string,
  assigned: (experimentId: string) => number,
): AssignedVariant | undefined {
  const exp = policy.experiments[workflow];
  if (!exp || exp.variants.length < 2) return undefined;
  const id = experimentId(exp);
  if (exp.until && assigned(id) >= exp.until.runs) return undefined;
  const arm = armFor(bucketOf(runId), splitOf(exp));
  return { id, arm, ...exp.variants[arm] };
}

/**
 * `workflow` in prompt version `version`: its base (its own `version`) as it is, or one of its `versions` with the
 * system prompt and the prompts of the steps it names replaced. `from` names where the version was asked for.
 */
export function withPromptVersion(workflow: RunnerWorkflow, version: string, from: string): RunnerWorkflow {
  const chosen = workflow.versions?.[version];
  if (!chosen && version === workflow.version) return workflow;
  if (!chosen) {
    const known = [...(workflow.version ? [workflow.version] : []), ...Object.keys(workflow.versions ?? {})];
    throw new AgentBudgetError(
      'config',
      `${from} asks for prompt version "${version}" of the workflow "${workflow.id}", which has ${known.length ? known.map((v) => `"${v}"`).join(', ') : 'no named versions'}. ` +
        `Add "${version}" under "versions" in its workflow file, or name one of those.`,
    );
  }
  return {
    ...workflow,
    version,
    ...(chosen.system !== undefined ? { system: chosen.system } : {}),
    steps: workflow.steps.map((step) => {
      const over = chosen.steps?.[step.id];
      return over
        ? {
            ...step,
            ...(over.prompt !== undefined ? { prompt: over.prompt } : {}),
            ...(over.system !== undefined ? { system: over.system } : {}),
          }
        : step;
    }),
  };
}

/**
 * The workflow in the prompt version a new run uses, and the experiment's variant it was assigned: a run given an
 * explicit model (`explicitModel`) is the user's choice and takes part in no experiment. Otherwise the variant's
 * prompt version wins over the one `workflows.<id>.promptVersion` routes to.
 */
export function runVariant(
  policy: BudgetPolicy,
  found: RunnerWorkflow,
  runId: string,
  explicitModel: string | undefined,
  queries: StoreQueries,
): { workflow: RunnerWorkflow; variant?: AssignedVariant } {
  const variant =
    explicitModel === undefined
      ? assignVariant(policy, found.id, runId, (id) => assignedRuns(queries, found.id, id))
      : undefined;
  const routed = policy.workflows[found.id]?.promptVersion;
  let workflow = found;
  if (variant?.promptVersion)
    workflow = withPromptVersion(found, variant.promptVersion, `experiments.${found.id}.variants[${variant.arm}]`);
  else if (routed) workflow = withPromptVersion(found, routed, `workflows.${found.id}.promptVersion`);
  return { workflow, ...(variant ? { variant } : {}) };
}

/** How many runs of `workflow` the experiment `id` has assigned. */
function assignedRuns(queries: StoreQueries, workflow: string, id: string): number {
  return queries
    .listRuns({ workflow, limit: Number.MAX_SAFE_INTEGER })
    .filter((r) => (r.data as RunData | null)?.experiment?.id === id).length;
}
