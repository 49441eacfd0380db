import * as vscode from 'vscode';
import { PROVIDERS, type ProviderId } from '../core/usage';
import { Disposable } from './dispose';
import { Commands, SecretKeys } from './ids';

const LABELS: Record<ProviderId, string> = { anthropic: 'Anthropic', openai: 'OpenAI', gemini: 'Google Gemini' };

/**
 * Loose shape checks: catch a pasted sentence or a key for the wrong provider, never reject a key format a
 * provider may introduce (OpenAI-compatible local servers accept anything non-empty).
 */
export function checkKeyShape(provider: ProviderId, key: string): string | undefined {
  if (key.length === 0) return vscode.l10n.t('The key is empty.');
  if (/\s/.test(key)) return vscode.l10n.t('An API key has no spaces or line breaks.');
  if (key.length < 8) return vscode.l10n.t('That is too short to be an API key.');
  if (provider === 'openai' && key.startsWith('sk-ant-'))
    return vscode.l10n.t('That looks like an Anthropic key (sk-ant-…).');
  if (provider === 'anthropic' && key.startsWith('sk-') && !key.startsWith('sk-ant-'))
    return vscode.l10n.t('Anthropic keys start with sk-ant-; that looks like an OpenAI key.');
  if (provider === 'gemini' && key.startsWith('sk-'))
    return vscode.l10n.t("Gemini keys do not start with sk-; that looks like another provider's key.");
  return undefined;
}

/**
 * Provider API keys, kept only in SecretStorage (the OS keychain in desktop VS Code). Nothing here ever writes a
 * key to settings, files, logs or an output channel; the rest of the extension asks `get()` at call time (answered
 * from memory until SecretStorage reports a change).
 */
export class ApiKeys extends Disposable {
  private readonly changed = this.register(new vscode.EventEmitter<ProviderId>());
  /** Fires with the provider whose key was set or cleared (in this window or another). */
  readonly onDidChange = this.changed.event;
  /**
   * Each provider's key as last read: the proxy asks on every request, and a SecretStorage read is a round trip to
   * the main process (and the keychain). Dropped when SecretStorage says the key changed, here or in another window.
   */
  private readonly cache = new Map<ProviderId, Promise<string | undefined>>();

  constructor(private readonly secrets: vscode.SecretStorage) {
    super();
    this.register(
      secrets.onDidChange((e) => {
        const provider = PROVIDERS.find((p) => SecretKeys.apiKey(p) === e.key);
        if (!provider) return;
        this.cache.delete(provider);
        this.changed.fire(provider);
      }),
    );
    this.register(vscode.commands.registerCommand(Commands.setApiKey, (p?: ProviderId) => this.promptSet(p)));
    this.register(vscode.commands.registerCommand(Commands.clearApiKey, (p?: ProviderId) => this.promptClear(p)));
  }

  get(provider: ProviderId): Promise<string | undefined> {
    let key = this.cache.get(provider);
    if (!key) {
      const read = Promise.resolve(this.secrets.get(SecretKeys.apiKey(provider))).then((k) => k || undefined);
      key = read;
      this.cache.set(provider, read);
      read.catch(() => this.cache.get(provider) === read && this.cache.delete(provider));
    }
    return key;
  }

  async set(provider: ProviderId, key: string): Promise<void> {
    this.cache.delete(provider);
    await this.secrets.store(SecretKeys.apiKey(provider), key);
    this.cache.delete(provider);
  }

  async clear(provider: ProviderId): Promise<void> {
    this.cache.delete(provider);
    await this.secrets.delete(SecretKeys.apiKey(provider));
    this.cache.delete(provider);
  }

  /** Which providers have a key, for status displays. Never returns the keys themselves. */
  async status(): Promise<Record<ProviderId, boolean>> {
    const entries = await Promise.all(PROVIDERS.map(async (p) => [p, (await this.get(p)) !== undefined] as const));
    return Object.fromEntries(entries) as Record<ProviderId, boolean>;
  }

  private async pickProvider(placeHolder: string, only?: (p: ProviderId) => boolean): Promise<ProviderId | undefined> {
    const status = await this.status();
    const items = PROVIDERS.filter((p) => !only || only(p)).map((p) => ({
      label: LABELS[p],
      description: status[p] ? vscode.l10n.t('key set') : vscode.l10n.t('no key'),
      provider: p,
    }));
    if (items.length === 0) {
      void vscode.window.showInformationMessage(vscode.l10n.t('Agent Budget: no API keys are stored.'));
      return undefined;
    }
    return (await vscode.window.showQuickPick(items, { placeHolder, ignoreFocusOut: true }))?.provider;
  }

  private async promptSet(preset?: ProviderId): Promise<void> {
    const provider =
      preset && PROVIDERS.includes(preset) ? preset : await this.pickProvider(vscode.l10n.t('Set the API key for…'));
    if (!provider) return;
    const key = await vscode.window.showInputBox({
      title: vscode.l10n.t('Agent Budget: {0} API key', LABELS[provider]),
      prompt: vscode.l10n.t("Stored in VS Code's secret storage, never in settings or files."),
      password: true,
      ignoreFocusOut: true,
      validateInput: (value) => checkKeyShape(provider, value.trim()),
    });
    if (key === undefined) return;
    await this.set(provider, key.trim());
    void vscode.window.showInformationMessage(vscode.l10n.t('Agent Budget: {0} API key saved.', LABELS[provider]));
  }

  private async promptClear(preset?: ProviderId): Promise<void> {
    const status = await this.status();
    const provider =
      preset && PROVIDERS.includes(preset)
        ? preset
        : await this.pickProvider(vscode.l10n.t('Clear the API key of…'), (p) => status[p]);
    if (!provider) return;
    await this.clear(provider);
    void vscode.window.showInformationMessage(vscode.l10n.t('Agent Budget: {0} API key cleared.', LABELS[provider]));
  }
}
