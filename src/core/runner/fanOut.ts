import type { Clock } from '../clock';
import { AgentBudgetError } from '../errors';
import { newId } from '../processIdentity';
import type { StoreQueries } from '../store/queries';
import { parseItems, type RunnerStep } from './builtins';
import { outputsOf, type TaskCheckpoint } from './checkpoint';
import { completeTask } from './conversation';
import type { StepDriver, StepList } from './driver';
import type { Execution } from './execution';
import { place } from './lineage';
import type { StepLimits } from './limits';
import { checkStillWanted, SiblingStopped } from './stop';
import type { WorkspaceTools } from './tools';

/** The outputs a step of `list` sees: the enclosing lists' finished steps', then its own list's. */
export function outputsFor(list: StepList): Record<string, string> {
  return { ...list.outer, ...outputsOf(list.tasks) };
}

/** The most sub-agents of one fan-out when its plan does not say (`max`). */
export const DEFAULT_SUB_AGENTS = 8;

/**
 * Whether the sub-agents of one fan-out should stop: set by the first of them that fails (a budget block, a
 * provider error, a cancel), or by an enclosing fan-out's. The others stop before their next call — never in the
 * middle of one, whose answer would be paid for and lost — and the fan-out rethrows that first error.
 */
export class Halt {
  error: unknown;
  private failed = false;

  constructor(private readonly outer?: Halt) {}

  get stopped(): boolean {
    return this.failed || !!this.outer?.stopped;
  }

  /** A sub-agent ended with `err`: the first real failure stops its siblings (a sibling's own stop is not one). */
  fail(err: unknown): void {
    if (err instanceof SiblingStopped || this.failed) return;
    this.failed = true;
    this.error = err;
  }
}

/**
 * A step's sub-agents (docs/policy.md "Sub-agents"): one child task per item — a line of an earlier step's output or a
 * workspace file matching a glob — each running the step's prompt or its plan's own steps, `concurrency` at a time.
 *
 * Durability: the items are fixed when the fan-out begins, and every child is created (pending) in item order
 * before any runs, so the checkpoint always lists them all; each child's calls checkpoint like any task's, so a
 * resume continues exactly the children that had not finished and repeats no billed call. Budgets: every child's
 * call names its fan-out's scopes (and the pool's, or its share), and each admission is one atomic transaction
 * counting the reservations siblings hold in flight — so the fan-out's limits hold however many run at once.
 */
export class FanOut {
  constructor(
    private readonly driver: StepDriver,
    private readonly parts: {
      clock: Clock;
      queries: () => StoreQueries;
      tools: WorkspaceTools;
      limits: StepLimits;
      readAllowed: () => boolean;
    },
  ) {}

  async run(ex: Execution, list: StepList, step: RunnerStep, parent: TaskCheckpoint): Promise<void> {
    const plan = step.subAgents!;
    if (!parent.items) await this.begin(ex, list, step, parent);
    const items = parent.items!;
    const children = (parent.children ??= []);
    // Runs begun before children were created up front have only the ones that had started.
    for (let i = children.length; i < items.length; i++) {
      const child = await this.newChild(ex, list, step, parent, items[i]!);
      // Listed in item order wherever tasks are sorted by creation (the Runs view, `tasksOfRun`).
      const previous = children[i - 1];
      if (previous && child.createdAt <= previous.createdAt) child.createdAt = previous.createdAt + 1;
      ex.fresh.add(child.taskId);
      children.push(child);
      ex.queueTask(child);
    }
    const halt = new Halt(list.halt);
    const width = Math.max(1, Math.min(plan.concurrency ?? 1, items.length));
    let next = 0;
    const worker = async () => {
      while (next < items.length && !halt.stopped) {
        const i = next++;
        try {
          await this.runChild(ex, list, step, parent, i, halt);
        } catch (err) {
          halt.fail(err);
        }
      }
    };
    this.parts.limits.startClock(ex, parent);
    ex.concurrent += width - 1;
    try {
      await Promise.all(Array.from({ length: width }, worker));
    } finally {
      ex.concurrent -= width - 1;
      this.parts.limits.stopClock(ex, parent);
    }
    if (halt.error !== undefined) throw halt.error;
    if (halt.stopped) throw new SiblingStopped();
    parent.output = children.length
      ? children.map((c, i) => `### ${items[i]}\n\n${c.output ?? ''}`).join('\n\n')
      : `(no files match ${plan.files})`;
  }

