import path from 'node:path';
import * as vscode from 'vscode';
import { formatUsd } from '../core/money';
import type { WorkflowDefinition } from '../core/policy/workflowTypes';
import { builtinWorkflow } from '../core/runner/builtins';
import type { RunStatus } from '../core/store/records';
import { formatAgo } from './budgetText';
import { Disposable } from './dispose';
import { Commands, WorkflowCommands } from './ids';
import { RESUMABLE } from './panelSnapshot';
import type { RunInput } from './runnerContract';
import type { RunSessions } from './runSessions';
import { runIdOf } from './runsTree';
import type { WorkspaceHost } from './workspaceHost';

/** Larger files are refused as workflow input (a mistake, e.g. a log or a bundle, that would cost real money). */
const MAX_INPUT_CHARS = 400_000;

type InputSource = 'selection' | 'file' | 'prompt';

/**
 * The run commands of the palette (category "Agent Budget"): Run Workflow… (built-in and workspace workflows,
 * input from the selection, the active file or an input box), the built-in workflows as their own commands,
 * Resume Run…, Cancel Run… and Open Run Output…. Every start goes through RunSessions, which refuses in an
 * untrusted workspace and explains how to trust it.
 */
export class RunCommands extends Disposable {
  constructor(
    private readonly host: WorkspaceHost,
    private readonly sessions: RunSessions,
    private readonly views: { open(runId: string): Promise<void> },
  ) {
    super();
    this.register(
      vscode.commands.registerCommand(Commands.runWorkflow, (id?: unknown) =>
        this.runWorkflow(typeof id === 'string' ? id : undefined),
      ),
    );
    for (const w of WorkflowCommands) {
      // The twin is the same command under the label menus show while a workspace file replaces the built-in.
      for (const id of [w.command, w.replacedCommand])
        this.register(
          vscode.commands.registerCommand(id, (uri?: unknown) =>
            this.runBuiltIn(w.workflow, w.input, uri instanceof vscode.Uri ? uri : undefined),
          ),
        );
    }
    this.register(vscode.commands.registerCommand(Commands.resumeRun, (arg?: unknown) => this.resume(runIdOf(arg))));
    this.register(vscode.commands.registerCommand(Commands.cancelRun, (arg?: unknown) => this.cancel(runIdOf(arg))));
    this.register(
      vscode.commands.registerCommand(Commands.openRunOutput, (arg?: unknown) => this.openOutput(runIdOf(arg))),
    );
  }

  /** Run Workflow…: pick a workflow (or take `preset`), then its input. */
  async runWorkflow(preset?: string): Promise<void> {
    if (!(await this.sessions.canStart())) return;
    const { workflows, errors } = await (await this.sessions.runner()).listWorkflows();
    let workflow = preset ? workflows.find((w) => w.id === preset) : undefined;
    if (preset && !workflow) {
      void vscode.window.showErrorMessage(vscode.l10n.t('Agent Budget: there is no workflow "{0}".', preset));
      return;
    }
    if (!workflow) {
      const items: Array<vscode.QuickPickItem & { workflow?: WorkflowDefinition }> = [];
      const builtIn = workflows.filter((w) => !w.file);
      const own = workflows.filter((w) => w.file);
      if (own.length)
        items.push(
          { label: vscode.l10n.t('Workspace'), kind: vscode.QuickPickItemKind.Separator },
          ...own.map((w) => workflowItem(w)),
        );
      items.push(
        { label: vscode.l10n.t('Built in'), kind: vscode.QuickPickItemKind.Separator },
        ...builtIn.map((w) => workflowItem(w)),
      );
      for (const e of errors) {
        items.push({
          label: `$(error) ${path.basename(e.file)}`,
          description: vscode.l10n.t('invalid — not runnable'),
          detail: e.issues[0]?.message,
        });
      }
      const picked = await vscode.window.showQuickPick(items, {
        placeHolder: vscode.l10n.t('Run which workflow?'),
        matchOnDescription: true,
        matchOnDetail: true,
      });
      if (!picked) return;
      if (!picked.workflow) {
        const bad = errors.find((e) => picked.label.endsWith(path.basename(e.file)));
        if (bad) await vscode.window.showTextDocument(vscode.Uri.file(bad.file));
        return;
      }
      workflow = picked.workflow;
    }
    const input = await this.askInput(workflow, defaultSource(workflow));
    if (!input) return;
    await this.sessions.start(workflow.id, input.input, input.title);
  }

