import * as vscode from 'vscode';
import { endpointProblem } from '../core/trust/origins';
import { DEFAULT_PROXY_PORT } from '../core/proxy';
import { PROVIDERS, type ProviderId } from '../core/usage';
import { Disposable } from './dispose';
import { SettingKeys } from './ids';

/**
 * The extension's settings, typed and validated in one place. A bad value never reaches the code that uses it:
 * it is replaced by a safe fallback and the user is told once, in plain words, which setting and why.
 * API keys are not settings (SecretStorage only, see apiKeys.ts). Where machine state lives is not a setting either:
 * a folder's settings could point it anywhere, and the CLI must find the same folder (statePaths.ts;
 * AGENT_BUDGET_STATE_HOME in the environment moves it for both).
 */
export interface AgentBudgetSettings {
  /**
   * Per-provider endpoint overrides from the user's own settings (never a folder's: an endpoint receives the API
   * key); undefined = the policy's `providers.<p>.baseUrl` when the user chose it, else the official host.
   */
  baseUrls: Record<ProviderId, string | undefined>;
  /** OpenAI API flavour; undefined = the policy's `providers.openai.api`, else `chat`. */
  openaiApi: 'chat' | 'responses' | undefined;
  /** Show the run output channel when a run starts. */
  revealOutput: boolean;
  /** Start the budget proxy with the window (`agentBudget.proxy.autoStart`, machine scope). */
  proxyAutoStart: boolean;
  /** The budget proxy's port on 127.0.0.1 (`agentBudget.proxy.port`). */
  proxyPort: number;
  /** Ask before a run whose worst case is above this many USD (the user's own setting); undefined = never ask. */
  askAboveUsd: number | undefined;
}

export interface SettingProblem {
  /** Full setting id, e.g. `agentBudget.openai.baseUrl`. */
  setting: string;
  /** The whole sentence: the setting, what is wrong and what is used instead. */
  message: string;
}

