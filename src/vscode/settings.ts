import path from 'node:path';
import * as vscode from 'vscode';
import { STATE_DIR } from '../core/workspace';
import { PROVIDERS, type ProviderId } from '../core/usage';
import { Disposable } from './dispose';
import { SettingKeys } from './ids';

/**
 * The extension's settings, typed and validated in one place. A bad value never reaches the code that uses it:
 * it is replaced by a safe fallback and the user is told once, in plain words, which setting and why.
 * API keys are not settings (SecretStorage only, see apiKeys.ts).
 */
export interface AgentBudgetSettings {
  /** Where the store lives, relative to the workspace folder (`agentBudget.stateDirectory`). */
  stateDirectory: string;
  /** Per-provider endpoint overrides; undefined = the policy's `providers.<p>.baseUrl`, else the SDK's default. */
  baseUrls: Record<ProviderId, string | undefined>;
  /** OpenAI API flavour; undefined = the policy's `providers.openai.api`, else `chat`. */
  openaiApi: 'chat' | 'responses' | undefined;
  /** Show the run output channel when a run starts. */
  revealOutput: boolean;
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
export function readSettings(config: { get<T>(key: string): T | undefined }): {
  settings: AgentBudgetSettings;
  problems: SettingProblem[];
} {
  const problems: SettingProblem[] = [];
  const id = (key: string) => `${SettingKeys.section}.${key}`;

  let stateDirectory = STATE_DIR;
  const rawDir = config.get<unknown>(SettingKeys.stateDirectory);
  if (rawDir !== undefined && rawDir !== null && rawDir !== '') {
    if (typeof rawDir !== 'string') {
      problems.push({
        setting: id(SettingKeys.stateDirectory),
        message: `must be a folder path; using "${STATE_DIR}".`,
      });
    } else if (path.isAbsolute(rawDir) || path.normalize(rawDir).split(/[\\/]/)[0] === '..') {
      problems.push({
        setting: id(SettingKeys.stateDirectory),
        message: `"${rawDir}" must be a folder inside the workspace (a relative path without ".."); using "${STATE_DIR}".`,
      });
    } else stateDirectory = path.normalize(rawDir);
  }

  const baseUrls = {} as Record<ProviderId, string | undefined>;
  for (const provider of PROVIDERS) {
    const key = SettingKeys.baseUrl(provider);
    const raw = config.get<unknown>(key);
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

  return { settings: { stateDirectory, baseUrls, openaiApi, revealOutput, askAboveUsd }, problems };
}

function urlProblem(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return 'must be a URL string';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `"${raw}" is not a URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `"${raw}" must start with http:// or https://`;
  if (url.username || url.password)
    return 'must not contain credentials (API keys go through "Agent Budget: Set API Key…")';
  return undefined;
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
