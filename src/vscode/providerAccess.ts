import * as vscode from 'vscode';
import { isLoopbackEndpoint } from '../core/pricing/local';
import { createProviderAdapter } from '../core/providers';
import { PROVIDER_NAMES } from '../core/providers/errors';
import { MissingApiKeyError } from '../core/runner/runner';
import type { ProviderAdapter } from '../core/providers/types';
import { chooseEndpoint } from '../core/trust/origins';
import type { ProviderId } from '../core/usage';
import type { Workspace } from '../core/workspace';
import type { ApiKeys } from './apiKeys';
import { SettingKeys } from './ids';
import type { Settings } from './settings';
import type { ProviderAccess } from './runnerContract';

/**
 * Provider adapters for the runner, made at call time: the key from SecretStorage (asked on every adapter, so a key
 * set or cleared meanwhile applies to the next call and nothing caches it), the endpoint where `chooseEndpoint`
 * allows: the user's setting `agentBudget.<provider>.baseUrl` (user settings only, see settings.ts), else the
 * policy's `providers.<provider>.baseUrl` when the user chose it, else the provider's official host.
 */
export class VsCodeProviderAccess implements ProviderAccess {
  /** Notices already shown (a repository endpoint passed over), so each is said once per window. */
  private readonly told = new Set<string>();

  constructor(
    private readonly keys: ApiKeys,
    private readonly settings: Settings,
    private readonly workspace: () => Workspace | undefined,
  ) {}

  /** Lets a workflow without a model run on the first provider that has a key. */
  async hasKey(provider: ProviderId): Promise<boolean> {
    return (await this.keys.get(provider)) !== undefined;
  }

  /**
   * `agentBudget.openai.baseUrl` on loopback — a setting read from the user's own settings only (settings.ts), never a
   * workspace's `.vscode/settings.json` nor budget.json: a local server (Ollama, LM Studio, vLLM) that needs no key,
   * its unknown models priced at $0.
   */
  isLocal(provider: ProviderId): boolean {
    const url = this.settings.value.baseUrls[provider];
    return provider === 'openai' && url !== undefined && isLoopbackEndpoint(url);
  }

  async adapter(provider: ProviderId): Promise<ProviderAdapter> {
    const apiKey = (await this.keys.get(provider)) ?? '';
    if (!apiKey && !this.isLocal(provider)) {
      throw new MissingApiKeyError(
        provider,
        vscode.l10n.t(
          'No {0} API key is set. Run "Agent Budget: Set API Key…", then resume the run.',
          PROVIDER_NAMES[provider],
        ),
      );
    }
    const policy = this.workspace()?.policy.providers[provider];
    const s = this.settings.value;
    const endpoint = chooseEndpoint({
      provider,
      userSetting: {
        name: `Setting ${SettingKeys.section}.${SettingKeys.baseUrl(provider)}`,
        value: s.baseUrls[provider] ?? '',
      },
      // The effective policy holds a repository's baseUrl only with the user's consent (the modal), and the user's own
      // user.json: either way the user chose it (trust/policyMerge.ts drops it otherwise).
      policy: policy?.baseUrl ? { baseUrl: policy.baseUrl, chosenByUser: true } : undefined,
    });
    if (endpoint.notice && !this.told.has(endpoint.notice)) {
      this.told.add(endpoint.notice);
      void vscode.window.showWarningMessage(vscode.l10n.t('Agent Budget: {0}', endpoint.notice));
    }
    return createProviderAdapter({
      provider,
      apiKey,
      baseUrl: endpoint.baseUrl,
      api: provider === 'openai' ? (s.openaiApi ?? policy?.api) : undefined,
    });
  }
}
