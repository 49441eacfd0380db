import type { AdmitRequest } from '../budget/engine';
import { cachingOf } from '../policy/effective';
import type { BudgetPolicy, TaskLimits } from '../policy/types';
import { inputTokenBound, TOKENIZER_MARGIN } from '../providers/estimate';
import type { ChatRequest, ProviderAdapter } from '../providers/types';
import type { RunnerStep } from './builtins';
import { promptCacheFor } from './caching';
import type { TaskCheckpoint } from './checkpoint';
import type { PromptEstimates } from './estimates';
import type { Execution } from './execution';
import type { StepLimits } from './limits';
import type { ModelChoice } from './models';

/**
 * What one call sends and what the budget is asked to admit for it: the request with its prompt caching, and the
 * admission with the prompt's bound (what a hard limit holds against), the likely use (what soft limits and the
 * ledger's estimate go by) and the cache writes the worst case must price.
 */
export interface CallPlan {
  request: Omit<ChatRequest, 'maxOutputTokens'>;
  admit: AdmitRequest;
  /** The prompt's o200k basis, which the settled call calibrates (runner/estimates.ts). */
  basis: number;
}

export interface CallSpec {
  /** The conversation to send (the task's own, or a compaction's). */
  request: Omit<ChatRequest, 'maxOutputTokens' | 'cache'>;
  /** The ledger's task name: the step id, or `compact`. */
  taskName: string;
  maxOutputTokens: number | undefined;
  /** Fewest output tokens worth the call (default the budget's). */
  minOutputTokens?: number;
  limits: TaskLimits;
  /** An agent loop's turn: the conversation so far is sent again next turn (a cache breakpoint pays). */
  loop: boolean;
  /** The first message starts with the step's context block (a cache breakpoint may end the prefix there). */
  contextBlock: boolean;
  adapter: ProviderAdapter;
  localEndpoint: boolean;
}

export class CallPlanner {
  constructor(
    private readonly parts: {
      policy: () => BudgetPolicy;
      limits: StepLimits;
      models: ModelChoice;
      estimates: PromptEstimates;
    },
  ) {}

  plan(ex: Execution, step: RunnerStep, task: TaskCheckpoint, spec: CallSpec): CallPlan {
    const { estimates, limits, models } = this.parts;
    const wf = ex.state.workflow;
    const provider = task.provider;
    const model = spec.request.model;
    const likely = estimates.prompt(provider, model, spec.request);
    const factor = likely.basis > 0 ? likely.tokens / likely.basis : 1;
    const { cache, promptCaching } = promptCacheFor(spec.request, {
      caching: cachingOf(this.parts.policy(), wf.id),
      provider,
      model,
      key: `agent-budget:${wf.id}:${ex.runId}`,
      loop: spec.loop,
      contextPart: spec.contextBlock,
      localEndpoint: spec.localEndpoint,
      tokens: (text) => Math.round(estimates.count(text) * factor),
    });
    const request = { ...spec.request, ...(cache ? { cache } : {}) };
    let inputTokens = inputTokenBound(request);
    // OpenAI's own tokenizer counts for free here: the bound's slack shrinks to the tokenizer's margin (not for a
    // local server, whose model may tokenize otherwise).
    if (provider === 'openai' && !spec.localEndpoint)
      inputTokens = Math.min(inputTokens, Math.ceil(likely.basis * TOKENIZER_MARGIN));
    return {
      request,
      basis: likely.basis,
      admit: {
        workflow: wf.id,
        runId: ex.runId,
        taskId: task.taskId,
        task: spec.taskName,
        provider,
        model,
        inputTokens,
        exactInputTokens: async () => (await spec.adapter.estimateInputTokens(request)).inputTokens,
        likely: { inputTokens: likely.tokens, outputTokens: estimates.output(model, spec.maxOutputTokens) },
        promptVersion: ex.state.promptVersion,
        maxOutputTokens: spec.maxOutputTokens,
        ...(spec.minOutputTokens !== undefined ? { minOutputTokens: spec.minOutputTokens } : {}),
        tokenScopes: limits.tokenScopes(ex, step, task, spec.limits),
        spendScopes: limits.spendScopes(ex, task, spec.limits),
        degradeModel: models.degradeTarget(wf.id, provider),
        promptCaching,
        localEndpoint: spec.localEndpoint,
      },
    };
  }
}
