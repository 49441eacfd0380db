import {
  approvalOnResume,
  pendingToolCalls,
  UntrustedRunError,
  witnessed,
  type ForeignRun,
} from '../trust/resumeGuard';
import { systemClock, type Clock } from '../clock';
import { Meter } from '../metering/meter';
import type { PolicyError } from '../policy/issues';
import type { WorkflowDefinition } from '../policy/workflowTypes';
import { newId } from '../processIdentity';
import type { Workspace } from '../workspace';
import type { Approver, ProviderAccess, RunInput, RunOptions, RunOutcome } from './api';
import { BUILTIN_WORKFLOWS, runTitle, type RunnerWorkflow } from './builtins';
import { allTasks, CHECKPOINT_VERSION, type RunCheckpointState, type TaskCheckpoint } from './checkpoint';
import { PromptCalibration, readSamples } from '../report/calibration';
import { promptVersion } from './conversation';
import { claimRun, stoppedRun } from './claim';
import { Compaction } from './compaction';
import { StepDriver } from './driver';
import { PromptEstimates } from './estimates';
import { appendFollowUp } from './followUp';
import { RunLookupError } from './errors';
import { Execution } from './execution';
import { StepLimits } from './limits';
import { ModelCall } from './modelCall';
import { ModelChoice } from './models';
import { outcomeOf } from './outcome';
import { quoteRun, type RunQuote } from './quote';
import { CallPlanner } from './request';
import { runData, runInStatus, runRecord, startedRun, storedRun, taskInStatus, type RunData } from './status';
import { runVariant } from './experiments';
import { crashedTwiceError, runStopOf } from './stop';
import { ToolCalls } from './toolCalls';
import { WorkspaceTools } from './tools';
import type { ToolLimits } from './toolSpecs';
import { WorkflowCatalog } from './workflows';

export type {
  ApprovalRequest,
  Approver,
  ProviderAccess,
  RunErrorKind,
  RunEvent,
  RunInput,
  RunOptions,
  RunOutcome,
} from './api';
export { MissingApiKeyError, RunInputError, RunLookupError, WorkflowNotFoundError } from './errors';
export { quoteText, type RunQuote } from './quote';

/**
 * The durable workflow runner: runs workflows step by step through the budget, checkpointing after every call and
 * tool call so a run survives a crash, a reload, a budget block or a network failure and continues without redoing
 * finished work or paying twice. This file is a run's lifecycle — start, resume, continue, cancel, and how it ends;
 * its rooms: the per-run state and its durable writes (execution.ts), taking a stopped run back from the store
 * (claim.ts), follow-ups (followUp.ts), the step driver (driver.ts), the metered LLM call (modelCall.ts), tool calls
 * (toolCalls.ts), step limits (limits.ts), the conversation (conversation.ts), the request each call sends
 * (request.ts, caching.ts, estimates.ts), compaction (compaction.ts), the quote (quote.ts), model choice (models.ts),
 * experiments (experiments.ts), workflows and input (workflows.ts), status records (status.ts).
 */
export class Runner {
  private readonly workspace: Workspace;
  private readonly providers: ProviderAccess;
  private readonly clock: Clock;
  readonly tools: WorkspaceTools;
  private readonly catalog: WorkflowCatalog;
  private readonly driver: StepDriver;
  private readonly running = new Map<string, Execution>();
  /** Runs being resumed (between the checks and `drive`), so a second resume in this process is refused. */
  private readonly claiming = new Set<string>();
  private readonly subscription: { dispose(): void };
  private readonly models: ModelChoice;
  /** The prompt estimates people see (quotes, warnings, the ledger's estimate), calibrated on this workspace. */
  readonly estimates: PromptEstimates;

