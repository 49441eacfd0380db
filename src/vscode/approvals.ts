import * as vscode from 'vscode';
import { Disposable } from './dispose';
import { URI_SCHEME } from './ids';
import type { ApprovalRequest, Approver } from './runnerContract';

/**
 * Where an approval can be asked instead of a modal: the run's own view, when it is open (src/vscode/runView.ts).
 * Returns undefined when it cannot ask (no view of that run), and the modal asks instead.
 */
export interface InlineApprovals {
  ask(request: ApprovalRequest): Promise<boolean> | undefined;
}

/**
 * Asks the user before an agent writes, edits or runs anything the policy does not allow outright: in the run's
 * view when it is open (Apply / Reject there, the diff one click away), else edits open a diff of the file before
 * and after (two read-only virtual documents), then a modal asks Apply / Reject; a command shows in the modal
 * itself. Anything but an explicit yes is a no (closing the dialog or the view, a dialog the workbench refuses to
 * show).
 */
export class ApprovalPrompts extends Disposable implements Approver {
  private readonly documents = new Map<string, string>();
  private next = 0;
  /** Tests answer here instead of a person (undefined = ask the person). */
  answerForTests: ((request: ApprovalRequest) => boolean) | undefined;
  /** Every request seen (tests read it). */
  readonly seen: ApprovalRequest[] = [];
  /** The run view, once it exists. */
  inline: InlineApprovals | undefined;

  constructor() {
    super();
    this.register(
      vscode.workspace.registerTextDocumentContentProvider(`${URI_SCHEME}-approval`, {
        provideTextDocumentContent: (uri) => this.documents.get(uri.toString()) ?? '',
      }),
    );
  }

  async approve(request: ApprovalRequest): Promise<boolean> {
    this.seen.push(request);
    if (this.answerForTests) return this.answerForTests(request);
    const inView = this.inline?.ask(request);
    if (inView) return inView.catch(() => false);
    if (request.tool === 'runCommand') {
      const runCommand = vscode.l10n.t('Run Command');
      const command = request.command ?? request.summary;
      const choice = await vscode.window.showWarningMessage(
        vscode.l10n.t('An agent wants to run a command in this workspace.'),
        {
          modal: true,
          // H4b: asked again although tools.allow lists it: nobody here saw the model ask for it.
          detail: request.fromCheckpoint
            ? vscode.l10n.t(
                '{0}\n\n{1}\n\nThe model asked for it before the run stopped; it has not run.',
                command,
                request.summary,
              )
            : `${command}\n\n${request.summary}`,
        },
        runCommand,
      );
      return choice === runCommand;
    }
    if (request.tool !== 'writeFile' && request.tool !== 'editFile') {
      // A reading tool the policy lists under tools.approve: nothing to diff, only what it would read.
      const allow = vscode.l10n.t('Allow');
      const choice = await vscode.window.showWarningMessage(
        vscode.l10n.t('An agent wants to use {0} in this workspace.', request.tool),
        {
          modal: true,
          detail: vscode.l10n.t(
            '{0}\n\nbudget.json lists {1} under tools.approve, so it asks each time.',
            request.summary,
            request.tool,
          ),
        },
        allow,
      );
      return choice === allow;
    }
    const diff = await this.openDiff(request);
    try {
      const apply = vscode.l10n.t('Apply');
      const target = request.path ?? vscode.l10n.t('the file');
      const choice = await vscode.window.showWarningMessage(
        request.tool === 'writeFile' && !request.before
          ? vscode.l10n.t("Apply the agent's new file to {0}?", target)
          : vscode.l10n.t("Apply the agent's edit to {0}?", target),
        { modal: true, detail: vscode.l10n.t('{0}\n\nThe diff is open in the editor.', request.summary) },
        apply,
      );
      return choice === apply;
    } finally {
      await diff.dispose();
    }
  }

  /** Opens the diff of a proposed edit (before and after as read-only documents); dispose closes it. */
  async openDiff(request: ApprovalRequest, options: { beside?: boolean } = {}): Promise<{ dispose(): Promise<void> }> {
    const n = ++this.next;
    const name = (request.path ?? 'file').replace(/^.*[\\/]/, '');
    const before = vscode.Uri.from({ scheme: `${URI_SCHEME}-approval`, path: `/${n}/before/${name}` });
    const after = vscode.Uri.from({ scheme: `${URI_SCHEME}-approval`, path: `/${n}/after/${name}` });
    this.documents.set(before.toString(), request.before ?? '');
    this.documents.set(after.toString(), request.after ?? '');
    await vscode.commands.executeCommand(
      'vscode.diff',
      before,
      after,
      vscode.l10n.t('Agent edit: {0} (proposed)', request.path ?? name),
      // From the run view: beside it, keeping the question (and its Apply / Reject) in sight.
      options.beside ? { preview: true, viewColumn: vscode.ViewColumn.Beside, preserveFocus: true } : { preview: true },
    );
    return {
      dispose: async () => {
        this.documents.delete(before.toString());
        this.documents.delete(after.toString());
        await closeTabsOf(after);
      },
    };
  }
}

async function closeTabsOf(uri: vscode.Uri): Promise<void> {
  const tabs = vscode.window.tabGroups.all
    .flatMap((g) => g.tabs)
    .filter((t) => t.input instanceof vscode.TabInputTextDiff && t.input.modified.toString() === uri.toString());
  if (tabs.length) await vscode.window.tabGroups.close(tabs).then(undefined, () => undefined);
}
