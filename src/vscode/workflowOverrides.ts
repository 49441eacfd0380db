import path from 'node:path';
import * as vscode from 'vscode';
import { workflowReplacements, type WorkflowReplacement } from '../core/trust/workflowReplacements';
import { Disposable } from './dispose';
import { EXTENSION_ID, StateKeys, WorkflowCommands } from './ids';
import type { PolicyFiles } from './policyFiles';
import type { WorkspaceHost } from './workspaceHost';

/**
 * A workspace workflow file that takes a built-in's id (`.agent-budget/workflows/code-review.json`) changes what
 * *Review Current File* does: the repository's steps and prompts run under the built-in's name. So its commands
 * are labelled as the workspace's in every menu and in the palette ("Review Current File (workspace's
 * code-review.json)", by swapping in the twin command through a context key), and the user is told once per
 * content of the file (remembered in globalState, never in the workspace).
 */
export class WorkflowOverrides extends Disposable {
  private current: WorkflowReplacement[] = [];

  constructor(
    private readonly host: WorkspaceHost,
    policyFiles: PolicyFiles,
    private readonly state: vscode.Memento,
  ) {
    super();
    host.whenOpen(() => void this.refresh());
    this.register(policyFiles.onDidChange(() => void this.refresh()));
    this.register(vscode.workspace.onDidGrantWorkspaceTrust(() => void this.refresh()));
  }

  /** The built-ins the workspace replaces now. */
  get replaced(): readonly WorkflowReplacement[] {
    return this.current;
  }

  async refresh(): Promise<void> {
    if (!this.host.folder) return;
    const found = await workflowReplacements(this.host.folder);
    if (this.isDisposed) return;
    this.current = found;
    for (const w of WorkflowCommands) {
      const replaced = found.some((f) => f.id === w.workflow);
      await vscode.commands.executeCommand('setContext', w.replacedKey, replaced);
    }
    if (vscode.workspace.isTrusted) for (const replacement of found) await this.noticeOnce(replacement);
  }

  private async noticeOnce(replacement: WorkflowReplacement): Promise<void> {
    const seen = this.state.get<Record<string, string>>(StateKeys.workflowNotices) ?? {};
    const key = path.resolve(replacement.file);
    if (seen[key] === replacement.hash) return;
    await this.state.update(StateKeys.workflowNotices, { ...seen, [key]: replacement.hash });
    const command = WorkflowCommands.find((w) => w.workflow === replacement.id);
    const title = command && commandTitle(command.command);
    const file = `.agent-budget/workflows/${path.basename(replacement.file)}`;
    void vscode.window
      .showInformationMessage(
        title
          ? vscode.l10n.t(
              'Agent Budget: this folder\'s {0} replaces the built-in "{1}" workflow: "{2}" and Run Workflow… run the workspace\'s steps and prompts instead.',
              file,
              replacement.id,
              title,
            )
          : vscode.l10n.t(
              'Agent Budget: this folder\'s {0} replaces the built-in "{1}" workflow: Run Workflow… run the workspace\'s steps and prompts instead.',
              file,
              replacement.id,
            ),
        vscode.l10n.t('Open File'),
      )
      .then((choice) => {
        if (choice) void vscode.window.showTextDocument(vscode.Uri.file(replacement.file));
      });
  }
}

/** A command's title as package.json gives it (the one source of command titles). */
function commandTitle(command: string): string | undefined {
  const contributed = (
    vscode.extensions.getExtension(EXTENSION_ID)?.packageJSON as
      { contributes?: { commands?: Array<{ command: string; title: string }> } } | undefined
  )?.contributes?.commands;
  return contributed?.find((c) => c.command === command)?.title;
}
