import { createHash } from 'node:crypto';
import * as vscode from 'vscode';
import { PROVIDER_NAMES } from '../core/providers/errors';
import {
  DEFAULT_BASE_URLS,
  describeCall,
  ProxyServer,
  ProxyTokens,
  TOKEN_PREFIX,
  TokenFileError,
  type UpstreamResolver,
} from '../core/proxy';
import { upstreamProblem } from '../core/proxy/upstream';
import type { Workspace } from '../core/workspace';
import type { ApiKeys } from './apiKeys';
import type { ProxyStatus } from './budgetMeter';
import { Disposable } from './dispose';
import { Commands, ContextKeys, SecretKeys, SettingKeys } from './ids';
import type { Settings } from './settings';
import type { WorkspaceHost } from './workspaceHost';

/** The client name of the extension's own token: what its terminals use. */
const VSCODE_CLIENT = 'vscode';

/**
 * The budget proxy in the editor (docs/proxy.md): *Start Budget Proxy* / *Stop Budget Proxy* (or `agentBudget.proxy.
 * autoStart`) serve it on 127.0.0.1 in front of the providers whose keys are in SecretStorage, on this window's
 * workspace, engine and ledger — so proxied spend moves the meter and the panel as it settles. While it runs, every
 * integrated terminal of the workspace opened from then on gets the base URLs and the extension's own client token
 * (`vscode`) in the key variables, so `claude`, `codex` or `gemini` typed there is metered and capped with no setup;
 * terminals already open offer to relaunch.
 */
