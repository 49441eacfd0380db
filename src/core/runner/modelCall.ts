import type { Admission } from '../budget/engine';
import type { Meter, MeteredCall } from '../metering/meter';
import type { TaskLimits } from '../policy/types';
import { callFailureOf, ProviderError } from '../providers/errors';
import type { ChatResult, ProviderAdapter, ToolSpec } from '../providers/types';
import type { LedgerEntry } from '../store/records';
import type { ProviderId } from '../usage';
import type { ProviderAccess } from './api';
import type { RunnerStep } from './builtins';
import type { TaskCheckpoint } from './checkpoint';
import type { Compaction } from './compaction';
import { nextRequest } from './conversation';
import type { PromptEstimates } from './estimates';
import type { Execution } from './execution';
import { wallTimeBlocked, type StepLimits } from './limits';
import type { ModelChoice } from './models';
import type { CallPlan, CallPlanner, CallSpec } from './request';
import { cancelledError } from './stop';

/**
 * One LLM call of a task, metered (src/core/metering): begun with the checkpoint marking it in flight, streamed,
 * then settled with the checkpoint holding its answer — or failed by the money rule, the run then stopping. Before a
 * turn of an agent loop, the task's older turns may be compacted first (compaction.ts), itself one such call.
 *
 * Durable writes per call: two. The reservation and the checkpoint carrying the in-flight marker are one write;
 * the ledger row and the checkpoint carrying the answer are another. So a billed call is in the checkpoint exactly
 * when it is in the ledger, and a crash mid-call leaves the marker that makes resume retry it once (its unknown
 * first attempt charged as estimated by the store's recovery).
 */
export class ModelCall {
  constructor(
    private readonly meter: Meter,
    private readonly providers: ProviderAccess,
    private readonly limits: StepLimits,
    private readonly models: ModelChoice,
    private readonly planner: CallPlanner,
    private readonly estimates: PromptEstimates,
    private readonly compaction: Compaction,
  ) {}

  async run(
    ex: Execution,
    step: RunnerStep,
    task: TaskCheckpoint,
    tools: ToolSpec[] | undefined,
    limits: TaskLimits,
  ): Promise<void> {
    const adapter = await this.adapterFor(ex, task.provider);
    const wf = ex.state.workflow;
    // A degrade model of another provider cannot take this call (pricing/degrade.ts refuses the decidable cases when
    // the policy loads): say so once per task instead of dropping it silently.
    const foreign = task.calls === 0 ? this.models.foreignDegrade(wf.id, task.provider) : undefined;
    if (foreign) {
      ex.warn(
        `${step.id}: degradeModel "${foreign}" is not a model of ${task.provider}, which this step runs on ` +
          `(${task.model}): it cannot degrade, so a cap this model cannot afford blocks the call instead.`,
      );
    }
    const localEndpoint = await this.models.isLocal(task.provider);
    const spec = (): CallSpec => ({
      request: nextRequest(task, tools),
      taskName: step.id,
      maxOutputTokens: step.maxOutputTokens,
      limits,
      loop: !!tools?.length,
      contextBlock: task.contextBlock === true,
      adapter,
      localEndpoint,
    });
    let plan = this.planner.plan(ex, step, task, spec());
    if (tools?.length && (await this.compaction.beforeCall(ex, step, task, plan, spec(), this)))
      plan = this.planner.plan(ex, step, task, spec());
    const { admission, result } = await this.call(ex, step, task, plan, adapter, limits, {
      onText: (delta) => ex.emit({ type: 'text', runId: ex.runId, stepId: step.id, delta }),
      apply: (r) => {
        task.messages.push(r.message);
        task.calls += 1;
      },
    });
    if (result.stopReason === 'maxTokens') {
      ex.warn(
        `${step.id}: the answer was cut at ${admission.maxOutputTokens} output tokens (limit: ${admission.clampedBy}).`,
      );
    }
  }

  /**
   * One metered call of `task` as `plan` says: admitted with the in-flight marker, streamed, then settled with
   * `apply`'s change to the checkpoint in the same write (or failed by the money rule, then thrown as what stops the
   * run). The settled call calibrates the prompt estimates and counts in the run's samples.
   */
  async call(
    ex: Execution,
    step: RunnerStep,
    task: TaskCheckpoint,
    plan: CallPlan,
    adapter: ProviderAdapter,
    limits: TaskLimits,
    how: { apply: (result: ChatResult) => void; onText?: (delta: string) => void },
  ): Promise<{ admission: Admission; result: ChatResult; entry: LedgerEntry }> {
    const previous = task.inFlight;
    task.inFlight = { attempt: (previous?.attempt ?? 0) + 1 };
    let call: MeteredCall;
    try {
      call = await ex.durably((records) => this.meter.begin(plan.admit, records));
    } catch (err) {
      task.inFlight = undefined;
      throw err;
    }
    const { admission } = call;
    for (const w of admission.warnings) ex.warn(`${step.id}: ${w}`);

    const deadline = this.limits.signal(ex, task, limits);
    let result: ChatResult;
    try {
      result = await adapter.chat({
        ...plan.request,
        model: admission.model,
        maxOutputTokens: admission.maxOutputTokens,
        signal: deadline.signal,
        onText: how.onText,
      });
    } catch (err) {
      task.inFlight = undefined;
      await this.fail(ex, step, call, err);
      throw stopFor(err, deadline.signal.reason, step, task, limits);
    } finally {
      deadline.dispose();
    }
    task.inFlight = undefined;
    if (result.warning) ex.warn(`${step.id}: ${result.warning}`);
    how.apply(result);
    const entry = await ex.durably((records) =>
      call.settle({ usage: result.usage, requestId: result.requestId ?? null, latencyMs: result.latencyMs }, records),
    );
    if (result.usage) ex.samplePrompt(admission.model, this.estimates.learn(admission.model, plan.basis, result.usage));
    ex.emitCharge(step.id, entry);
    return { admission, result, entry };
  }

  /** The adapter of `provider` for this run (asked once per run: a missing key fails here, naming what to set). */
  async adapterFor(ex: Execution, provider: ProviderId): Promise<ProviderAdapter> {
    let adapter = ex.adapters.get(provider);
    if (!adapter) {
      adapter = await this.providers.adapter(provider);
      ex.adapters.set(provider, adapter);
    }
    return adapter;
  }

  /** Ends a call that failed by the money rule (failedCallCharge): exact, estimated, or released. */
  private async fail(ex: Execution, step: RunnerStep, call: MeteredCall, err: unknown): Promise<void> {
    try {
      const entry = await ex.durably((records) => call.fail(callFailureOf(err), records));
      if (entry) ex.emitCharge(step.id, entry);
    } catch {
      // The store failed: the reservation stays open and is charged as estimated when this process is gone.
    }
  }
}

/** What stops the run after a failed call: an abort is the wall-time limit or a cancel; anything else as thrown. */
function stopFor(
  err: unknown,
  abortReason: unknown,
  step: RunnerStep,
  task: TaskCheckpoint,
  limits: TaskLimits,
): unknown {
  if (err instanceof ProviderError && err.kind === 'aborted') {
    if (abortReason === 'wall')
      return wallTimeBlocked(step, task, limits, `the ${task.model} call in flight was stopped`);
    return cancelledError();
  }
  return err;
}
