import { createProviderAdapter } from '../core/providers';
import { ProviderError, PROVIDER_NAMES } from '../core/providers/errors';
import type { ProviderAdapter } from '../core/providers/types';
import type { ProviderId } from '../core/usage';
import type { Workspace } from '../core/workspace';
import type { ApiKeys } from './apiKeys';
import type { Settings } from './settings';
import type { ProviderAccess } from './runnerContract';

/** Thrown when a run needs a provider whose key is not set; run commands offer "Set API Key" for it. */
export class MissingApiKeyError extends Error {
  override readonly name = 'MissingApiKeyError';
  constructor(readonly provider: ProviderId) {
    super(`No ${PROVIDER_NAMES[provider]} API key is set. Run "Agent Budget: Set API Key…" and resume the run.`);
  }
}

/**
 * Provider adapters for the runner, made at call time: the key from SecretStorage (asked on every adapter, so a key
 * set or cleared meanwhile applies to the next call and nothing caches it), the endpoint from the setting
 * `agentBudget.<provider>.baseUrl`, else the policy's `providers.<provider>.baseUrl`, else the SDK's default.
 */
export class VsCodeProviderAccess implements ProviderAccess {
  constructor(
    private readonly keys: ApiKeys,
    private readonly settings: Settings,
    private readonly workspace: () => Workspace | undefined,
  ) {}

  async adapter(provider: ProviderId): Promise<ProviderAdapter> {
    const apiKey = await this.keys.get(provider);
    if (!apiKey) {
      throw new ProviderError({ provider, kind: 'auth', message: new MissingApiKeyError(provider).message, retryable: false });
    }
    const policy = this.workspace()?.policy.providers[provider];
    const s = this.settings.value;
    return createProviderAdapter({
      provider,
      apiKey,
      baseUrl: s.baseUrls[provider] ?? policy?.baseUrl,
      api: provider === 'openai' ? (s.openaiApi ?? policy?.api) : undefined,
    });
  }
}
