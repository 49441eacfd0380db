import * as vscode from 'vscode';
import { isLoopbackEndpoint } from '../core/pricing/local';
import { createProviderAdapter } from '../core/providers';
import { PROVIDER_NAMES } from '../core/providers/errors';
import { MissingApiKeyError } from '../core/runner/runner';
import type { ProviderAdapter } from '../core/providers/types';
import type { ProviderId } from '../core/usage';
import type { Workspace } from '../core/workspace';
import type { ApiKeys } from './apiKeys';
import type { Settings } from './settings';
import { SettingKeys } from './ids';
import type { ProviderAccess } from './runnerContract';

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

  /** Lets a workflow without a model run on the first provider that has a key. */
  async hasKey(provider: ProviderId): Promise<boolean> {
    return (await this.keys.get(provider)) !== undefined;
  }

  /**
   * `agentBudget.openai.baseUrl` on loopback, set in the user's own settings (not a workspace's `.vscode/settings.json`
   * nor budget.json): a local server (Ollama, LM Studio, vLLM) that needs no key, its unknown models priced at $0.
   */
  isLocal(provider: ProviderId): boolean {
    const url = this.settings.value.baseUrls[provider];
    return (
      provider === 'openai' &&
      url !== undefined &&
      isLoopbackEndpoint(url) &&
      userSet(SettingKeys.baseUrl(provider), url)
    );
  }

  async adapter(provider: ProviderId): Promise<ProviderAdapter> {
    const apiKey = (await this.keys.get(provider)) ?? '';
    if (!apiKey && !this.isLocal(provider)) {
      throw new MissingApiKeyError(
        provider,
        `No ${PROVIDER_NAMES[provider]} API key is set. Run "Agent Budget: Set API Key…", then resume the run.`,
      );
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

/** The setting's value in force is the user's own: set in their settings and not overridden by the workspace. */
function userSet(key: string, url: string): boolean {
  const seen = vscode.workspace.getConfiguration(SettingKeys.section).inspect<string>(key);
  return (
    seen?.workspaceValue === undefined &&
    seen?.workspaceFolderValue === undefined &&
    seen?.globalValue?.replace(/\/+$/, '') === url
  );
}
