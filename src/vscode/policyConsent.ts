import path from 'node:path';
import * as vscode from 'vscode';
import type { ConsentRequest } from '../core/trust/effectivePolicy';
import type { Loosening } from '../core/trust/policyMerge';
import type { Workspace } from '../core/workspace';
import { Disposable } from './dispose';
import { Commands, StateKeys } from './ids';
import type { PolicyFiles } from './policyFiles';
import type { RunSessions } from './runSessions';
import type { WorkspaceHost } from './workspaceHost';

/** The user's answer for one folder, to one content of its budget.json. */
interface ConsentRecord {
  /** sha256 of the budget.json the answer was given to; another content asks again. */
  hash: string;
  decision: 'allow' | 'decline';
  /** When (ISO-8601), for the review. */
  at: string;
}

// Module-level is safe: the extension host loads the l10n bundle before it loads the extension's code.
export const ALLOW = vscode.l10n.t('Allow for this folder');
export const DECLINE = vscode.l10n.t('Use my limits');

/**
 * What the user answered, per folder and per content hash of its budget.json, kept in the extension's globalState
 * (this machine's, never the workspace's: a repository cannot ship its own "yes"). Read synchronously while the
 * policy loads; the question itself is PolicyConsent's.
 */
export class ConsentMemory {
  constructor(private readonly state: vscode.Memento) {}

  /** The answer to this exact content: consent applies only to the bytes it was given to. */
  allows(request: ConsentRequest): boolean {
    const record = this.get(request.folder);
    return record?.decision === 'allow' && record.hash === request.hash;
  }

  get(folder: string): ConsentRecord | undefined {
    return this.all()[folderKey(folder)];
  }

  async set(folder: string, hash: string, decision: ConsentRecord['decision']): Promise<void> {
    const all = { ...this.all(), [folderKey(folder)]: { hash, decision, at: new Date().toISOString() } };
    await this.state.update(StateKeys.policyConsent, all);
  }

  private all(): Record<string, ConsentRecord> {
    const value = this.state.get<unknown>(StateKeys.policyConsent);
    return value !== null && typeof value === 'object' ? (value as Record<string, ConsentRecord>) : {};
  }
}

/** Folders compared as the file system does: case-insensitively where it usually is (Windows, macOS). */
function folderKey(folder: string): string {
  const resolved = path.resolve(folder);
  return process.platform === 'win32' || process.platform === 'darwin' ? resolved.toLowerCase() : resolved;
}

/**
 * Asks the user, in a modal that lists exactly what the folder's budget.json loosens, whether it may: *Allow for
 * this folder* or *Use my limits* (the tightening parts apply either way). Asked at moments the user understands —
 * when the folder opens, when budget.json changes, when the folder becomes trusted — never while a run of this
 * window is going (it waits for the run to end), never in Restricted Mode (nothing runs there). Closing the dialog
 * answers nothing: it asks again next time. *Review Budget Policy Consent…* shows the list and changes the answer.
 */
export class PolicyConsent extends Disposable {
  private asking: Promise<void> | undefined;
  private askAgain = false;

  constructor(
    private readonly memory: ConsentMemory,
    private readonly host: WorkspaceHost,
    policyFiles: PolicyFiles,
    private readonly runs: RunSessions,
  ) {
    super();
    this.register(vscode.commands.registerCommand(Commands.reviewPolicyConsent, () => this.review()));
    host.whenOpen(() => this.askIfNeeded());
    this.register(policyFiles.onDidChange(() => this.askIfNeeded()));
    this.register(vscode.workspace.onDidGrantWorkspaceTrust(() => this.askIfNeeded()));
    this.register(
      runs.onDidChangeActivity(() => {
        if (this.runs.active().length === 0) this.askIfNeeded();
      }),
    );
  }

