// A workflow inventory to start "Estimate Workflow Cost…" from, made from what the workspace has: its workflows
// (built-in and its own) and, where they have run, their last 30 days — runs, and prompt and output tokens per run.
// Plain TypeScript (no vscode import): the unit tests build it from a real store.
import type { Inventory, InventoryWorkflow } from '../core/policy/inventory';
import { dayKey } from '../core/policy/periods';
import type { WorkflowDefinition } from '../core/policy/workflowTypes';
import type { StoreQueries } from '../core/store/queries';
import { completionTokens, promptTokens } from '../core/usage';

/** What a workflow that never ran is assumed to cost per run: a guess to edit, said so in the estimate's source. */
export const GUESS = { runsPerMonth: 20, inputTokensPerRun: 4000, outputTokensPerRun: 800 } as const;

const DAY_MS = 86_400_000;

export function inventoryTemplate(args: {
  workflows: readonly WorkflowDefinition[];
  queries: StoreQueries;
  now: number;
  timeZone?: string;
  /** The model of a workflow that names none and has no history (the runner's default). */
  defaultModel: string;
}): Inventory {
  const { queries: q, now, timeZone } = args;
  const from = now - 30 * DAY_MS;
  const days = { fromDay: dayKey(from, timeZone), toDay: dayKey(now, timeZone) };
  const entries: InventoryWorkflow[] = args.workflows.map((w) => {
    const stats = q.runStats(from, now, { workflow: w.id });
    const runs = stats.reduce((n, r) => n + r.runs, 0);
    const lastVariant = stats.find((r) => r.variant)?.variant ?? undefined;
    const model = w.model ?? w.steps.find((s) => s.model)?.model ?? lastVariant?.split('@')[0] ?? args.defaultModel;
    if (runs === 0) return { id: w.id, model, ...GUESS };
    const usage = q.totals(days, { workflow: w.id }).usage;
    return {
      id: w.id,
      model,
      runsPerMonth: runs,
      inputTokensPerRun: Math.round(promptTokens(usage) / runs),
      outputTokensPerRun: Math.round(completionTokens(usage) / runs),
    };
  });
  return { workflows: entries };
}