/** Reads and validates every setting from `config` (a WorkspaceConfiguration or a plain getter, for tests). */
export function readSettings(config: {
  get<T>(key: string): T | undefined;
  inspect?<T>(key: string): { globalValue?: T } | undefined;
}): {
  settings: AgentBudgetSettings;
  problems: SettingProblem[];
} {
  const problems: SettingProblem[] = [];
  const id = (key: string) => `${SettingKeys.section}.${key}`;

  const baseUrls = {} as Record<ProviderId, string | undefined>;
  for (const provider of PROVIDERS) {
    const key = SettingKeys.baseUrl(provider);
    // The user's value only: a repository's .vscode/settings.json must not choose where the key goes. (The
    // settings are application-scoped as well, so VS Code itself ignores them in a folder's settings.)
    const raw = config.inspect ? config.inspect<unknown>(key)?.globalValue : config.get<unknown>(key);
    baseUrls[provider] = undefined;
    if (raw === undefined || raw === null || raw === '') continue;
    const problem = typeof raw === 'string' ? endpointProblem(raw) : undefined;
    if (typeof raw !== 'string')
      problems.push({
        setting: id(key),
        message: vscode.l10n.t(
          "Setting {0} must be a URL string; using the policy's or the provider's default endpoint.",
          id(key),
        ),
      });
    else if (problem)
      problems.push({
        setting: id(key),
        // `problem` is core's words (trust/origins.ts, shared with the CLI).
        message: vscode.l10n.t(
          "Setting {0} {1}; using the policy's or the provider's default endpoint.",
          id(key),
          problem,
        ),
      });
    else baseUrls[provider] = String(raw).replace(/\/+$/, '');
  }

  let openaiApi: AgentBudgetSettings['openaiApi'];
  const rawApi = config.get<unknown>(SettingKeys.openaiApi);
  if (rawApi === 'chat' || rawApi === 'responses') openaiApi = rawApi;
  else if (rawApi !== undefined && rawApi !== null && rawApi !== '') {
    problems.push({
      setting: id(SettingKeys.openaiApi),
      message: vscode.l10n.t(
        'Setting {0} must be "chat" or "responses", got {1}; using the policy\'s choice.',
        id(SettingKeys.openaiApi),
        JSON.stringify(rawApi),
      ),
    });
  }

  const rawReveal = config.get<unknown>(SettingKeys.revealOutput);
  let revealOutput = true;
  if (typeof rawReveal === 'boolean') revealOutput = rawReveal;
  else if (rawReveal !== undefined && rawReveal !== null) {
    problems.push({
      setting: id(SettingKeys.revealOutput),
      message: vscode.l10n.t('Setting {0} must be true or false; using true.', id(SettingKeys.revealOutput)),
    });
  }

  const rawAuto = config.get<unknown>(SettingKeys.proxyAutoStart);
  let proxyAutoStart = false;
  if (typeof rawAuto === 'boolean') proxyAutoStart = rawAuto;
  else if (rawAuto !== undefined && rawAuto !== null) {
    problems.push({
      setting: id(SettingKeys.proxyAutoStart),
      message: vscode.l10n.t('Setting {0} must be true or false; using false.', id(SettingKeys.proxyAutoStart)),
    });
  }

  const rawPort = config.get<unknown>(SettingKeys.proxyPort);
  let proxyPort = DEFAULT_PROXY_PORT;
  if (typeof rawPort === 'number' && Number.isInteger(rawPort) && rawPort >= 1 && rawPort <= 65_535)
    proxyPort = rawPort;
  else if (rawPort !== undefined && rawPort !== null) {
    problems.push({
      setting: id(SettingKeys.proxyPort),
      message: vscode.l10n.t(
        'Setting {0} must be a port number from 1 to 65535, got {1}; using {2}.',
        id(SettingKeys.proxyPort),
        JSON.stringify(rawPort),
        DEFAULT_PROXY_PORT,
      ),
    });
  }

  // An application-scoped setting: VS Code reads it from the user's settings only, so a repository's
  // .vscode/settings.json cannot raise it to keep a dear run from asking.
  const rawAsk = config.get<unknown>(SettingKeys.askAboveUsd);
  let askAboveUsd: number | undefined;
  if (typeof rawAsk === 'number' && Number.isFinite(rawAsk) && rawAsk >= 0) askAboveUsd = rawAsk;
  else if (rawAsk !== undefined && rawAsk !== null && rawAsk !== '') {
    askAboveUsd = 0;
    problems.push({
      setting: id(SettingKeys.askAboveUsd),
      message: vscode.l10n.t(
        'Setting {0} must be a dollar amount (0 or more); asking before every run until it is fixed.',
        id(SettingKeys.askAboveUsd),
      ),
    });
  }

  return { settings: { baseUrls, openaiApi, revealOutput, proxyAutoStart, proxyPort, askAboveUsd }, problems };
}

/** The live settings: re-read and re-validated on every change of `agentBudget.*`. */
export class Settings extends Disposable {
  private current: AgentBudgetSettings;
  private readonly changed = this.register(new vscode.EventEmitter<AgentBudgetSettings>());
  /** Fires after any `agentBudget.*` setting changed, with the new validated values. */
  readonly onDidChange = this.changed.event;
  /** Problems already shown, so one bad value is reported once, not on every read. */
  private readonly reported = new Set<string>();

  constructor(private readonly log: vscode.LogOutputChannel) {
    super();
    this.current = this.read();
    this.register(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (!e.affectsConfiguration(SettingKeys.section)) return;
        this.current = this.read();
        this.changed.fire(this.current);
      }),
    );
  }

  get value(): AgentBudgetSettings {
    return this.current;
  }

  private read(): AgentBudgetSettings {
    const { settings, problems } = readSettings(vscode.workspace.getConfiguration(SettingKeys.section));
    for (const p of problems) {
      const text = p.message;
      if (this.reported.has(text)) continue;
      this.reported.add(text);
      this.log.warn(text);
      const open = vscode.l10n.t('Open Settings');
      void vscode.window.showWarningMessage(vscode.l10n.t('Agent Budget: {0}', text), open).then((choice) => {
        if (choice) void vscode.commands.executeCommand('workbench.action.openSettings', p.setting);
      });
    }
    return settings;
  }
}
