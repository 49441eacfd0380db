import { degradeModel, routeModel } from '../policy/effective';
import type { BudgetPolicy } from '../policy/types';
import { modelInfo, resolvePrice, UnknownModelError } from '../pricing/cost';
import { BUILT_IN_PRICES } from '../pricing/prices';
import { estimateByHeuristic } from '../providers/estimate';
import { PROVIDERS, type ProviderId } from '../usage';
import type { ProviderAccess } from './api';
import { DEFAULT_MODELS, type RunnerStep } from './builtins';
import type { RunCheckpointState } from './checkpoint';

/** Which model and provider a task runs on, and where the budget may degrade it to. */
export class ModelChoice {
  private byModel: { policy: unknown; providers: Map<string, ProviderId> } = {
    policy: undefined,
    providers: new Map(),
  };

  constructor(
    private readonly policy: () => BudgetPolicy,
    private readonly providers: ProviderAccess,
  ) {}

  /**
   * The run's model (`--model`), else the step's, else the workflow's, else the policy's routing for the workflow
   * (default vs complex model), else the default model of the first provider with a key. The provider is the
   * workflow's, or the one the price table knows the model under.
   */
  async choose(
    state: RunCheckpointState,
    step: RunnerStep,
    promptText: string,
  ): Promise<{ model: string; provider: ProviderId }> {
    const wf = state.workflow;
    let model = state.input.model ?? step.model ?? wf.model;
    if (!model) {
      const fallback = DEFAULT_MODELS[wf.provider ?? (await this.defaultProvider())];
      const route = routeModel(this.policy(), wf.id, {
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
    if (constrained) return { model, provider: constrained };
    try {
      return { model, provider: this.providerOf(model, undefined) };
    } catch (err) {
      // A model no price list knows may be the user's own (Ollama, LM Studio, vLLM) on a loopback endpoint they set.
      if (err instanceof UnknownModelError)
        for (const p of PROVIDERS) if ((await this.providers.isLocal?.(p)) === true) return { model, provider: p };
      throw err;
    }
  }

  /** Whether the provider's endpoint is a loopback server the user set (pricing/local.ts). */
  async isLocal(provider: ProviderId): Promise<boolean> {
    return (await this.providers.isLocal?.(provider)) === true;
  }

  /** The workflow's degrade model, when the price table knows it under the task's provider (a call never switches provider). */
  degradeTarget(workflow: string, provider: ProviderId): string | undefined {
    const policy = this.policy();
    const degrade = degradeModel(policy, workflow);
    return degrade && sameProvider(degrade, provider, policy.prices) ? degrade : undefined;
  }

  /** The workflow's degrade model when it is one of another provider (it cannot take this call), for a warning. */
  foreignDegrade(workflow: string, provider: ProviderId): string | undefined {
    const degrade = degradeModel(this.policy(), workflow);
    return degrade && !this.degradeTarget(workflow, provider) ? degrade : undefined;
  }

  /**
   * The model that summarises a task's older turns (compaction.ts): the workflow's degradeModel when it is one of
   * the task's provider, else the cheapest model of that provider in the price table (budget.json's `prices` too) —
   * never one dearer than the task's own model. `why` says which, for the message.
   */
  compactionModel(
    workflow: string,
    provider: ProviderId,
    taskModel: string,
    now: number,
  ): { model: string; why: string } {
    const policy = this.policy();
    const rate = (model: string) => {
      try {
        const base = resolvePrice(provider, model, policy.prices, { at: now }).base;
        return base.inputPerMTok * 4 + base.outputPerMTok; // a summary reads about four times what it writes
      } catch {
        return Number.POSITIVE_INFINITY;
      }
    };
    const own = rate(taskModel);
    const degrade = this.degradeTarget(workflow, provider);
    if (degrade && rate(degrade) <= own) return { model: degrade, why: `workflows.${workflow}.degradeModel` };
    let cheapest = { model: taskModel, rate: own };
    const ids = Object.entries({ ...BUILT_IN_PRICES, ...policy.prices })
      .filter(([, p]) => p.provider === provider)
      .map(([id]) => id);
    for (const id of ids) {
      const r = rate(id);
      if (r < cheapest.rate) cheapest = { model: id, rate: r };
    }
    return cheapest.model === taskModel
      ? { model: taskModel, why: `the step's own model, the cheapest of ${provider} in the price table` }
      : {
          model: cheapest.model,
          why: `the cheapest ${provider} model in the price table; set workflows.${workflow}.degradeModel to choose`,
        };
  }

  /** The provider the price table knows `model` under (throws UnknownModelError); remembered per policy. */
  private providerOf(model: string, constrained: ProviderId | undefined): ProviderId {
    const policy = this.policy();
    if (this.byModel.policy !== policy) this.byModel = { policy, providers: new Map() };
    const key = `${constrained ?? ''}\u0000${model}`;
    let provider = this.byModel.providers.get(key);
    if (!provider) {
      provider = modelInfo(model, policy.prices, constrained).provider;
      this.byModel.providers.set(key, provider);
    }
    return provider;
  }

  private async defaultProvider(): Promise<ProviderId> {
    if (this.providers.hasKey) {
      for (const p of PROVIDERS) if (await this.providers.hasKey(p)) return p;
    }
    return 'anthropic';
  }
}

function sameProvider(model: string, provider: ProviderId, prices: BudgetPolicy['prices']): boolean {
  try {
    return modelInfo(model, prices, provider).provider === provider;
  } catch {
    return false;
  }
}