  /** Asks when budget.json loosens something and this content has no answer yet; one question at a time. */
  askIfNeeded(): void {
    if (this.asking) {
      this.askAgain = true;
      return;
    }
    this.asking = this.askOnce()
      .catch(
        (err: unknown) =>
          void vscode.window.showErrorMessage(vscode.l10n.t('Agent Budget: {0}', (err as Error).message)),
      )
      .finally(() => {
        this.asking = undefined;
        if (this.askAgain && !this.isDisposed) {
          this.askAgain = false;
          this.askIfNeeded();
        }
      });
  }

  /** Resolves when the current question (if any) is answered; for tests. */
  async settled(): Promise<void> {
    while (this.asking) await this.asking;
  }

  private async askOnce(): Promise<void> {
    const workspace = this.host.current;
    if (!workspace || !vscode.workspace.isTrusted || this.runs.active().length > 0) return;
    const info = workspace.policyInfo;
    if (!info?.hash || info.loosening.length === 0) return;
    if (this.memory.get(workspace.folder)?.hash === info.hash) return; // answered for this content
    const answer = await this.ask(
      workspace,
      vscode.l10n.t('This folder’s budget policy asks for more than your own limits allow'),
    );
    if (answer) await this.record(workspace, info.hash, answer);
  }

  /**
   * Records the user's answer to the folder's budget.json as it is now and applies it (what the modal's buttons
   * do). False when there is nothing to answer (no workspace, or nothing loosens).
   */
  async decide(decision: 'allow' | 'decline'): Promise<boolean> {
    const workspace = this.host.current;
    const hash = workspace?.policyInfo?.hash;
    if (!workspace || !hash || workspace.policyInfo.loosening.length === 0) return false;
    await this.record(workspace, hash, decision);
    return true;
  }

  private async review(): Promise<void> {
    const workspace = await this.host.ready.catch(() => undefined);
    if (!workspace) return;
    const info = workspace.policyInfo;
    if (!info?.hash || info.loosening.length === 0) {
      const nothing = vscode.l10n.t(
        'Agent Budget: this folder’s budget.json asks for nothing beyond your own policy; there is nothing to allow.',
      );
      void vscode.window.showInformationMessage(
        info?.heldByUser.length ? `${nothing} ${heldText(info.heldByUser)}` : nothing,
      );
      return;
    }
    const record = this.memory.get(workspace.folder);
    const now =
      record?.hash === info.hash
        ? record.decision === 'allow'
          ? vscode.l10n.t('Budget policy consent: You allowed it for this folder.')
          : vscode.l10n.t('Budget policy consent: You chose your own limits.')
        : vscode.l10n.t('Budget policy consent: You have not answered for this version of the file.');
    const answer = await this.ask(workspace, now);
    if (answer) await this.record(workspace, info.hash, answer);
  }

  private async ask(workspace: Workspace, message: string): Promise<'allow' | 'decline' | undefined> {
    const info = workspace.policyInfo!;
    const detail = [
      vscode.l10n.t('{0}/.agent-budget/budget.json asks to:', path.basename(workspace.folder)),
      ...info.loosening.map(line),
      '',
      vscode.l10n.t(
        '{0} applies these settings here until the file changes; {1} ignores them. What the file tightens applies either way.',
        ALLOW,
        DECLINE,
      ),
      ...(info.heldByUser.length ? ['', heldText(info.heldByUser)] : []),
    ].join('\n');
    // The safe answer first: it is the default button, what Enter picks.
    const choice = await vscode.window.showWarningMessage(message, { modal: true, detail }, DECLINE, ALLOW);
    return choice === ALLOW ? 'allow' : choice === DECLINE ? 'decline' : undefined;
  }

  private async record(workspace: Workspace, hash: string, decision: 'allow' | 'decline'): Promise<void> {
    await this.memory.set(workspace.folder, hash, decision);
    // The answer is read while the policy loads: reload so it applies (or stops applying) now.
    await workspace.reloadPolicy();
  }
}

function line(item: Loosening): string {
  return `• ${item.what} (${item.path})`;
}

function heldText(items: readonly Loosening[]): string {
  return vscode.l10n.t(
    'Limits your user.json sets hold either way (edit it to raise them): {0}.',
    items.map((i) => `${i.what} (${i.path})`).join('; '),
  );
}
