import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { BudgetBlockedError, type Admission, type TokenScopeSpec } from '../budget/engine';
import { systemClock, type Clock } from '../clock';
import { degradeModel, effectiveLimits, routeModel, stepTaskLimits } from '../policy/effective';
import { PolicyError } from '../policy/issues';
import { renderTemplate, templateReferences, TEMPLATE_VARIABLES, type TemplateVariable } from '../policy/templates';
import type { TaskLimits } from '../policy/types';
import { loadWorkflow, loadWorkflows } from '../policy/workflowFile';
import type { ToolName, WorkflowDefinition } from '../policy/workflowTypes';
import { modelInfo, UnknownModelError } from '../pricing/cost';
import { ProviderError } from '../providers/errors';
import { estimateByHeuristic, inputTokenBound } from '../providers/estimate';
import type { ChatMessage, ChatRequest, ContentPart, ProviderAdapter, ToolCall, ToolSpec } from '../providers/types';
import { newId } from '../processIdentity';
import type { LedgerEntry, RunState, RunStatus, StoreRecord, TaskState } from '../store/records';
import { PROVIDERS, totalTokens, ZERO_USAGE, type ProviderId, type TokenUsage } from '../usage';
import type { Workspace } from '../workspace';
import { recoverAbandoned } from './abandoned';
import {
  BUILTIN_WORKFLOWS,
  DEFAULT_MODELS,
  parseItems,
  runTitle,
  type RunnerStep,
  type RunnerWorkflow,
} from './builtins';
import {
  allTasks,
  CHECKPOINT_VERSION,
  readCheckpoint,
  stepOutputs,
  type RunCheckpointState,
  type TaskCheckpoint,
} from './checkpoint';
import { isWritingTool, ToolError, WorkspaceTools, type ToolLimits } from './tools';

// ---------------------------------------------------------------------------------------------------------------
// The API both front ends use (the VS Code UI and the CLI)

export interface RunInput {
  /** Free text: a question, notes, or a diff (`git diff` output). */
  input?: string;
  /** Workspace-relative (or absolute, inside the workspace) path of the current file. */
  file?: string;
  /** The file's text; read from `file` when omitted. */
  fileContent?: string;
  /** The selected text; when omitted and a workflow uses it, the whole file. */
  selection?: string;
  /** Model for every step, over the workflow's and the policy's choice. */
  model?: string;
  /** Use the workflow's complex model (policy `workflows.<id>.complexModel`). */
  complex?: boolean;
}

export type RunEvent =
  | { type: 'runStarted'; runId: string; workflow: string; title: string }
  | { type: 'stepStarted'; runId: string; stepId: string; title: string; model: string }
  | { type: 'text'; runId: string; stepId: string; delta: string }
  | {
      type: 'call';
      runId: string;
      stepId: string;
      model: string;
      costMicros: number;
      tokens: number;
      estimated: boolean;
    }
  | { type: 'tool'; runId: string; stepId: string; tool: string; summary: string }
  | { type: 'warning'; runId: string; message: string }
  | { type: 'stepFinished'; runId: string; stepId: string; status: RunStatus }
  | { type: 'runFinished'; runId: string; status: RunStatus; error?: string };

export interface ApprovalRequest {
  runId: string;
  /** A tool the policy lists in tools.approve: usually a writing one, but reading tools may be listed too. */
  tool: ToolName;
  /** One line: `editFile src/app.ts`. */
  summary: string;
  path?: string;
  /** The file's text before and after the change (writeFile: before is undefined for a new file). */
  before?: string;
  after?: string;
  command?: string;
}

/** Says yes or no to a tool call the policy lists in tools.approve. Anything but `true` is a no. */
export interface Approver {
  approve(request: ApprovalRequest): Promise<boolean>;
}

export interface ProviderAccess {
  /** The adapter for a provider; throws a clear error naming the key to set when there is none. */
  adapter(provider: ProviderId): Promise<ProviderAdapter>;
  /**
   * Whether a key is set (optional): a workflow that names no model runs on the first provider with a key
   * (Anthropic, OpenAI, Gemini in that order); without this method, Anthropic.
   */
  hasKey?(provider: ProviderId): boolean | Promise<boolean>;
}

/**
 * Why a run stopped short of `completed` (an addition to the agreed RunOutcome; front ends map it to exit codes
 * and actions): `budget` a hard limit or cap (blocked) · `rateLimit` the provider asked to wait (paused) · `auth` the
 * key was refused · `provider` any other provider failure · `config` a missing key, an unpriced model, an invalid
 * policy · `crash` the same call was in flight at two crashes · `cancelled` · `internal` a bug or a store failure.
 */
export type RunErrorKind = 'budget' | 'rateLimit' | 'auth' | 'provider' | 'config' | 'crash' | 'cancelled' | 'internal';

export interface RunOutcome {
  runId: string;
  workflow: string;
  status: RunStatus;
  costMicros: number;
  tokens: { input: number; output: number; cacheRead: number; cacheWrite: number; reasoning: number };
  steps: Array<{ id: string; status: RunStatus; costMicros: number; output?: string }>;
  /** The last finished step's output (the run's result once it completed). */
  output?: string;
  error?: string;
  blockedScope?: string;
  /** Added: see RunErrorKind. */
  errorKind?: RunErrorKind;
  /** Added: the run's title, as the runs list shows it. */
  title?: string;
}

export interface RunOptions {
  /** Aborting cancels the run: the stream in flight stops at once; finished steps and their output are kept. */
  signal?: AbortSignal;
  onEvent?: (e: RunEvent) => void;
}

/** No API key for a provider. The CLI exits 1 naming the environment variable; the extension offers "Set API Key". */
export class MissingApiKeyError extends Error {
  override readonly name = 'MissingApiKeyError';
  constructor(
    readonly provider: ProviderId,
    message: string,
  ) {
    super(message);
  }
}

/** A workflow id that is neither built in nor a file in `.agent-budget/workflows/`. */
export class WorkflowNotFoundError extends Error {
  override readonly name = 'WorkflowNotFoundError';
  constructor(
    readonly id: string,
    readonly available: string[],
  ) {
    super(
      `There is no workflow "${id}". Available: ${available.join(', ')} (workspace workflows live in .agent-budget/workflows/<id>.json).`,
    );
  }
}

/** The run's input cannot be used (no input at all for a workflow that needs some, an unreadable file). */
export class RunInputError extends Error {
  override readonly name = 'RunInputError';
}

/** `resume`/`cancel` of a run that does not exist, is ambiguous, or is running elsewhere. */
export class RunLookupError extends Error {
  override readonly name = 'RunLookupError';
}

// ---------------------------------------------------------------------------------------------------------------