export class BudgetProxy extends Disposable implements ProxyStatus {
  private server: ProxyServer | undefined;
  private starting: Promise<string | undefined> | undefined;
  private readonly changed = this.register(new vscode.EventEmitter<void>());
  /** The proxy started or stopped. */
  readonly onDidChange = this.changed.event;
  /** Set once disposed: resolves when the calls in flight are on the ledger. */
  closing: Promise<void> | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly host: WorkspaceHost,
    private readonly keys: ApiKeys,
    private readonly settings: Settings,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    const env = context.environmentVariableCollection;
    // The variables hold while this window's proxy runs, never after: a restored collection would point terminals at
    // a proxy that is not there.
    env.persistent = false;
    env.clear();
    this.register(vscode.commands.registerCommand(Commands.startProxy, () => this.start()));
    this.register(vscode.commands.registerCommand(Commands.stopProxy, () => this.stop()));
    this.register({
      dispose: () => {
        // Before the store closes (it is disposed after this): calls still in flight are cut and their charges
        // queued now, ahead of the store's last flush.
        this.closing = this.server?.stop(0);
        this.server = undefined;
        env.clear();
      },
    });
    if (settings.value.proxyAutoStart && vscode.workspace.isTrusted) {
      host.whenOpen(() => void this.start({ quiet: true }));
    }
  }

  /** The proxy's URL while it runs. */
  get url(): string | undefined {
    return this.server?.url;
  }

  /** Starts the proxy (once); resolves with its URL, or undefined when it could not start (the user was told why). */
  start(options: { quiet?: boolean } = {}): Promise<string | undefined> {
    if (this.server) {
      if (!options.quiet)
        void vscode.window.showInformationMessage(
          vscode.l10n.t('Agent Budget: the budget proxy runs on {0}.', this.server.url),
        );
      return Promise.resolve(this.server.url);
    }
    this.starting ??= this.startServer(options).finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async startServer(options: { quiet?: boolean }): Promise<string | undefined> {
    if (!vscode.workspace.isTrusted) {
      const choice = await vscode.window.showWarningMessage(
        vscode.l10n.t(
          'Agent Budget: the budget proxy spends with your API keys, so it does not start in Restricted Mode. Trust this folder first.',
        ),
        vscode.l10n.t('Manage Workspace Trust'),
      );
      if (choice) void vscode.commands.executeCommand('workbench.trust.manage');
      return undefined;
    }
    let workspace: Workspace;
    try {
      workspace = await this.host.ready;
    } catch (err) {
      void vscode.window.showErrorMessage(
        vscode.l10n.t('Agent Budget: the budget proxy needs the workspace store: {0}', message(err)),
      );
      return undefined;
    }
    const port = this.settings.value.proxyPort;
    let server: ProxyServer;
    let token: string;
    try {
      const tokens = ProxyTokens.in(workspace.store.dir);
      token = await this.ownToken(tokens, workspace.store.dir);
      server = await ProxyServer.start({
        workspace,
        tokens,
        port,
        upstream: this.upstreams(port),
        log: (line) => this.log.warn(line),
      });
    } catch (err) {
      const text = vscode.l10n.t('Agent Budget: the budget proxy did not start: {0}', message(err));
      this.log.error(text);
      const fix = err instanceof TokenFileError ? undefined : vscode.l10n.t('Open Settings');
      void vscode.window.showErrorMessage(text, ...(fix ? [fix] : [])).then((choice) => {
        if (choice)
          void vscode.commands.executeCommand('workbench.action.openSettings', `agentBudget.${SettingKeys.proxyPort}`);
      });
      return undefined;
    }
    if (this.isDisposed) {
      await server.stop(0);
      return undefined;
    }
    this.server = server;
    this.register(server.onDidCall((event) => this.log.info(`budget proxy: ${describeCall(event)}`)));
    this.setTerminalEnvironment(server.url, token);
    void vscode.commands.executeCommand('setContext', ContextKeys.proxyRunning, true);
    this.changed.fire();
    this.log.info(vscode.l10n.t('Budget proxy on {0} (terminals opened from now on use it).', server.url));
    if (!options.quiet)
      void vscode.window.showInformationMessage(
        vscode.l10n.t(
          'Agent Budget: budget proxy on {0}. Terminals opened from now on send their Anthropic, OpenAI and Gemini calls through it (open ones offer to relaunch).',
          server.url,
        ),
      );
    return server.url;
  }

  /** Stops the proxy, letting calls in flight finish for a few seconds (the rest are charged as estimated). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) {
      void vscode.window.showInformationMessage(vscode.l10n.t('Agent Budget: the budget proxy is not running.'));
      return;
    }
    this.server = undefined;
    this.context.environmentVariableCollection.clear();
    void vscode.commands.executeCommand('setContext', ContextKeys.proxyRunning, false);
    this.changed.fire();
    await server.stop(5_000);
    this.log.info(vscode.l10n.t('Budget proxy stopped.'));
    void vscode.window.showInformationMessage(
      vscode.l10n.t('Agent Budget: budget proxy stopped. New terminals call the providers directly again.'),
    );
  }

  /**
   * The extension's own client token for this workspace's store, kept in SecretStorage (the tokens file holds only
   * its hash). Made on first start, and again if it was revoked or the file was replaced.
   */
  private async ownToken(tokens: ProxyTokens, stateDir: string): Promise<string> {
    const key = SecretKeys.proxyToken(createHash('sha256').update(stateDir).digest('hex').slice(0, 16));
    const stored = await this.context.secrets.get(key);
    if (stored && tokens.verify(stored)?.name === VSCODE_CLIENT) return stored;
    const { token } = tokens.create(VSCODE_CLIENT, {}, { replace: true });
    await this.context.secrets.store(key, token);
    return token;
  }

  /** Keys from SecretStorage at call time; endpoints from the settings, else the policy, else the providers'. */
  private upstreams(port: number): UpstreamResolver {
    return async (provider) => {
      const name = PROVIDER_NAMES[provider];
      const apiKey = await this.keys.get(provider);
      if (!apiKey)
        return {
          missing: vscode.l10n.t(
            'The Agent Budget proxy has no {0} API key: set one in VS Code with "Agent Budget: Set API Key…".',
            name,
          ),
        };
      const policy = this.host.current?.policy.providers[provider];
      const baseUrl = this.settings.value.baseUrls[provider] ?? policy?.baseUrl ?? DEFAULT_BASE_URLS[provider];
      const problem = upstreamProblem({ baseUrl, apiKey }, port, TOKEN_PREFIX, {
        key: `The ${name} key set in VS Code`,
        baseUrl: `agentBudget.${provider}.baseUrl`,
      });
      // `problem` is core's sentence (shared with the CLI's proxy), so only the frame is translated.
      return problem
        ? { missing: vscode.l10n.t('The Agent Budget proxy cannot call {0}: {1}', name, problem) }
        : { baseUrl, apiKey };
    };
  }

  private setTerminalEnvironment(url: string, token: string): void {
    const env = this.context.environmentVariableCollection;
    env.description = new vscode.MarkdownString(
      vscode.l10n.t(
        'Agent Budget: Anthropic, OpenAI and Gemini calls from this terminal go through the budget proxy ({0}) and count against your budgets.',
        url,
      ),
    );
    const variables: Record<string, string> = {
      ANTHROPIC_BASE_URL: url,
      OPENAI_BASE_URL: `${url}/v1`,
      GOOGLE_GEMINI_BASE_URL: url,
      GEMINI_BASE_URL: url,
      ANTHROPIC_API_KEY: token,
      OPENAI_API_KEY: token,
      GEMINI_API_KEY: token,
    };
    for (const [name, value] of Object.entries(variables)) env.replace(name, value);
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