  private async runBuiltIn(workflow: string, source: InputSource, uri: vscode.Uri | undefined): Promise<void> {
    if (!(await this.sessions.canStart())) return;
    const input = await this.inputFrom(source, uri, workflow);
    if (!input) return;
    await this.sessions.start(workflow, input.input, input.title);
  }

  /** Asks where the input comes from when there is a choice (a selection, the active file, or typed text). */
  private async askInput(
    workflow: WorkflowDefinition,
    preferred: InputSource,
  ): Promise<{ input: RunInput; title: string } | undefined> {
    const editor = workingEditor();
    const hasSelection = !!editor && !editor.selection.isEmpty;
    const options: Array<vscode.QuickPickItem & { source: InputSource }> = [];
    if (hasSelection)
      options.push({
        label: `$(selection) ${vscode.l10n.t('The selection')}`,
        description: fileLabel(editor!.document),
        source: 'selection',
      });
    if (editor)
      options.push({
        label: `$(file) ${vscode.l10n.t('The active file')}`,
        description: fileLabel(editor.document),
        source: 'file',
      });
    options.push({ label: `$(edit) ${vscode.l10n.t('Type the input…')}`, source: 'prompt' });
    options.sort((a, b) => Number(b.source === preferred) - Number(a.source === preferred));
    let source: InputSource = 'prompt';
    if (options.length > 1) {
      const picked = await vscode.window.showQuickPick(options, {
        placeHolder: vscode.l10n.t('Input for {0}', workflow.title),
      });
      if (!picked) return undefined;
      source = picked.source;
    }
    return this.inputFrom(source, undefined, workflow.title);
  }

  /** Builds the run input from a source; asks for what is missing; undefined when the user gives up. */
  private async inputFrom(
    source: InputSource,
    uri: vscode.Uri | undefined,
    label: string,
  ): Promise<{ input: RunInput; title: string } | undefined> {
    const editor = workingEditor();
    let document = uri ? await vscode.workspace.openTextDocument(uri) : editor?.document;
    if (source === 'selection') {
      const selection = editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection) : undefined;
      if (!selection) {
        if (!editor) {
          void vscode.window.showInformationMessage(
            vscode.l10n.t('Agent Budget: select some code in an editor first ({0} explains the selection).', label),
          );
          return undefined;
        }
        // No selection: the whole file, said plainly rather than refused.
        document = editor.document;
        source = 'file';
      } else {
        return this.checked({
          input: {
            input: selection,
            selection,
            file: relative(editor!.document),
            fileContent: editor!.document.getText(),
          },
          title: vscode.l10n.t('{0} (selection)', fileLabel(editor!.document)),
        });
      }
    }
    if (source === 'file') {
      if (!document || !isWorkFile(document)) {
        void vscode.window.showInformationMessage(
          vscode.l10n.t('Agent Budget: open the file to use first ({0} works on the active file).', label),
        );
        return undefined;
      }
      const text = document.getText();
      return this.checked({
        input: { input: text, file: relative(document), fileContent: text },
        title: fileLabel(document),
      });
    }
    const typed = await vscode.window.showInputBox({
      title: vscode.l10n.t('Agent Budget: {0}', label),
      prompt: vscode.l10n.t('The input for the workflow'),
      ignoreFocusOut: true,
    });
    if (!typed?.trim()) return undefined;
    return { input: { input: typed.trim() }, title: typed.trim().slice(0, 60) };
  }

  private checked(value: { input: RunInput; title: string }): { input: RunInput; title: string } | undefined {
    const size = (value.input.fileContent ?? value.input.input ?? '').length;
    if (size > MAX_INPUT_CHARS) {
      void vscode.window.showWarningMessage(
        vscode.l10n.t(
          'Agent Budget: {0} is {1}k characters; workflow input is limited to {2}k. Select the part to use.',
          value.title,
          Math.round(size / 1000),
          MAX_INPUT_CHARS / 1000,
        ),
      );
      return undefined;
    }
    return value;
  }

  private async resume(runId: string | undefined): Promise<void> {
    const id = runId ?? (await this.pickRun(vscode.l10n.t('Resume which run?'), RESUMABLE));
    if (id) await this.sessions.resume(id);
  }

  private async cancel(runId: string | undefined): Promise<void> {
    const id = runId ?? (await this.pickRun(vscode.l10n.t('Cancel which run?'), [...RESUMABLE, 'running', 'pending']));
    if (!id) return;
    try {
      await this.sessions.cancel(id);
    } catch (err) {
      void vscode.window.showErrorMessage(
        vscode.l10n.t('Agent Budget: could not cancel the run: {0}', err instanceof Error ? err.message : String(err)),
      );
    }
  }

  private async openOutput(runId: string | undefined): Promise<void> {
    const id = runId ?? (await this.pickRun(vscode.l10n.t('Open which run?'), undefined));
    if (id) await this.views.open(id);
  }

  private async pickRun(placeHolder: string, statuses: readonly RunStatus[] | undefined): Promise<string | undefined> {
    const workspace = await this.host.ready.catch(() => undefined);
    if (!workspace) return undefined;
    const runs = workspace.store.queries.listRuns({ status: statuses ? [...statuses] : undefined, limit: 100 });
    if (runs.length === 0) {
      void vscode.window.showInformationMessage(
        statuses
          ? vscode.l10n.t('Agent Budget: no {0} runs.', statuses.join(', '))
          : vscode.l10n.t('Agent Budget: no runs.'),
      );
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(
      runs.map((r) => ({
        label: r.workflow,
        description: `${r.status} · ${formatUsd(r.costMicros)} · ${formatAgo(r.updatedAt)}`,
        detail: r.title !== r.workflow ? r.title : undefined,
        runId: r.id,
      })),
      { placeHolder, matchOnDescription: true },
    );
    return picked?.runId;
  }
}