  /** Fixes the items and, for a pool, what the parent had used when the pool began. */
  private async begin(ex: Execution, list: StepList, step: RunnerStep, parent: TaskCheckpoint): Promise<void> {
    const plan = step.subAgents!;
    const max = plan.max ?? DEFAULT_SUB_AGENTS;
    let items: string[];
    if (plan.files !== undefined) {
      if (!this.parts.readAllowed()) {
        throw new AgentBudgetError(
          'config',
          `Step "${step.id}" fans out over the files matching "${plan.files}", which reads them without asking; ` +
            'readFile is not in tools.allow of your policy. Add it there, or fan out over a list instead, and resume.',
        );
      }
      items = await this.parts.tools.matchFiles(plan.files, max);
    } else {
      items = parseItems(outputsFor(list)[plan.itemsFrom!] ?? '', max);
      // A plan that listed nothing still gets one sub-agent, on the whole question.
      if (items.length === 0) items = [ex.state.input.input?.trim() || step.title || step.id];
    }
    parent.items = items;
    parent.children = [];
    if (plan.budget?.pool !== undefined) {
      const tree = this.parts.queries().taskTreeTotals(parent.taskId);
      parent.poolFrom = tree.tokens;
      if (plan.budget.maxUsd !== undefined) parent.poolFromMicros = tree.costMicros;
    }
  }

  /** The child task of one item, pending: it runs the step's prompt, or (a plan with steps) its own steps. */
  private async newChild(
    ex: Execution,
    list: StepList,
    step: RunnerStep,
    parent: TaskCheckpoint,
    item: string,
  ): Promise<TaskCheckpoint> {
    const plan = step.subAgents!;
    const itemContent = plan.files !== undefined ? await this.readItem(item) : undefined;
    let child: TaskCheckpoint;
    if (plan.steps) {
      const now = this.parts.clock.now();
      child = {
        taskId: newId(now),
        createdAt: now,
        stepId: step.id,
        status: 'pending',
        provider: parent.provider,
        model: parent.model,
        messages: [],
        toolResults: [],
        calls: 0,
        toolCalls: 0,
        wallMs: 0,
        parentTaskId: parent.taskId,
        item,
        ...(itemContent !== undefined ? { itemContent } : {}),
        steps: [],
      };
    } else {
      const render = { item: list.item, itemContent: list.itemContent, outputs: outputsFor(list) };
      child = await this.driver.newTask(ex.state, step, { parent, child: { item, itemContent }, render });
      child.status = 'pending';
    }
    return child;
  }

  /** A file item's text, read as the readFile tool reads it (confined, size-capped, binary refused). */
  private async readItem(file: string): Promise<string> {
    try {
      return await (await this.parts.tools.plan('readFile', { path: file })).execute();
    } catch (err) {
      return `(could not read ${file}: ${(err as Error).message})`;
    }
  }

  /** Sub-agent `i` of `parent`, from wherever its checkpoint left off. */
  private async runChild(
    ex: Execution,
    list: StepList,
    step: RunnerStep,
    parent: TaskCheckpoint,
    i: number,
    halt: Halt,
  ): Promise<void> {
    const plan = step.subAgents!;
    const items = parent.items!;
    const child = parent.children![i]!;
    if (child.status === 'completed') return;
    checkStillWanted(ex, halt);
    this.parts.limits.checkWallTime(ex, step, parent, this.parts.limits.of(ex, step));
    child.status = 'running';
    if (plan.budget?.share !== undefined && child.shareFrom === undefined) {
      // A share is of what the fan-out has left when this child starts (settled use; siblings' holds count at
      // each admission anyway, against the fan-out's own limits).
      const tree = this.parts.queries().taskTreeTotals(parent.taskId);
      child.shareFrom = tree.tokens;
      if (plan.budget.maxUsd !== undefined) child.shareFromMicros = tree.costMicros;
    }
    ex.queueTask(child);
    place(child, { step, parent, ownsLimits: false });
    const title = `${list.titlePrefix}${step.title ?? step.id} ${i + 1}/${items.length}: ${items[i]}`;
    ex.emit({ type: 'stepStarted', runId: ex.runId, stepId: step.id, title, model: child.model });
    if (plan.steps) {
      const tasks = (child.steps ??= []);
      await this.driver.runList(ex, {
        steps: plan.steps,
        tasks,
        owner: child,
        outer: outputsFor(list),
        item: child.item,
        itemContent: child.itemContent,
        titlePrefix: `${title} › `,
        halt,
      });
      child.output = tasks[tasks.length - 1]?.output ?? '';
    } else {
      await this.driver.runTask(ex, step, child, halt);
    }
    completeTask(child);
    ex.queueTask(child);
  }
}
