import type { PriceOverride } from '../policy/types';
import type { ProviderId } from '../usage';
import { matchModel } from './match';
import { BUILT_IN_PRICES } from './prices';

/**
 * A workflow's `degradeModel` takes over a call the cap cannot afford on the call's own provider: the runner keeps
 * the conversation with one provider's API (its messages, tool calls and prompt cache), so a degrade model of
 * another provider could never be used. When budget.json names the workflow's models, the mismatch is known when
 * the policy loads and is refused there, saying why; otherwise (the model is chosen at run time) the runner warns.
 *
 * Only the built-in table and the file's own `prices` are read (no second source, no network, nothing slow on the
 * path that loads the policy); a model neither knows is left to the run (it may be a local one).
 */
export function degradeModelProblems(raw: unknown): Array<{ path: string[]; message: string }> {
  if (!isObject(raw) || !isObject(raw.workflows)) return [];
  const prices: Record<string, PriceOverride> = {};
  for (const [id, p] of Object.entries(isObject(raw.prices) ? raw.prices : {})) {
    if (isObject(p) && typeof p.provider === 'string') prices[id] = p as unknown as PriceOverride;
  }
  const providerOf = (model: string): ProviderId | undefined =>
    matchModel<{ provider: ProviderId }>(model, { ...BUILT_IN_PRICES, ...prices })?.entry.provider;
  const problems: Array<{ path: string[]; message: string }> = [];
  for (const [id, wf] of Object.entries(raw.workflows)) {
    if (!isObject(wf) || typeof wf.degradeModel !== 'string') continue;
    const degrade = wf.degradeModel;
    const degradeProvider = providerOf(degrade);
    if (!degradeProvider) continue;
    for (const key of ['model', 'complexModel'] as const) {
      const model = wf[key];
      const provider = typeof model === 'string' ? providerOf(model) : undefined;
      if (!provider || provider === degradeProvider) continue;
      problems.push({
        path: ['workflows', id, 'degradeModel'],
        message:
          `"${degrade}" runs on ${degradeProvider} but this workflow's ${key} "${model as string}" runs on ${provider}: ` +
          `a call degrades within its own provider (the conversation stays with one API), so it would never be used. ` +
          `Name a cheaper ${provider} model.`,
      });
      break;
    }
  }
  return problems;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