function workflowItem(w: WorkflowDefinition): vscode.QuickPickItem & { workflow: WorkflowDefinition } {
  // A workspace file that takes a built-in's id runs instead of it: say whose it is.
  const replaces = w.file !== undefined && builtinWorkflow(w.id) !== undefined;
  return {
    label: replaces ? vscode.l10n.t("{0} (workspace's {1})", w.title, path.basename(w.file!)) : w.title,
    description: w.id,
    detail: w.description ?? stepsLine(w),
    workflow: w,
  };
}

function stepsLine(w: WorkflowDefinition): string {
  const steps = w.steps.length === 1 ? vscode.l10n.t('1 step') : vscode.l10n.t('{0} steps', w.steps.length);
  return w.model ? `${steps} · ${w.model}` : steps;
}

function defaultSource(w: WorkflowDefinition): InputSource {
  const uses = w.steps.map((s) => s.prompt).join(' ');
  if (uses.includes('{{selection}}')) return 'selection';
  if (uses.includes('{{fileContent}}') || uses.includes('{{file}}')) return 'file';
  const editor = workingEditor();
  return editor && !editor.selection.isEmpty ? 'selection' : 'prompt';
}

/**
 * The editor a run works on: the active one when it shows a file of the user's, else the file editor in sight —
 * never a run's view, a report, an approval diff or an output channel (the run view is a webview: while it has
 * focus there is no active text editor at all).
 */
function workingEditor(): vscode.TextEditor | undefined {
  const active = vscode.window.activeTextEditor;
  if (active && isWorkFile(active.document)) return active;
  return vscode.window.visibleTextEditors.find((e) => isWorkFile(e.document));
}

function isWorkFile(doc: vscode.TextDocument): boolean {
  return doc.uri.scheme === 'file' || doc.uri.scheme === 'untitled' || doc.uri.scheme === 'vscode-remote';
}

function relative(doc: vscode.TextDocument): string {
  return doc.uri.scheme === 'file' ? vscode.workspace.asRelativePath(doc.uri, false) : doc.uri.toString();
}

function fileLabel(doc: vscode.TextDocument): string {
  return doc.isUntitled ? vscode.l10n.t('Untitled') : path.basename(doc.uri.path);
}