interface RunData {
  provider?: ProviderId;
  model?: string;
  error?: string;
  errorKind?: RunErrorKind;
  blockedScope?: string;
  /** When a paused (rate-limited) run may be resumed (epoch ms). */
  resumeAfter?: number;
}

/** How a run stopped short: thrown inside the runner, written once by `stop()`. */
class RunStop extends Error {
  constructor(
    readonly status: RunStatus,
    readonly kind: RunErrorKind,
    message: string,
    readonly scope?: string,
    readonly resumeAfter?: number,
  ) {
    super(message);
  }
}

/** One run's life in this process. */
class Execution {
  /** Records to write with the next durable write (task status changes). */
  pending: StoreRecord[] = [];
  readonly abort = new AbortController();
  readonly adapters = new Map<ProviderId, ProviderAdapter>();
  /** Wall-time segments of tasks running in this process: time already spent before, and when this segment began. */
  readonly segments = new Map<string, { base: number; start: number }>();
  /** Tasks created by this execution: they have used nothing before it, so their counters need no store query. */
  readonly fresh = new Set<string>();
  private readonly warned = new Set<string>();
  done!: Promise<RunOutcome>;

  constructor(
    public run: RunState,
    readonly state: RunCheckpointState,
    public seq: number,
    private readonly onEvent: ((e: RunEvent) => void) | undefined,
    signal: AbortSignal | undefined,
  ) {
    if (signal?.aborted) this.abort.abort('cancelled');
    else signal?.addEventListener('abort', () => this.abort.abort('cancelled'), { once: true });
  }

  get runId(): string {
    return this.run.id;
  }

  emit(event: RunEvent): void {
    try {
      this.onEvent?.(event);
    } catch {
      // a listener's failure never stops a run
    }
  }

  /** Warns once per kind of message (soft-limit warnings repeat on every call with new numbers). */
  warn(message: string): void {
    const key = message.replace(/\d[\d,.]*/g, '#');
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.emit({ type: 'warning', runId: this.runId, message });
  }
}

/**
 * The durable workflow runner: runs workflows step by step through the budget engine, checkpointing after every
 * call and tool call so a run survives a crash, a reload, a budget block or a network failure and continues
 * without redoing finished work or paying twice.
 *
 * Durable writes per LLM call: two. The reservation and the checkpoint carrying the in-flight marker are one write
 * (`engine.admit(…, alsoCommit)`); the ledger row and the checkpoint carrying the answer are another
 * (`engine.settle(…, alsoCommit)`). So a billed call is in the checkpoint exactly when it is in the ledger, and a
 * crash mid-call leaves the marker that makes resume retry it once (its unknown first attempt charged as estimated
 * by the store's recovery).
 */
export class Runner {
  private readonly workspace: Workspace;
  private readonly providers: ProviderAccess;
  private readonly approver: Approver;
  private readonly clock: Clock;
  readonly tools: WorkspaceTools;
  private readonly running = new Map<string, Execution>();
  /** Runs being resumed (between the checks and `drive`), so a second resume in this process is refused. */
  private readonly claiming = new Set<string>();
  private readonly builtins: readonly RunnerWorkflow[];
  private modelProviders: { policy: unknown; byModel: Map<string, ProviderId> } = {
    policy: undefined,
    byModel: new Map(),
  };

  constructor(deps: {
    workspace: Workspace;
    providers: ProviderAccess;
    approver: Approver;
    clock?: Clock;
    /** Limits of the tools (read size, command timeout…); defaults in tools.ts. */
    toolLimits?: Partial<ToolLimits>;
    /** The built-in workflows (default BUILTIN_WORKFLOWS); tests and the benchmark hand in their own. */
    builtins?: readonly RunnerWorkflow[];
  }) {
    this.workspace = deps.workspace;
    this.builtins = deps.builtins ?? BUILTIN_WORKFLOWS;
    this.providers = deps.providers;
    this.approver = deps.approver;
    this.clock = deps.clock ?? systemClock;
    this.tools = new WorkspaceTools(deps.workspace.folder, {
      stateDir: deps.workspace.store.dir,
      limits: deps.toolLimits,
    });
    // A run of ours marked cancelled by another window or `agent-budget` process: stop it like a local cancel (the
    // stream in flight stops at once). Remote records arrive with the store's poll or our own next write.
    this.store.onDidApply(({ records, origin }) => {
      if (origin !== 'remote') return;
      for (const r of records) {
        if (r.k === 'run' && r.run.status === 'cancelled') this.running.get(r.run.id)?.abort.abort('cancelled');
      }
    });
  }

  private get store() {
    return this.workspace.store;
  }

  private get engine() {
    return this.workspace.engine;
  }

  /** Built-in workflows (replaced by a workspace file with the same id) and the workspace's own, with broken files as errors. */
  async listWorkflows(): Promise<{ workflows: WorkflowDefinition[]; errors: PolicyError[] }> {
    const loaded = await loadWorkflows(this.workspace.folder);
    const byId = new Map(loaded.workflows.map((w) => [w.id, w]));
    const builtinIds = new Set(this.builtins.map((b) => b.id));
    const workflows: WorkflowDefinition[] = this.builtins.map((b) => byId.get(b.id) ?? b);
    for (const w of loaded.workflows) if (!builtinIds.has(w.id)) workflows.push(w);
    return { workflows, errors: loaded.errors };
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
    const workflow = await this.findWorkflow(workflowId);
    const prepared = await this.prepareInput(workflow, input);
    const now = this.clock.now();
    const state: RunCheckpointState = {
      v: CHECKPOINT_VERSION,
      workflow,
      promptVersion: promptVersion(workflow),
      input: prepared,
      steps: [],
    };
    const first = await this.newTask(state, workflow.steps[0]!, {});
    const adapter = await this.providers.adapter(first.provider);
    state.steps.push(first);
    const run: RunState = {
      id: newId(now),
      workflow: workflow.id,
      status: 'running',
      title: runTitle(workflow, prepared),
      createdAt: now,
      updatedAt: now,
      rev: this.store.nextRev(),
      owner: this.store.ownerId,
      parentRunId: null,
      variant: `${first.model}@${state.promptVersion}`,
      data: { provider: first.provider, model: first.model } satisfies RunData,
    };
    const ex = new Execution(run, state, 0, options.onEvent, options.signal);
    ex.adapters.set(first.provider, adapter);
    ex.fresh.add(first.taskId);
    await this.store.commit([{ k: 'run', run }, this.taskRecord(ex, first), this.checkpointRecord(ex)]);
    ex.emit({ type: 'runStarted', runId: run.id, workflow: workflow.id, title: run.title });
    return this.drive(ex);
  }

