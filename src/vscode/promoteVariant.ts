import * as vscode from 'vscode';
import { promoteText, minimalEdit } from '../core/policy/promote';
import { isWorkflowId } from '../core/policy/workflowTypes';
import { experimentResults } from '../core/report/experiments';
import type { Workspace } from '../core/workspace';
import { Disposable } from './dispose';
import { Commands } from './ids';
import type { WorkspaceHost } from './workspaceHost';

/**
 * Promote Variant: writes an experiment's winner into the workflow's routing, in the policy file that defines the
 * experiment (the folder's budget.json, or the user's user.json), and ends the experiment. The command checks
 * again that this variant's intervals separate — the panel's button is a request, not a decision — and makes the
 * edit in the open document, where the user sees it, can undo it (Undo in the notification, or Ctrl+Z) and it is
 * saved so the routing applies to the next run.
 */
export class PromoteVariant extends Disposable {
  constructor(private readonly host: WorkspaceHost) {
    super();
    this.register(
      vscode.commands.registerCommand(Commands.promoteVariant, (arg?: unknown) =>
        this.promote(arg).catch((err) => {
          void vscode.window.showErrorMessage(vscode.l10n.t('Agent Budget: {0}', (err as Error).message));
        }),
      ),
    );
  }

  /** `{ workflow, arm }` (from the panel), or nothing: then the palette asks which experiment's winner. */
  async promote(arg: unknown): Promise<boolean> {
    const ws = this.host.current;
    if (!ws) throw new Error(vscode.l10n.t('the workspace store is not open yet (open a folder, or wait a moment).'));
    const results = experimentResults(ws.store.queries, ws.policy);
    const asked = parseArg(arg) ?? (await this.pick(results));
    if (!asked) return false;
    const result = results.find((r) => r.workflow === asked.workflow);
    if (!result)
      throw new Error(vscode.l10n.t('there is no experiment on "{0}" in the budget policy.', asked.workflow));
    const arm = result.arms[asked.arm];
    if (!arm || result.winner?.arm !== asked.arm) {
      void vscode.window.showWarningMessage(
        vscode.l10n.t(
          'Agent Budget: no variant of the {0} experiment wins yet — the intervals overlap. Let it run more, or edit workflows.{0} yourself.',
          asked.workflow,
        ),
      );
      return false;
    }
    const file = this.fileOf(ws, asked.workflow);
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
    if (doc.isDirty)
      throw new Error(
        vscode.l10n.t(
          '{0} has unsaved changes: save or revert them, then promote again.',
          vscode.workspace.asRelativePath(file),
        ),
      );
    const before = doc.getText();
    const after = promoteText(before, asked.workflow, { model: arm.model, promptVersion: arm.promptVersion });
    if (!(await replace(doc, before, after))) throw new Error(vscode.l10n.t('could not edit {0}.', file));
    await vscode.window.showTextDocument(doc, { preview: false });
    await doc.save();
    const what =
      arm.model && arm.promptVersion
        ? vscode.l10n.t('model {0} and prompt version {1}', arm.model, arm.promptVersion)
        : arm.model
          ? vscode.l10n.t('model {0}', arm.model)
          : arm.promptVersion
            ? vscode.l10n.t('prompt version {0}', arm.promptVersion)
            : '';
    const undo = vscode.l10n.t('Undo');
    void vscode.window
      .showInformationMessage(
        vscode.l10n.t(
          'Agent Budget: {0} now runs on {1} ({2}); its experiment has ended.',
          asked.workflow,
          what,
          vscode.workspace.asRelativePath(file),
        ),
        undo,
      )
      .then(async (choice) => {
        if (choice !== undo || doc.getText() !== after) return;
        if (await replace(doc, after, before)) await doc.save();
      });
    return true;
  }

  private async pick(
    results: ReturnType<typeof experimentResults>,
  ): Promise<{ workflow: string; arm: number } | undefined> {
    const winners = results.filter((r) => r.winner);
    if (winners.length === 0) {
      void vscode.window.showInformationMessage(
        vscode.l10n.t('Agent Budget: no experiment has a winner yet (its variants’ intervals still overlap).'),
      );
      return undefined;
    }
    const pick = await vscode.window.showQuickPick(
      winners.map((r) => ({
        label: r.workflow,
        description: winsOn(r.arms[r.winner!.arm]!.label, r.winner!.on),
        value: { workflow: r.workflow, arm: r.winner!.arm },
      })),
      {
        title: vscode.l10n.t('Agent Budget: Promote Variant'),
        placeHolder: vscode.l10n.t('Which experiment’s winner?'),
      },
    );
    return pick?.value;
  }

  /** The folder's budget.json when it defines the experiment, else the user's user.json. */
  private fileOf(ws: Workspace, workflow: string): string {
    const info = ws.policyInfo;
    const repo = (info?.raw ?? {}) as { experiments?: Record<string, unknown> };
    if (!info || repo.experiments?.[workflow] !== undefined)
      return info?.file ?? `${ws.folder}/.agent-budget/budget.json`;
    return info.user.file;
  }
}

/** "B wins on cost": one sentence per measure, so a translation can decline the noun. */
function winsOn(label: string, on: 'acceptance' | 'failures' | 'cost'): string {
  switch (on) {
    case 'acceptance':
      return vscode.l10n.t('{0} wins on acceptance', label);
    case 'failures':
      return vscode.l10n.t('{0} wins on failures', label);
    case 'cost':
      return vscode.l10n.t('{0} wins on cost', label);
  }
}

function parseArg(arg: unknown): { workflow: string; arm: number } | undefined {
  if (typeof arg !== 'object' || arg === null) return undefined;
  const { workflow, arm } = arg as { workflow?: unknown; arm?: unknown };
  return isWorkflowId(workflow) && Number.isSafeInteger(arm) && (arm as number) >= 0
    ? { workflow, arm: arm as number }
    : undefined;
}

/** Replaces `from` (the document's text now) with `to` as one edit the document's undo stack holds. */
async function replace(doc: vscode.TextDocument, from: string, to: string): Promise<boolean> {
  const e = minimalEdit(from, to);
  const edit = new vscode.WorkspaceEdit();
  edit.replace(doc.uri, new vscode.Range(doc.positionAt(e.offset), doc.positionAt(e.offset + e.length)), e.text);
  return vscode.workspace.applyEdit(edit);
}
