import * as vscode from 'vscode';
import type { ConsentCheck } from '../core/trust/effectivePolicy';
import { Workspace } from '../core/workspace';
import { Disposable } from './dispose';
import { ContextKeys } from './ids';
import type { TeamDatabase } from './teamDatabase';

/**
 * The core Workspace (store, policy, budget engine) of the first workspace folder, as the rest of the extension
 * sees it. Opening reads the store's snapshot and replays its journal, which takes from milliseconds to a second
 * or more on a large store, so it happens after `activate()` returns: every feature asks `ready` (or listens to
 * `onDidOpen`) and shows a neutral state until then.
 */
export class WorkspaceHost extends Disposable {
  private opened: Workspace | undefined;
  private readonly openedEmitter = this.register(new vscode.EventEmitter<Workspace>());
  /** Fires once, when the store is open. */
  readonly onDidOpen = this.openedEmitter.event;
  /** The workspace once open; rejects when there is no folder or the store cannot open. */
  readonly ready: Promise<Workspace>;
  /** How long opening took (ms), for the activation report. */
  openMs: number | undefined;
  readonly folder: string | undefined;
  /** Set once disposed: resolves when the store has flushed and released its locks. */
  closing: Promise<void> | undefined;

  constructor(
    private readonly log: vscode.LogOutputChannel,
    /** The user's remembered answer to what budget.json loosens (policyConsent.ts); read on every policy load. */
    private readonly consent: ConsentCheck,
    /** The user's team database (SecretStorage), when set: the workspace debits the team ledger too. */
    private readonly teamDatabase?: TeamDatabase,
  ) {
    super();
    this.folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    this.ready = this.open();
    this.ready.catch(() => undefined); // reported in open(); callers that await it see the error themselves
    if (teamDatabase)
      this.register(
        teamDatabase.onDidChange(() => {
          const workspace = this.opened;
          if (workspace) void this.teamOptions().then((team) => workspace.setTeam(team));
        }),
      );
  }

  /**
   * The team ledger's options for Workspace.open / setTeam; undefined (and said once) when none is set or it cannot
   * be used (no member identity): runs then go on under the local budget alone.
   */
  private async teamOptions() {
    if (!this.teamDatabase || !this.folder) return undefined;
    try {
      const connection = await this.teamDatabase.connection(this.folder);
      return connection && { connection, log: (line: string) => this.log.info(line) };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.log.warn(`Team database not used: ${message}`);
      void vscode.window.showWarningMessage(vscode.l10n.t('Agent Budget: the team database is not used: {0}', message));
      return undefined;
    }
  }

  /** The open workspace, or undefined while opening (or when there is no folder). */
  get current(): Workspace | undefined {
    return this.opened;
  }

  private async open(): Promise<Workspace> {
    if (!this.folder)
      throw new Error(vscode.l10n.t('Agent Budget needs a folder: open one to track spend and run workflows.'));
    // Let activate() return and the workbench paint first.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const started = performance.now();
    let stateDir: string | undefined;
    try {
      // The store is in this workspace's per-user folder (statePaths.ts), which the CLI computes the same way.
      const workspace = await Workspace.open(this.folder, {
        log: (line) => this.log.info(line),
        policy: { consent: this.consent },
        team: await this.teamOptions(),
      });
      stateDir = workspace.store.dir;
      this.openMs = performance.now() - started;
      this.log.info(`Store open in ${this.openMs.toFixed(0)} ms (${stateDir}).`);
      if (this.isDisposed) {
        await workspace.close();
        throw new Error('closed');
      }
      this.opened = workspace;
      this.register({ dispose: () => (this.closing = workspace.close().catch(() => undefined)) });
      if (workspace.upgradeNote) {
        this.log.info(workspace.upgradeNote);
        void vscode.window.showInformationMessage(vscode.l10n.t('Agent Budget: {0}', workspace.upgradeNote));
      }
      // A damaged store was recovered around: say so once, with what the store did.
      if (workspace.store.report.problem) {
        this.log.warn(workspace.store.report.problem);
        void vscode.window.showWarningMessage(vscode.l10n.t('Agent Budget: {0}', workspace.store.report.problem));
      }
      void vscode.commands.executeCommand('setContext', ContextKeys.ready, true);
      this.openedEmitter.fire(workspace);
      return workspace;
    } catch (err) {
      if (!this.isDisposed) {
        const message = err instanceof Error ? err.message : String(err);
        this.log.error(`Could not open the store in ${stateDir ?? 'the per-user state folder'}: ${message}`);
        void vscode.window.showErrorMessage(
          stateDir
            ? vscode.l10n.t('Agent Budget could not open its store in {0}: {1}', stateDir, message)
            : vscode.l10n.t('Agent Budget could not open its store in the per-user state folder: {0}', message),
        );
      }
      throw err;
    }
  }

  /** Runs `then` with the workspace now if open, else when it opens (never if it fails). */
  whenOpen(then: (workspace: Workspace) => void): void {
    if (this.opened) then(this.opened);
    else this.register(this.onDidOpen(then));
  }
}