  constructor(deps: {
    workspace: Workspace;
    providers: ProviderAccess;
    approver: Approver;
    clock?: Clock;
    /** Limits of the tools (read size, command timeout…); defaults in toolSpecs.ts. */
    toolLimits?: Partial<ToolLimits>;
    /** The built-in workflows (default BUILTIN_WORKFLOWS); tests and the benchmark hand in their own. */
    builtins?: readonly RunnerWorkflow[];
  }) {
    const workspace = (this.workspace = deps.workspace);
    this.providers = deps.providers;
    this.clock = deps.clock ?? systemClock;
    this.tools = new WorkspaceTools(workspace.folder, { stateDir: workspace.store.dir, limits: deps.toolLimits });
    this.catalog = new WorkflowCatalog(workspace.folder, deps.builtins ?? BUILTIN_WORKFLOWS, this.tools);
    const policy = () => workspace.engine.currentPolicy;
    const queries = () => workspace.store.queries;
    const limits = new StepLimits(policy, queries, this.clock);
    const models = (this.models = new ModelChoice(policy, deps.providers));
    // The workspace's prompt calibration, from its recent runs' samples (report/calibration.ts).
    this.estimates = new PromptEstimates(
      new PromptCalibration(() =>
        queries()
          .listRuns({ limit: 100 })
          .map((r) => (r.data as RunData | null)?.prompts),
      ),
    );
    const meter = new Meter(workspace.engine, () => workspace.team?.gate);
    const planner = new CallPlanner({ policy, limits, models, estimates: this.estimates });
    const compaction = new Compaction({
      meter,
      planner,
      models,
      estimates: this.estimates,
      now: () => this.clock.now(),
    });
    this.driver = new StepDriver({
      clock: this.clock,
      queries,
      tools: this.tools,
      limits,
      models,
      modelCall: new ModelCall(meter, deps.providers, limits, models, planner, this.estimates, compaction),
      toolCalls: new ToolCalls(workspace.engine, this.tools, deps.approver, limits),
      readAllowed: () => policy().tools.allow.includes('readFile'),
    });
    // A run of ours marked cancelled by another window or `agent-budget` process: stop it like a local cancel (the
    // stream in flight stops at once). Remote records arrive with the store's poll or our own next write.
    this.subscription = this.store.onDidApply(({ records, origin }) => {
      if (origin !== 'remote') return;
      for (const r of records) {
        if (r.k === 'run' && r.run.status === 'cancelled') this.running.get(r.run.id)?.abort.abort('cancelled');
      }
    });
  }

  /** Stops following the store. Runs still going keep going until they end (their front end cancels them). */
  dispose(): void {
    this.subscription.dispose();
  }

  private get store() {
    return this.workspace.store;
  }

  /** Built-in workflows (replaced by a workspace file with the same id) and the workspace's own, with broken files as errors. */
  listWorkflows(): Promise<{ workflows: WorkflowDefinition[]; errors: PolicyError[] }> {
    return this.catalog.list();
  }

  active(): string[] {
    return [...this.running.keys()];
  }

  /**
   * Starts a run and resolves when it completed or stopped (blocked, paused, failed, cancelled). Throws — and records
   * no run — when it cannot start: an invalid policy or workflow file (PolicyError), an unknown workflow, no usable
   * input, an unpriced model, or no key for the first step's provider.
   */
  async start(workflowId: string, input: RunInput, options: RunOptions = {}): Promise<RunOutcome> {
    this.assertPolicy();
    const now = this.clock.now();
    const runId = newId(now);
    const { workflow, variant } = runVariant(
      this.workspace.engine.currentPolicy,
      await this.catalog.find(workflowId),
      runId,
      input.model,
      this.store.queries,
    );
    const prepared = await this.catalog.prepareInput(workflow, input);
    if (variant?.model) prepared.model = variant.model;
    const state: RunCheckpointState = {
      v: CHECKPOINT_VERSION,
      workflow,
      promptVersion: promptVersion(workflow),
      input: prepared,
      steps: [],
    };
    const first = await this.driver.newTask(state, workflow.steps[0]!, {});
    const adapter = await this.providers.adapter(first.provider);
    state.steps.push(first);
    const experiment = variant ? { experiment: { id: variant.id, arm: variant.arm } } : {};
    const run = startedRun(
      {
        id: runId,
        workflow: workflow.id,
        title: runTitle(workflow, prepared),
        owner: this.store.ownerId,
        variant: `${first.model}@${state.promptVersion}`,
        data: { provider: first.provider, model: first.model, install: this.workspace.installId, ...experiment },
      },
      this.store,
      now,
    );
    const ex = new Execution(run, state, 0, this.store, this.clock, options);
    ex.adapters.set(first.provider, adapter);
    ex.fresh.add(first.taskId);
    ex.queueTask(first);
    await ex.durably((records) => this.store.commit([runRecord(run), ...records]));
    ex.emit({ type: 'runStarted', runId: run.id, workflow: workflow.id, title: run.title });
    return this.drive(ex);
  }