  /**
   * Continues an interrupted, blocked, paused, failed or cancelled run from its checkpoint (`runId` may be a unique
   * prefix). A completed run resolves to its outcome without doing anything.
   */
  async resume(runId: string, options: RunOptions = {}): Promise<RunOutcome> {
    this.assertPolicy();
    await this.store.refresh();
    const id = this.resolveRunId(runId);
    if (this.running.has(id) || this.claiming.has(id))
      throw new RunLookupError(`Run ${id} is already running in this window.`);
    this.claiming.add(id);
    try {
      return await this.resumeClaimed(id, options);
    } finally {
      this.claiming.delete(id);
    }
  }

  private async resumeClaimed(id: string, options: RunOptions): Promise<RunOutcome> {
    // A process that died since the store's last sweep: interrupt its runs and charge its open reservations now.
    await recoverAbandoned(this.store, this.clock);
    const run = this.store.queries.getRun(id)!;
    if (run.status === 'running' || run.status === 'pending') {
      throw new RunLookupError(
        `Run ${id} is running in another process (${run.owner}); cancel it there, or wait for it to stop.`,
      );
    }
    const stored = this.store.queries.checkpoint(id);
    if (!stored) throw new RunLookupError(`Run ${id} has no checkpoint to resume from.`);
    let state: RunCheckpointState;
    try {
      state = readCheckpoint(stored.state);
    } catch (err) {
      throw new RunLookupError(`Run ${id}: ${(err as Error).message}`);
    }
    const { costMicros: _c, estimatedMicros: _e, tokens: _t, calls: _n, ...runState } = run;
    const ex = new Execution(runState, state, stored.seq, options.onEvent, options.signal);
    if (run.status === 'completed') return this.outcome(ex);

    // In-flight markers: a call that had started when the process died.
    let crashedTwice: TaskCheckpoint | undefined;
    for (const task of allTasks(state)) {
      if (!task.inFlight) continue;
      if (run.status !== 'interrupted')
        task.inFlight = undefined; // stopped cleanly after it: a fresh call
      else if (task.inFlight.attempt >= 2) crashedTwice = task;
    }
    const now = this.clock.now();
    const data = (run.data ?? {}) as RunData;
    ex.run = {
      ...ex.run,
      status: 'running',
      owner: this.store.ownerId,
      updatedAt: now,
      rev: this.store.nextRev(),
      data: { provider: data.provider, model: data.model } satisfies RunData,
    };
    if (crashedTwice) {
      const step = crashedTwice.stepId;
      crashedTwice.inFlight = undefined;
      return this.drive(ex, () => {
        throw new RunStop(
          'failed',
          'crash',
          `The process stopped twice while step "${step}" was waiting for ${crashedTwice!.model}. Agent Budget retries an ` +
            'interrupted call once; both attempts are charged at their reserved (estimated) cost. Resume the run to try the call again.',
        );
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
      ex.pending.push(this.taskRecord(ex, task));
    }
    // Claim the run under the store's lock, after reading every other process's records: two windows or two
    // `agent-budget resume` processes cannot both continue it.
    const records = [...ex.pending, { k: 'run', run: ex.run } satisfies StoreRecord, this.checkpointRecord(ex)];
    await this.store.transact((q) => {
      if (q.getRun(id)?.rev !== run.rev)
        throw new RunLookupError(
          `Run ${id} changed while resuming (another window or process resumed or cancelled it).`,
        );
      return { records, result: undefined };
    });
    ex.pending = [];
    ex.emit({ type: 'runStarted', runId: id, workflow: run.workflow, title: run.title });
    return this.drive(ex);
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
    const { costMicros: _c, estimatedMicros: _e, tokens: _t, calls: _n, ...state } = run;
    const data = (run.data ?? {}) as RunData;
    const records: StoreRecord[] = [
      {
        k: 'run',
        run: {
          ...state,
          status: 'cancelled',
          updatedAt: now,
          rev: this.store.nextRev(),
          data: { ...data, error: 'Cancelled.', errorKind: 'cancelled' },
        },
      },
    ];
    for (const task of this.store.queries.tasksOfRun(id)) {
      if (task.status === 'completed' || task.status === 'cancelled') continue;
      const { costMicros: _tc, tokens: _tt, calls: _tn, ...t } = task;
      records.push({ k: 'task', task: { ...t, status: 'cancelled', updatedAt: now, rev: this.store.nextRev() } });
    }
    await this.store.commit(records);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Driving a run

  private drive(ex: Execution, body: () => Promise<void> | void = () => this.runSteps(ex)): Promise<RunOutcome> {
    this.running.set(ex.runId, ex);
    ex.done = (async () => {
      try {
        try {
          await body();
          await this.finish(ex);
        } catch (err) {
          await this.stop(ex, err);
        }
        return this.outcome(ex);
      } finally {
        this.running.delete(ex.runId);
      }
    })();
    return ex.done;
  }

  private async runSteps(ex: Execution): Promise<void> {
    const steps = ex.state.workflow.steps;
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      let task = ex.state.steps[i];
      if (task?.status === 'completed') continue;
      this.checkStillWanted(ex);
      if (!task) {
        task = await this.newTask(ex.state, step, {});
        ex.fresh.add(task.taskId);
        ex.state.steps.push(task);
        ex.pending.push(this.taskRecord(ex, task));
      } else if (task.status !== 'running') {
        task.status = 'running';
        ex.pending.push(this.taskRecord(ex, task));
      }
      ex.emit({
        type: 'stepStarted',
        runId: ex.runId,
        stepId: step.id,
        title: step.title ?? step.id,
        model: task.model,
      });
      if (step.subAgents) await this.runSubAgents(ex, step, task);
      else await this.runTask(ex, step, task);
      completeTask(task);
      ex.pending.push(this.taskRecord(ex, task));
      ex.emit({ type: 'stepFinished', runId: ex.runId, stepId: step.id, status: 'completed' });
    }
  }

  /** One task: a single call, or an agent loop while the model asks for tools. */
  private async runTask(ex: Execution, step: RunnerStep, task: TaskCheckpoint): Promise<void> {
    const limits = this.taskLimits(ex.state, step);
    const specs = step.tools?.length ? this.tools.specs(step.tools) : undefined;
    ex.segments.set(task.taskId, { base: task.wallMs, start: this.clock.now() });
    try {
      for (;;) {
        const last = task.messages[task.messages.length - 1];
        const calls = last?.role === 'assistant' ? toolCallsOf(last) : [];
        if (last?.role === 'assistant' && calls.length === 0) {
          // The answer is in: the task is done whatever happens next (a cancel stops the run after it).
          task.output = answerOf(task);
          return;
        }
        this.checkStillWanted(ex);
        this.checkWallTime(ex, step, task, limits);
        if (last?.role === 'assistant') {
          for (const call of calls) {
            if (task.toolResults.some((r) => r.type === 'toolResult' && r.callId === call.id)) continue;
            await this.runTool(ex, step, task, call, limits);
          }
          task.messages.push({ role: 'user', content: task.toolResults });
          task.toolResults = [];
          continue;
        }
        if (limits.maxSteps !== undefined && this.stepCounts(ex, task).calls >= limits.maxSteps) {
          throw new BudgetBlockedError(
            `${stepName(step, task)} reached its limit of ${limits.maxSteps} ` +
              "agent-loop steps. Raise limits.task.maxSteps in .agent-budget/budget.json (or the step's limits) and resume.",
            'task.maxSteps',
          );
        }
        await this.call(ex, step, task, specs, limits);
      }
    } finally {
      task.wallMs = this.wallMs(ex, task);
      ex.segments.delete(task.taskId);
    }
  }

  /** Sub-agents: one child task per item of an earlier step's output, budgeted from this task's remaining tokens. */
  private async runSubAgents(ex: Execution, step: RunnerStep, parent: TaskCheckpoint): Promise<void> {
    const plan = step.subAgents!;
    const treeTokens = () => this.store.queries.taskTreeTotals(parent.taskId).tokens;
    if (!parent.items) {
      const source = stepOutputs(ex.state)[plan.itemsFrom] ?? '';
      const items = parseItems(source, plan.max);
      parent.items = items.length ? items : [ex.state.input.input?.trim() || step.title || step.id];
      parent.children = [];
      if ('pool' in plan.budget) parent.poolFrom = treeTokens();
    }
    const children = (parent.children ??= []);
    const limits = this.taskLimits(ex.state, step);
    ex.segments.set(parent.taskId, { base: parent.wallMs, start: this.clock.now() });
    try {
      for (let i = 0; i < parent.items.length; i++) await this.runChild(ex, step, parent, i, limits);
    } finally {
      parent.wallMs = this.wallMs(ex, parent);
      ex.segments.delete(parent.taskId);
    }
    const items = parent.items;
    parent.output = children.map((c, i) => `### ${items[i]}\n\n${c.output ?? ''}`).join('\n\n');
  }

  /** Sub-agent `i` of `parent`; the parent's own wall-time limit bounds them all. */
  private async runChild(
    ex: Execution,
    step: RunnerStep,
    parent: TaskCheckpoint,
    i: number,
    limits: TaskLimits,
  ): Promise<void> {
    const items = parent.items!;
    const children = parent.children!;
    let child = children[i];
    if (child?.status === 'completed') return;
    this.checkStillWanted(ex);
    this.checkWallTime(ex, step, parent, limits);
    if (!child) {
      child = await this.newTask(ex.state, step, { parent, item: items[i]! });
      ex.fresh.add(child.taskId);
      if ('share' in step.subAgents!.budget) child.shareFrom = this.store.queries.taskTreeTotals(parent.taskId).tokens;
      children.push(child);
    } else {
      child.status = 'running';
    }
    ex.pending.push(this.taskRecord(ex, child));
    ex.emit({
      type: 'stepStarted',
      runId: ex.runId,
      stepId: step.id,
      title: `${step.title ?? step.id} ${i + 1}/${items.length}: ${items[i]}`,
      model: child.model,
    });
    await this.runTask(ex, step, child);
    completeTask(child);
    ex.pending.push(this.taskRecord(ex, child));
  }

  /** One LLM call: admit (with the in-flight checkpoint), stream, settle (with the answer's checkpoint). */
  private async call(
    ex: Execution,
    step: RunnerStep,
    task: TaskCheckpoint,
    tools: ToolSpec[] | undefined,
    limits: TaskLimits,
  ): Promise<void> {
    const adapter = await this.adapterFor(ex, task.provider);
    const request: Omit<ChatRequest, 'maxOutputTokens'> = {
      model: task.model,
      system: task.system,
      messages: task.messages,
      tools,
    };
    const policy = this.engine.currentPolicy;
    const wf = ex.state.workflow;
    const degrade = degradeModel(policy, wf.id);
    const previous = task.inFlight;
    task.inFlight = { attempt: (previous?.attempt ?? 0) + 1 };
    let admission: Admission;
    try {
      admission = await this.engine.admit(
        {
          workflow: wf.id,
          runId: ex.runId,
          taskId: task.taskId,
          task: step.id,
          provider: task.provider,
          model: task.model,
          inputTokens: inputTokenBound(request),
          exactInputTokens: async () => (await adapter.estimateInputTokens(request)).inputTokens,
          promptVersion: ex.state.promptVersion,
          maxOutputTokens: step.maxOutputTokens,
          tokenScopes: this.tokenScopes(ex, step, task, limits),
          degradeModel: degrade && sameProvider(degrade, task.provider, policy.prices) ? degrade : undefined,
        },
        this.durableRecords(ex),
      );
    } catch (err) {
      task.inFlight = undefined;
      throw err;
    }
    ex.pending = [];
    for (const w of admission.warnings) ex.warn(`${step.id}: ${w}`);

    const deadline = this.stepSignal(ex, task, limits);
    let result;
    try {
      result = await adapter.chat({
        ...request,
        model: admission.model,
        maxOutputTokens: admission.maxOutputTokens,
        signal: deadline.signal,
        onText: (delta) => ex.emit({ type: 'text', runId: ex.runId, stepId: step.id, delta }),
      });
    } catch (err) {
      task.inFlight = undefined;
      await this.closeFailedCall(ex, step, admission, err);
      throw this.callStop(err, deadline.signal.reason, step, task, limits);
    } finally {
      deadline.dispose();
    }
    task.inFlight = undefined;
    if (result.warning) ex.warn(`${step.id}: ${result.warning}`);
    task.messages.push(result.message);
    task.calls += 1;
    if (result.stopReason === 'maxTokens') {
      ex.warn(
        `${step.id}: the answer was cut at ${admission.maxOutputTokens} output tokens (limit: ${admission.clampedBy}).`,
      );
    }
    const entry = await this.engine.settle(
      admission,
      { usage: result.usage, requestId: result.requestId ?? null, latencyMs: result.latencyMs },
      this.durableRecords(ex),
    );
    ex.pending = [];
    this.emitCall(ex, step, entry);
  }

  /**
   * Settles a call that failed: exactly when the provider's final usage arrived; as estimated (the whole reservation)
   * when the provider may have billed it without usage reaching us (cut mid-stream, cancelled or stopped at the wall
   * limit after the request went out); released only when it cannot have been billed (an HTTP error).
   */
  private async closeFailedCall(ex: Execution, step: RunnerStep, admission: Admission, err: unknown): Promise<void> {
    try {
      if (err instanceof ProviderError && (err.partial || err.mayHaveBilled)) {
        const usage =
          err.partial?.usageFinal && err.partial.usage ? { ...ZERO_USAGE, ...err.partial.usage } : undefined;
        const entry = await this.engine.settle(
          admission,
          { usage, requestId: err.requestId ?? null },
          this.durableRecords(ex),
        );
        ex.pending = [];
        this.emitCall(ex, step, entry);
      } else {
        await this.engine.release(admission);
      }
    } catch {
      // The store failed: the reservation stays open and is charged as estimated when this process is gone.
    }
  }

  private callStop(
    err: unknown,
    abortReason: unknown,
    step: RunnerStep,
    task: TaskCheckpoint,
    limits: TaskLimits,
  ): unknown {
    if (err instanceof ProviderError && err.kind === 'aborted') {
      if (abortReason === 'wall')
        return wallTimeBlocked(step, task, limits, `the ${task.model} call in flight was stopped`);
      return new RunStop('cancelled', 'cancelled', 'Cancelled.');
    }
    return err;
  }

  private emitCall(ex: Execution, step: RunnerStep, entry: LedgerEntry): void {
    ex.emit({
      type: 'call',
      runId: ex.runId,
      stepId: step.id,
      model: entry.model,
      costMicros: entry.costMicros,
      tokens: totalTokens(entry.usage),
      estimated: entry.estimated,
    });
  }

  /** One tool call of an agent loop: limits, approval, fixed cost, execution, checkpoint. Failures go back to the model. */
  private async runTool(
    ex: Execution,
    step: RunnerStep,
    task: TaskCheckpoint,
    call: ToolCall,
    limits: TaskLimits,
  ): Promise<void> {
    const record = async (content: string, isError: boolean) => {
      task.toolInFlight = undefined;
      task.toolCharged = undefined;
      task.toolCalls += 1;
      task.toolResults.push({
        type: 'toolResult',
        callId: call.id,
        name: call.name,
        content,
        ...(isError ? { isError: true } : {}),
      });
      await this.store.commit(this.durableRecords(ex));
      ex.pending = [];
    };
    if (task.toolInFlight === call.id) {
      // The process died (or the run was cancelled) while this writing tool ran: never re-run it blind.
      return record(
        'Error: this tool call was interrupted (the process stopped while it ran), so its effect is unknown. Check the ' +
          "file or the command's result before trying again.",
        true,
      );
    }
    if (limits.maxToolCalls !== undefined && this.stepCounts(ex, task).toolCalls >= limits.maxToolCalls) {
      throw new BudgetBlockedError(
        `${stepName(step, task)} reached its limit of ${limits.maxToolCalls} ` +
          "tool calls. Raise limits.task.maxToolCalls in .agent-budget/budget.json (or the step's limits) and resume.",
        'task.maxToolCalls',
      );
    }
    const tools = this.engine.currentPolicy.tools;
    let planned;
    try {
      if (!(step.tools ?? []).some((t) => t === call.name))
        throw new ToolError(`the tool "${call.name}" is not available in this step.`);
      planned = await this.tools.plan(call.name, call.input);
      ex.emit({ type: 'tool', runId: ex.runId, stepId: step.id, tool: planned.name, summary: planned.summary });
      // `approve` wins over `allow`, as in the policy loader (a tool in both lists asks).
      if (tools.approve.includes(planned.name)) {
        const approved = await this.ask(ex, {
          runId: ex.runId,
          tool: planned.name,
          summary: planned.summary,
          path: planned.path,
          before: planned.before,
          after: planned.after,
          command: planned.command,
        });
        if (!approved) {
          const what = planned.name === 'runCommand' ? 'command' : isWritingTool(planned.name) ? 'change' : 'tool call';
          throw new ToolError(
            `the user did not approve this ${what}. Do not try it again; continue without it, or say what you would have done.`,
          );
        }
      } else if (!tools.allow.includes(planned.name)) {
        throw new ToolError(
          `${planned.name} is in neither tools.allow nor tools.approve of .agent-budget/budget.json, so agents may not use it in this workspace.`,
        );
      }
    } catch (err) {
      if (!(err instanceof ToolError)) throw err; // cancelled while waiting for approval, a store failure
      ex.emit({ type: 'tool', runId: ex.runId, stepId: step.id, tool: call.name, summary: `refused: ${err.message}` });
      return record(`Error: ${err.message}`, true);
    }
    // Waiting for the user counts as the step's time: past the deadline, block before the tool starts, not as it starts.
    this.checkWallTime(ex, step, task, limits);
    const usd = tools.costsUsd[planned.name];
    if (usd) await this.chargeToolOnce(ex, step, task, call, planned.name, usd);
    if (isWritingTool(planned.name)) {
      task.toolInFlight = call.id;
      await this.store.commit(this.durableRecords(ex));
      ex.pending = [];
    }
    // Whatever happens now is the tool's result, a cancel or the wall deadline included (a killed command's effect
    // is unknown): it is recorded before the run stops, so a resumed run never runs it again.
    const deadline = this.stepSignal(ex, task, limits);
    let content: string;
    let isError = false;
    try {
      content = await planned.execute(deadline.signal);
    } catch (err) {
      content = `Error: ${err instanceof Error ? err.message : String(err)}`;
      isError = true;
    } finally {
      deadline.dispose();
    }
    if (deadline.signal.reason === 'wall') {
      await record(
        `Error: stopped at the step's wall-time limit of ${limits.maxWallSeconds} s before it finished` +
          `${isWritingTool(planned.name) ? '; its effect is unknown, so check before trying again' : ''}.`,
        true,
      );
      throw wallTimeBlocked(step, task, limits, `${planned.summary} was stopped`);
    }
    await record(content, isError);
  }

  /**
   * Charges a tool's fixed cost once, across crashes too: the ledger row and the checkpoint saying this call is
   * charged are one durable write, so a resumed run either finds both or neither.
   */
  private async chargeToolOnce(
    ex: Execution,
    step: RunnerStep,
    task: TaskCheckpoint,
    call: ToolCall,
    tool: ToolName,
    usd: number,
  ): Promise<void> {
    if (task.toolCharged === call.id) return;
    task.toolCharged = call.id;
    let entry: LedgerEntry;
    try {
      entry = await this.engine.chargeTool(
        { workflow: ex.state.workflow.id, runId: ex.runId, taskId: task.taskId, task: step.id, tool, usd },
        this.durableRecords(ex),
      );
    } catch (err) {
      task.toolCharged = undefined; // refused by a cap: nothing was written
      throw err;
    }
    ex.pending = [];
    this.emitCall(ex, step, entry);
  }

  private ask(ex: Execution, request: ApprovalRequest): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const onAbort = () => reject(new RunStop('cancelled', 'cancelled', 'Cancelled.'));
      if (ex.abort.signal.aborted) return onAbort();
      ex.abort.signal.addEventListener('abort', onAbort, { once: true });
      this.approver.approve(request).then(
        (ok) => {
          ex.abort.signal.removeEventListener('abort', onAbort);
          resolve(ok === true);
        },
        () => {
          ex.abort.signal.removeEventListener('abort', onAbort);
          resolve(false);
        },
      );
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Ending a run

  private async finish(ex: Execution): Promise<void> {
    ex.run = {
      ...ex.run,
      status: 'completed',
      updatedAt: this.clock.now(),
      rev: this.store.nextRev(),
      data: runData(ex.run, {}),
    };
    await this.store.commit([...ex.pending, { k: 'run', run: ex.run }, this.checkpointRecord(ex)]);
    ex.pending = [];
    ex.emit({ type: 'runFinished', runId: ex.runId, status: 'completed' });
  }

  /** Records how the run stopped, with a checkpoint to resume from. */
  private async stop(ex: Execution, err: unknown): Promise<void> {
    const stop = this.classify(err);
    for (const task of allTasks(ex.state)) {
      task.inFlight = undefined;
      if (task.status === 'running') {
        task.status = stop.status;
        ex.pending.push(this.taskRecord(ex, task));
      }
    }
    const current = ex.state.steps.find((t) => t.status === stop.status);
    ex.run = {
      ...ex.run,
      status: stop.status,
      updatedAt: this.clock.now(),
      rev: this.store.nextRev(),
      data: runData(ex.run, {
        error: stop.message,
        errorKind: stop.kind,
        blockedScope: stop.scope,
        resumeAfter: stop.resumeAfter,
      }),
    };
    try {
      await this.store.commit([...ex.pending, { k: 'run', run: ex.run }, this.checkpointRecord(ex)]);
      ex.pending = [];
    } catch {
      // Nothing more to do: the run stays `running` under this process and becomes `interrupted` when it is gone.
    }
    if (current) ex.emit({ type: 'stepFinished', runId: ex.runId, stepId: current.stepId, status: stop.status });
    ex.emit({ type: 'runFinished', runId: ex.runId, status: stop.status, error: stop.message });
  }

  private classify(err: unknown): RunStop {
    if (err instanceof RunStop) return err;
    if (err instanceof BudgetBlockedError) return new RunStop('blocked', 'budget', err.message, err.scope);
    if (err instanceof ProviderError) {
      switch (err.kind) {
        case 'aborted':
          return new RunStop('cancelled', 'cancelled', 'Cancelled.');
        case 'rateLimit':
          return new RunStop(
            'paused',
            'rateLimit',
            err.message,
            undefined,
            err.retryAfterMs !== undefined ? this.clock.now() + err.retryAfterMs : undefined,
          );
        case 'auth':
          return new RunStop('failed', 'auth', err.message);
        default:
          return new RunStop('failed', 'provider', err.message);
      }
    }
    if (err instanceof MissingApiKeyError || err instanceof UnknownModelError || err instanceof PolicyError) {
      return new RunStop('failed', 'config', err.message);
    }
    return new RunStop('failed', 'internal', err instanceof Error ? err.message : String(err));
  }

  private outcome(ex: Execution): RunOutcome {
    const q = this.store.queries;
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
    return {
      runId: ex.runId,
      workflow: ex.run.workflow,
      status,
      costMicros: q.runTotals(ex.runId).costMicros,
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
      title: run?.title ?? ex.run.title,
    };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Pieces

  private assertPolicy(): void {
    const error = this.workspace.policyError;
    if (error) throw error;
  }

  private async findWorkflow(id: string): Promise<RunnerWorkflow> {
    const file = await loadWorkflow(this.workspace.folder, id); // throws PolicyError for an invalid file
    if (file) return file.workflow as RunnerWorkflow;
    const builtin = this.builtins.find((b) => b.id === id);
    if (builtin) return structuredClone(builtin);
    const { workflows } = await this.listWorkflows();
    throw new WorkflowNotFoundError(
      id,
      workflows.map((w) => w.id),
    );
  }

  /** Reads the file when only its path is given; with no selection, a workflow that uses one gets the whole file. */
  private async prepareInput(workflow: RunnerWorkflow, input: RunInput): Promise<RunCheckpointState['input']> {
    const out: RunCheckpointState['input'] = {};
    for (const key of ['input', 'file', 'fileContent', 'selection', 'model'] as const) {
      if (typeof input[key] === 'string' && input[key] !== '') out[key] = input[key];
    }
    if (input.complex !== undefined) out.complex = input.complex;
    if (out.file !== undefined) {
      let resolved;
      try {
        resolved = await this.tools.resolve(out.file, 'read');
      } catch (err) {
        throw new RunInputError(`Cannot use the file "${out.file}": ${(err as Error).message}`);
      }
      if (out.fileContent === undefined) {
        try {
          out.fileContent = await fs.readFile(resolved.real, 'utf8');
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw new RunInputError(
            `Cannot read the file "${out.file}": ${code === 'ENOENT' ? 'it does not exist' : code === 'EISDIR' ? 'it is a folder' : code}.`,
          );
        }
      }
      out.file = resolved.relative;
    }
    const used = usedVariables(workflow);
    if (out.selection === undefined && out.fileContent !== undefined && used.has('selection'))
      out.selection = out.fileContent;
    const inputs = [...used];
    if (inputs.length > 0 && !inputs.some((v) => (out[v] ?? '').trim() !== '')) {
      throw new RunInputError(
        `The workflow "${workflow.id}" needs input: ${describeInputs(used)}. ` +
          '(CLI: --input "text" or --file path; VS Code: open a file or select code.)',
      );
    }
    return out;
  }

  /** A new task for `step`: its prompt rendered now (from finished steps' outputs) and its model chosen. */
  private async newTask(
    state: RunCheckpointState,
    step: RunnerStep,
    sub: { parent?: TaskCheckpoint; item?: string },
  ): Promise<TaskCheckpoint> {
    const values = { ...state.input, stepOutputs: stepOutputs(state) };
    const fill = (text: string) => {
      const rendered = renderTemplate(text, values);
      return sub.item === undefined ? rendered : rendered.replace(/\{\{\s*item\s*\}\}/g, sub.item);
    };
    const prompt = fill(step.prompt);
    const systemText = step.system ?? state.workflow.system;
    const system = systemText ? fill(systemText) : undefined;
    const { model, provider } = await this.chooseModel(state, step, `${system ?? ''}\n${prompt}`);
    const now = this.clock.now();
    return {
      taskId: newId(now),
      createdAt: now,
      stepId: step.id,
      status: 'running',
      provider,
      model,
      ...(system !== undefined ? { system } : {}),
      messages: [{ role: 'user', content: [{ type: 'text', text: prompt }] }],
      toolResults: [],
      calls: 0,
      toolCalls: 0,
      wallMs: 0,
      ...(sub.parent ? { parentTaskId: sub.parent.taskId, item: sub.item } : {}),
    };
  }

  /**
   * The run's model (`--model`), else the step's, else the workflow's, else the policy's routing for the workflow
   * (default vs complex model), else the default model of the first provider with a key. The provider is the
   * workflow's, or the one the price table knows the model under.
   */
  private async chooseModel(
    state: RunCheckpointState,
    step: RunnerStep,
    promptText: string,
  ): Promise<{ model: string; provider: ProviderId }> {
    const policy = this.engine.currentPolicy;
    const wf = state.workflow;
    let model = state.input.model ?? step.model ?? wf.model;
    if (!model) {
      const fallback = DEFAULT_MODELS[wf.provider ?? (await this.defaultProvider())];
      const route = routeModel(policy, wf.id, {
        inputTokens: estimateByHeuristic({
          model: '',
          messages: [{ role: 'user', content: [{ type: 'text', text: promptText }] }],
        }).inputTokens,
        text: state.input.input ?? state.input.selection,
        complex: state.input.complex,
        defaultModel: fallback,
      });
      model = route.model ?? fallback;
    }
    const constrained = state.input.model === undefined ? wf.provider : undefined;
    return { model, provider: constrained ?? this.providerOf(model, constrained) };
  }

  /** The provider the price table knows `model` under (throws UnknownModelError); remembered per policy. */
  private providerOf(model: string, constrained: ProviderId | undefined): ProviderId {
    const policy = this.engine.currentPolicy;
    if (this.modelProviders.policy !== policy) this.modelProviders = { policy, byModel: new Map() };
    const key = `${constrained ?? ''}\u0000${model}`;
    let provider = this.modelProviders.byModel.get(key);
    if (!provider) {
      provider = modelInfo(model, policy.prices, constrained).provider;
      this.modelProviders.byModel.set(key, provider);
    }
    return provider;
  }

  private async defaultProvider(): Promise<ProviderId> {
    if (this.providers.hasKey) {
      for (const p of PROVIDERS) if (await this.providers.hasKey(p)) return p;
    }
    return 'anthropic';
  }

  private async adapterFor(ex: Execution, provider: ProviderId): Promise<ProviderAdapter> {
    let adapter = ex.adapters.get(provider);
    if (!adapter) {
      adapter = await this.providers.adapter(provider);
      ex.adapters.set(provider, adapter);
    }
    return adapter;
  }

  private taskLimits(state: RunCheckpointState, step: RunnerStep): TaskLimits {
    return stepTaskLimits(effectiveLimits(this.engine.currentPolicy, state.workflow.id).task, step.limits);
  }

  /**
   * The token scopes a task's call counts against: the task (its tree: a parent's children count against it), a
   * sub-agent's parent and the siblings' pool, and the session. Each reads its use from the store the first time
   * this process sees it (a resumed run), then the engine keeps it current.
   */
  private tokenScopes(ex: Execution, step: RunnerStep, task: TaskCheckpoint, limits: TaskLimits): TokenScopeSpec[] {
    const q = this.store.queries;
    const budget = step.subAgents?.budget;
    let hard = limits.hardTokens;
    if (budget && 'share' in budget && task.shareFrom !== undefined && limits.hardTokens !== undefined) {
      hard = minDefined(hard, Math.floor(budget.share * Math.max(0, limits.hardTokens - task.shareFrom)));
    }
    const own: TokenScopeSpec = { key: `task@${task.taskId}`, kind: 'task', ...clampSoft(limits.softTokens, hard) };
    if (!ex.fresh.has(task.taskId)) own.initialUsed = () => q.taskTreeTotals(task.taskId).tokens;
    const scopes: TokenScopeSpec[] = [own];
    if (task.parentTaskId) {
      const parentId = task.parentTaskId;
      // The children's calls count against the parent's limit too (its counter starts from its whole tree's use).
      scopes.push({
        key: `task@${parentId}`,
        kind: 'task',
        softTokens: limits.softTokens,
        hardTokens: limits.hardTokens,
        initialUsed: () => q.taskTreeTotals(parentId).tokens,
      });
      const parent = allTasks(ex.state).find((t) => t.taskId === parentId);
      if (budget && 'pool' in budget && parent?.poolFrom !== undefined && limits.hardTokens !== undefined) {
        scopes.push({
          key: `pool@${parentId}`,
          kind: 'pool',
          hardTokens: Math.floor(budget.pool * Math.max(0, limits.hardTokens - parent.poolFrom)),
          initialUsed: () => q.taskTreeTotals(parentId).tokens - q.taskTotals(parentId).tokens,
        });
      }
    }
    const session = effectiveLimits(this.engine.currentPolicy, ex.state.workflow.id).session;
    scopes.push({
      key: `session@${ex.runId}`,
      kind: 'session',
      softTokens: session.softTokens,
      hardTokens: session.hardTokens,
      initialUsed: () => q.runTotals(ex.runId).tokens,
    });
    return scopes;
  }

  private wallMs(ex: Execution, task: TaskCheckpoint): number {
    const seg = ex.segments.get(task.taskId);
    return seg ? seg.base + (this.clock.now() - seg.start) : task.wallMs;
  }

  /**
   * The task whose tool-call, loop-step and wall-time limits bound `task`: a sub-agent's parent (the step as a
   * whole, so each child gets what its siblings left, like tokens), else the task itself.
   */
  private limitedBy(ex: Execution, task: TaskCheckpoint): TaskCheckpoint {
    if (!task.parentTaskId) return task;
    return ex.state.steps.find((t) => t.taskId === task.parentTaskId) ?? task;
  }

  /** Tool calls and LLM calls made so far against `task`'s limits: its step's, sub-agents together. */
  private stepCounts(ex: Execution, task: TaskCheckpoint): { toolCalls: number; calls: number } {
    const owner = this.limitedBy(ex, task);
    let { toolCalls, calls } = owner;
    for (const child of owner.children ?? []) {
      toolCalls += child.toolCalls;
      calls += child.calls;
    }
    return { toolCalls, calls };
  }

  /** Wall time the step of `task` has left (its sub-agents share the parent's), or undefined without a limit. */
  private wallLeftMs(ex: Execution, task: TaskCheckpoint, limits: TaskLimits): number | undefined {
    if (limits.maxWallSeconds === undefined) return undefined;
    return limits.maxWallSeconds * 1000 - this.wallMs(ex, this.limitedBy(ex, task));
  }

  private checkWallTime(ex: Execution, step: RunnerStep, task: TaskCheckpoint, limits: TaskLimits): void {
    const left = this.wallLeftMs(ex, task, limits);
    if (left !== undefined && left <= 0) throw wallTimeBlocked(step, task, limits);
  }

  /**
   * The signal a call or a tool runs under: it fires with reason 'cancelled' when the run is cancelled and 'wall'
   * at the step's wall-time deadline, so neither a stream nor a command outlives the limit.
   */
  private stepSignal(
    ex: Execution,
    task: TaskCheckpoint,
    limits: TaskLimits,
  ): { signal: AbortSignal; dispose(): void } {
    const controller = new AbortController();
    const onAbort = () => controller.abort(ex.abort.signal.reason);
    ex.abort.signal.addEventListener('abort', onAbort, { once: true });
    if (ex.abort.signal.aborted) controller.abort(ex.abort.signal.reason);
    const left = this.wallLeftMs(ex, task, limits);
    const timer = left === undefined ? undefined : setTimeout(() => controller.abort('wall'), Math.max(0, left));
    return {
      signal: controller.signal,
      dispose: () => {
        clearTimeout(timer);
        ex.abort.signal.removeEventListener('abort', onAbort);
      },
    };
  }

  /** Stops before the next call or tool call when the run was cancelled, here or (see the constructor) elsewhere. */
  private checkStillWanted(ex: Execution): void {
    if (ex.abort.signal.aborted) throw new RunStop('cancelled', 'cancelled', 'Cancelled.');
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

  /** Pending task records and the checkpoint, for the next durable write. */
  private durableRecords(ex: Execution): StoreRecord[] {
    return [...ex.pending, this.checkpointRecord(ex)];
  }

  private checkpointRecord(ex: Execution): StoreRecord {
    for (const task of allTasks(ex.state)) if (ex.segments.has(task.taskId)) task.wallMs = this.wallMs(ex, task);
    ex.seq += 1;
    // The live state, not a copy: the store serializes it when the write runs, and the runner awaits every write of
    // a run before changing its state again (one run is one sequential flow), so what is written is this moment's.
    return { k: 'checkpoint', checkpoint: { runId: ex.runId, seq: ex.seq, ts: this.clock.now(), state: ex.state } };
  }

  private taskRecord(ex: Execution, task: TaskCheckpoint): StoreRecord {
    const now = this.clock.now();
    const state: TaskState = {
      id: task.taskId,
      runId: ex.runId,
      name: task.stepId,
      parentTaskId: task.parentTaskId ?? null,
      status: task.status,
      createdAt: task.createdAt,
      updatedAt: now,
      rev: this.store.nextRev(),
      data: { model: task.model, provider: task.provider, ...(task.item !== undefined ? { item: task.item } : {}) },
    };
    return { k: 'task', task: state };
  }
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * A finished task keeps only its output in the checkpoint: later steps need nothing else, and dropping the
 * conversation keeps every checkpoint of a long run small (the ledger keeps what each call cost).
 */
function completeTask(task: TaskCheckpoint): void {
  task.status = 'completed';
  task.messages = [];
  task.toolResults = [];
  delete task.system;
}

function toolCallsOf(message: ChatMessage): ToolCall[] {
  return message.content.flatMap((p) => (p.type === 'toolCall' ? [{ id: p.id, name: p.name, input: p.input }] : []));
}

function textOf(message: ChatMessage): string {
  return message.content
    .filter((p): p is Extract<ContentPart, { type: 'text' }> => p.type === 'text')
    .map((p) => p.text)
    .join('');
}

/** The task's answer: its last message's text, or all its text when the last message had none. */
function answerOf(task: TaskCheckpoint): string {
  const last = task.messages[task.messages.length - 1]!;
  const text = textOf(last).trim();
  if (text) return text;
  return task.messages
    .filter((m) => m.role === 'assistant')
    .map(textOf)
    .filter((t) => t.trim())
    .join('\n\n');
}

function runData(run: RunState, extra: RunData): RunData {
  const data = (run.data ?? {}) as RunData;
  const out: RunData = { provider: data.provider, model: data.model };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** The workflow's `version`, or a short hash of its prompts (a workspace file edited without a version still gets a new variant). */
function promptVersion(workflow: WorkflowDefinition): string {
  if (workflow.version) return workflow.version;
  const hash = createHash('sha256')
    .update(JSON.stringify({ system: workflow.system, steps: workflow.steps }))
    .digest('hex');
  return `sha-${hash.slice(0, 8)}`;
}

/** The run-input variables a workflow's prompts use. */
function usedVariables(workflow: WorkflowDefinition): Set<TemplateVariable> {
  const used = new Set<TemplateVariable>();
  const texts = [workflow.system ?? '', ...workflow.steps.flatMap((s) => [s.prompt, s.system ?? ''])];
  for (const text of texts) {
    for (const ref of templateReferences(text)) if (ref.kind === 'variable') used.add(ref.name);
  }
  return used;
}

function describeInputs(used: Set<TemplateVariable>): string {
  const words: Record<TemplateVariable, string> = {
    input: 'text',
    file: 'a file',
    fileContent: 'a file',
    selection: 'a selection',
  };
  return [...new Set(TEMPLATE_VARIABLES.filter((v) => used.has(v)).map((v) => words[v]))].join(' or ');
}

/** How a limit message names the step: a sub-agent's limits are its step's as a whole. */
function stepName(step: RunnerStep, task: TaskCheckpoint): string {
  return `Step "${step.id}"${task.parentTaskId ? ' (its sub-agents together)' : ''}`;
}

/** The wall-time block of `task`'s step; `stopped` says what was cut off at the deadline. */
function wallTimeBlocked(
  step: RunnerStep,
  task: TaskCheckpoint,
  limits: TaskLimits,
  stopped?: string,
): BudgetBlockedError {
  return new BudgetBlockedError(
    `${stepName(step, task)} ran for its limit of ${limits.maxWallSeconds} s` +
      `${stopped ? `; ${stopped}` : ''}. Raise limits.task.maxWallSeconds in .agent-budget/budget.json (or the step's limits) and resume.`,
    'task.maxWallSeconds',
  );
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

function clampSoft(soft: number | undefined, hard: number | undefined): { softTokens?: number; hardTokens?: number } {
  if (soft !== undefined && hard !== undefined && soft > hard)
    return { softTokens: Math.floor(hard / 2), hardTokens: hard };
  return { softTokens: soft, hardTokens: hard };
}

function sameProvider(model: string, provider: ProviderId, prices: Parameters<typeof modelInfo>[1]): boolean {
  try {
    return modelInfo(model, prices, provider).provider === provider;
  } catch {
    return false;
  }
}
