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
  /** What is wrong and what is used instead. */
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
    const problem = urlProblem(raw);
    if (problem)
      problems.push({
        setting: id(key),
        message: `${problem}; using the policy's or the provider's default endpoint.`,
      });
    else baseUrls[provider] = String(raw).replace(/\/+$/, '');
  }

  let openaiApi: AgentBudgetSettings['openaiApi'];
  const rawApi = config.get<unknown>(SettingKeys.openaiApi);
  if (rawApi === 'chat' || rawApi === 'responses') openaiApi = rawApi;
  else if (rawApi !== undefined && rawApi !== null && rawApi !== '') {
    problems.push({
      setting: id(SettingKeys.openaiApi),
      message: `must be "chat" or "responses", got ${JSON.stringify(rawApi)}; using the policy's choice.`,
    });
  }

  const rawReveal = config.get<unknown>(SettingKeys.revealOutput);
  let revealOutput = true;
  if (typeof rawReveal === 'boolean') revealOutput = rawReveal;
  else if (rawReveal !== undefined && rawReveal !== null) {
    problems.push({ setting: id(SettingKeys.revealOutput), message: 'must be true or false; using true.' });
  }

  const rawAuto = config.get<unknown>(SettingKeys.proxyAutoStart);
  let proxyAutoStart = false;
  if (typeof rawAuto === 'boolean') proxyAutoStart = rawAuto;
  else if (rawAuto !== undefined && rawAuto !== null) {
    problems.push({ setting: id(SettingKeys.proxyAutoStart), message: 'must be true or false; using false.' });
  }

  const rawPort = config.get<unknown>(SettingKeys.proxyPort);
  let proxyPort = DEFAULT_PROXY_PORT;
  if (typeof rawPort === 'number' && Number.isInteger(rawPort) && rawPort >= 1 && rawPort <= 65_535)
    proxyPort = rawPort;
  else if (rawPort !== undefined && rawPort !== null) {
    problems.push({
      setting: id(SettingKeys.proxyPort),
      message: `must be a port number from 1 to 65535, got ${JSON.stringify(rawPort)}; using ${DEFAULT_PROXY_PORT}.`,
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
      message: 'must be a dollar amount (0 or more); asking before every run until it is fixed.',
    });
  }

  return { settings: { baseUrls, openaiApi, revealOutput, proxyAutoStart, proxyPort, askAboveUsd }, problems };
}

function urlProblem(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return 'must be a URL string';
  return endpointProblem(raw);
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
      const text = `Setting ${p.setting} ${p.message}`;
      if (this.reported.has(text)) continue;
      this.reported.add(text);
      this.log.warn(text);
      void vscode.window.showWarningMessage(`Agent Budget: ${text}`, 'Open Settings').then((choice) => {
        if (choice) void vscode.commands.executeCommand('workbench.action.openSettings', p.setting);
      });
    }
    return settings;
  }
}