  /** What a run of `workflowId` on `input` would likely cost, and at most (quote.ts). Makes no call, records nothing. */
  async quote(workflowId: string, input: RunInput): Promise<RunQuote> {
    this.assertPolicy();
    const workflow = await this.catalog.find(workflowId);
    const prepared = await this.catalog.prepareInput(workflow, input);
    const state: RunCheckpointState = {
      v: CHECKPOINT_VERSION,
      workflow,
      promptVersion: promptVersion(workflow),
      input: prepared,
      steps: [],
    };
    const now = this.clock.now();
    const engine = this.workspace.engine;
    return quoteRun({
      state,
      policy: engine.currentPolicy,
      models: this.models,
      queries: this.store.queries,
      caps: engine.usdScopes(workflow.id, now),
      now,
    });
  }

  /**
   * Continues an interrupted, blocked, paused, failed or cancelled run from its checkpoint (`runId` may be a unique
   * prefix). A completed run resolves to its outcome without doing anything.
   */
  async resume(runId: string, options: RunOptions = {}): Promise<RunOutcome> {
    return this.claimed(runId, (id) => this.resumeClaimed(id, options));
  }

  private async resumeClaimed(id: string, options: RunOptions): Promise<RunOutcome> {
    const { run, state, seq } = await stoppedRun(this.store, this.clock, id, 'resume');
    const ex = new Execution(storedRun(run), state, seq, this.store, this.clock, options);
    if (run.status === 'completed') return outcomeOf(ex, this.store.queries);

    // Resume never executes what it did not witness (trust/resumeGuard.ts): a run another install wrote asks first,
    // and the tool calls its checkpoint holds ask again even when tools.allow lists them.
    const pending = pendingToolCalls(state);
    if (!witnessed(run.data, this.workspace.installId)) {
      const foreign: ForeignRun = { runId: id, workflow: run.workflow, title: run.title, owner: run.owner, pending };
      if ((await options.trustForeignRun?.(foreign)) !== true)
        throw new UntrustedRunError(foreign, 'It was not resumed: nobody confirmed it.');
    }
    for (const call of pending) if (approvalOnResume(call.tool)) ex.reapprove.add(call.callId);

    // In-flight markers: a call that had started when the process died.
    let crashedTwice: TaskCheckpoint | undefined;
    for (const task of allTasks(state)) {
      if (!task.inFlight) continue;
      if (run.status !== 'interrupted')
        task.inFlight = undefined; // stopped cleanly after it: a fresh call
      else if (task.inFlight.attempt >= 2) crashedTwice = task;
    }
    const data = (run.data ?? {}) as RunData;
    Object.assign(ex.prompts, readSamples(data.prompts));
    ex.run = runInStatus(run, 'running', this.store, this.clock.now(), {
      owner: this.store.ownerId,
      data: runData(run, { install: this.workspace.installId }),
    });
    if (crashedTwice) {
      const error = crashedTwiceError(crashedTwice);
      crashedTwice.inFlight = undefined;
      return this.drive(ex, () => {
        throw error;
      });
    }
    for (const task of allTasks(state)) {
      if (task.inFlight) {
        ex.warn(
          `Retrying the ${task.model} call of step "${task.stepId}" that was in flight when the run was interrupted; ` +
            'its first attempt is charged at its reserved (estimated) cost.',
        );
      }
    }
    for (const task of allTasks(state)) {
      if (task.status === 'completed') continue;
      task.status = 'running';
      ex.queueTask(task);
    }
    await claimRun(ex, this.store, run, 'resume');
    return this.drive(ex);
  }

  /**
   * Continues a run whose steps have completed with a follow-up question (followUp.ts): one more step in the same
   * run, under its budget scopes, checkpointed and resumable like any step. Resolves when the answer is in (or the
   * run stopped short, like any run).
   */
  async continue(runId: string, text: string, options: RunOptions = {}): Promise<RunOutcome> {
    return this.claimed(runId, async (id) => {
      const { run, state, seq } = await stoppedRun(this.store, this.clock, id, 'continue');
      const now = this.clock.now();
      const task = appendFollowUp(state, text, { taskId: newId(now), now });
      const ex = new Execution(storedRun(run), state, seq, this.store, this.clock, options);
      ex.run = runInStatus(run, 'running', this.store, now, { owner: this.store.ownerId, data: runData(run, {}) });
      ex.fresh.add(task.taskId);
      ex.queueTask(task);
      await claimRun(ex, this.store, run, 'continue');
      return this.drive(ex);
    });
  }

  /**
   * Runs `body` on the full id of `runId` (a unique prefix is enough) with the run claimed in this process: a second
   * resume or follow-up of a run being resumed, continued or run here is refused (claim.ts keeps other processes out).
   */
  private async claimed(runId: string, body: (id: string) => Promise<RunOutcome>): Promise<RunOutcome> {
    this.assertPolicy();
    await this.store.refresh();
    const id = this.resolveRunId(runId);
    if (this.running.has(id) || this.claiming.has(id))
      throw new RunLookupError(`Run ${id} is already running in this window.`, 'conflict');
    this.claiming.add(id);
    try {
      return await body(id);
    } finally {
      this.claiming.delete(id);
    }
  }

  /**
   * Cancels a run. Active here: its stream stops at once and it is recorded `cancelled` with its finished steps.
   * Not active here: it is marked `cancelled` in the store (a process still running it stops before its next call
   * or tool call).
   */
  async cancel(runId: string): Promise<void> {
    const live = this.running.get(runId);
    if (live) {
      live.abort.abort('cancelled');
      await live.done.catch(() => undefined);
      return;
    }
    await this.store.refresh();
    const id = this.resolveRunId(runId);
    const ex = this.running.get(id);
    if (ex) {
      ex.abort.abort('cancelled');
      await ex.done.catch(() => undefined);
      return;
    }
    const run = this.store.queries.getRun(id);
    if (!run || run.status === 'completed' || run.status === 'cancelled') return;
    const now = this.clock.now();
    const data = { ...((run.data ?? {}) as RunData), error: 'Cancelled.', errorKind: 'cancelled' as const };
    const records = [runRecord(runInStatus(run, 'cancelled', this.store, now, { data }))];
    for (const task of this.store.queries.tasksOfRun(id)) {
      if (task.status === 'completed' || task.status === 'cancelled') continue;
      records.push({ k: 'task', task: taskInStatus(task, 'cancelled', this.store, now) });
    }
    await this.store.commit(records);
  }

  // -------------------------------------------------------------------------------------------------------------
  // A run's end

  private drive(ex: Execution, body: () => Promise<void> | void = () => this.driver.runSteps(ex)): Promise<RunOutcome> {
    this.running.set(ex.runId, ex);
    ex.done = (async () => {
      try {
        try {
          await body();
          await this.finish(ex);
        } catch (err) {
          await this.stop(ex, err);
        }
        return outcomeOf(ex, this.store.queries);
      } finally {
        this.running.delete(ex.runId);
      }
    })();
    return ex.done;
  }

  private async finish(ex: Execution): Promise<void> {
    ex.run = runInStatus(ex.run, 'completed', this.store, this.clock.now(), {
      data: runData(ex.run, { prompts: ex.prompts }),
    });
    await ex.durably((records) => this.store.commit([runRecord(ex.run), ...records]));
    ex.emit({ type: 'runFinished', runId: ex.runId, status: 'completed' });
  }

  /** Records how the run stopped, with a checkpoint to resume from. */
  private async stop(ex: Execution, err: unknown): Promise<void> {
    const now = this.clock.now();
    const stop = runStopOf(err, now);
    for (const task of allTasks(ex.state)) {
      task.inFlight = undefined;
      if (task.status === 'running') {
        task.status = stop.status;
        ex.queueTask(task);
      }
    }
    const current = ex.state.steps.find((t) => t.status === stop.status);
    ex.run = runInStatus(ex.run, stop.status, this.store, now, {
      data: runData(ex.run, {
        error: stop.message,
        errorKind: stop.errorKind,
        blockedScope: stop.scope,
        resumeAfter: stop.resumeAfter,
        prompts: ex.prompts,
      }),
    });
    try {
      await ex.durably((records) => this.store.commit([runRecord(ex.run), ...records]));
    } catch {
      // Nothing more to do: the run stays `running` under this process and becomes `interrupted` when it is gone.
    }
    if (current) ex.emit({ type: 'stepFinished', runId: ex.runId, stepId: current.stepId, status: stop.status });
    ex.emit({ type: 'runFinished', runId: ex.runId, status: stop.status, error: stop.message });
  }

  // -------------------------------------------------------------------------------------------------------------

  private assertPolicy(): void {
    const error = this.workspace.policyError;
    if (error) throw error;
  }

  private resolveRunId(idOrPrefix: string): string {
    const q = this.store.queries;
    if (q.getRun(idOrPrefix)) return idOrPrefix;
    const matches = idOrPrefix ? q.findRuns(idOrPrefix) : [];
    if (matches.length === 1) return matches[0]!;
    if (matches.length === 0)
      throw new RunLookupError(`There is no run "${idOrPrefix}" in this workspace (agent-budget runs lists them).`);
    throw new RunLookupError(`"${idOrPrefix}" matches several runs (${matches.join(', ')}); give more of the id.`);
  }
}
