import path from 'node:path';
import * as vscode from 'vscode';
import type { PolicyError, PolicyIssue } from '../core/policy/issues';
import { parsePolicyText } from '../core/policy/load';
import { parseWorkflowText } from '../core/policy/workflowFile';
import { isWorkflowId, WORKFLOW_ID_RULE } from '../core/policy/workflowTypes';
import { policyChanges } from '../core/trust/policyChanges';
import { userPolicyFile } from '../core/trust/userPolicyFile';
import { STATE_DIR, type Workspace } from '../core/workspace';
import { Disposable } from './dispose';
import { Commands } from './ids';
import type { WorkspaceHost } from './workspaceHost';

const DIAGNOSTIC_SOURCE = 'Agent Budget';

/** What Edit Budget Policy writes when there is no budget.json yet: the defaults, spelled out, to edit. */
export const STARTER_POLICY = `{
  "limits": {
    "task": { "softTokens": 50000, "hardTokens": 200000, "maxToolCalls": 50, "maxSteps": 25, "maxWallSeconds": 600 },
    "session": { "softTokens": 250000, "hardTokens": 1000000 },
    "workspace": { "dailyUsd": 5, "weeklyUsd": null, "monthlyUsd": 50 }
  },
  "workflows": {},
  "rules": [
    { "when": { "scope": "workspace.daily", "atLeastPct": 90 }, "action": "warn" }
  ],
  "alerts": { "thresholdsPct": [50, 75, 90, 100] },
  "tools": { "allow": ["readFile", "listFiles", "searchText"], "approve": ["writeFile", "editFile", "runCommand"] }
}
`;

/**
 * What Edit User Budget Policy writes when there is no user.json yet: what it is for, how it meets a repository's
 * budget.json, and the built-in defaults spelled out (as limits of your own: see the header).
 */
export const STARTER_USER_POLICY = `// Your own Agent Budget policy: it applies in every folder, in VS Code and in the agent-budget CLI.
// A repository's .agent-budget/budget.json may always tighten it (lower limits, tools that ask first, rules).
// What it loosens (higher caps, tools that run without asking, other endpoints, lower prices, webhooks) applies
// only when you allow it for that folder: VS Code asks, the CLI takes --trust-policy.
// A limit written here holds even then; delete a line to let a repository you trust raise that limit.
// Same schema as budget.json. These are the built-in defaults; null switches a cap off.
{
  "limits": {
    "task": { "softTokens": 50000, "hardTokens": 200000, "maxToolCalls": 50, "maxSteps": 25, "maxWallSeconds": 600 },
    "session": { "softTokens": 250000, "hardTokens": 1000000 },
    "workspace": { "dailyUsd": 5, "monthlyUsd": 50 }
  },
  "alerts": { "thresholdsPct": [50, 75, 90, 100] },
  "tools": { "allow": ["readFile", "listFiles", "searchText"], "approve": ["writeFile", "editFile", "runCommand"] }
}
`;

export function starterWorkflow(id: string): string {
  return `${JSON.stringify(
    {
      id,
      title: id,
      steps: [{ id: 'answer', prompt: 'Answer this:\n{{input}}', maxOutputTokens: 800 }],
    },
    null,
    2,
  )}\n`;
}

/**
 * The policy files: the workspace's `.agent-budget/budget.json` and `workflows/*.json`, and the user's own user.json
 * (outside the workspace). Watches them, reloads the policy when budget.json or user.json changes (an invalid one
 * stops runs and turns the meter red; a reload that changes tools, endpoints or alerts says what changed), publishes
 * every located problem as a diagnostic on the file (as you type, and for files on disk that are not open), and
 * owns the Edit Budget Policy / Edit User Budget Policy / Edit Workflow… commands.
 */
export class PolicyFiles extends Disposable {
  private readonly diagnostics = this.register(vscode.languages.createDiagnosticCollection('agent-budget'));
  private readonly changedEmitter = this.register(new vscode.EventEmitter<void>());
  /** budget.json, user.json or a workflow file changed (after the policy was reloaded). */
  readonly onDidChange = this.changedEmitter.event;
  private readonly typing = new Map<string, ReturnType<typeof setTimeout>>();
  /** user.json (AGENT_BUDGET_USER_POLICY, XDG_CONFIG_HOME, APPDATA: the same file the CLI reads). */
  readonly userPolicyUri = vscode.Uri.file(userPolicyFile());
  private userWatcher: vscode.Disposable | undefined;
  /** Every problem our validation found per file, before those another source already shows are left out. */
  private readonly found = new Map<string, vscode.Diagnostic[]>();

  constructor(private readonly host: WorkspaceHost) {
    super();
    this.register(vscode.commands.registerCommand(Commands.editPolicy, () => this.editPolicy()));
    this.register(vscode.commands.registerCommand(Commands.editUserPolicy, () => this.editUserPolicy()));
    this.watchUserPolicy();
    this.register({ dispose: () => this.userWatcher?.dispose() });
    // Saves from this window arrive here even when the watcher cannot watch the folder (it did not exist yet).
    this.register(
      vscode.workspace.onDidSaveTextDocument((doc) => {
        if (doc.uri.toString() === this.userPolicyUri.toString()) this.settle(doc.uri);
      }),
    );
    this.register(vscode.commands.registerCommand(Commands.editWorkflow, (id?: string) => this.editWorkflow(id)));
    const folder = host.folder;
    if (!folder) return;
    const base = vscode.Uri.file(folder);
    for (const glob of [`${STATE_DIR}/budget.json`, `${STATE_DIR}/workflows/*.json`]) {
      const watcher = this.register(vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(base, glob)));
      this.register(watcher.onDidCreate((uri) => this.settle(uri)));
      this.register(watcher.onDidChange((uri) => this.settle(uri)));
      this.register(watcher.onDidDelete((uri) => this.settle(uri, true)));
    }
    this.register(vscode.workspace.onDidChangeTextDocument((e) => this.documentEdited(e.document)));
    this.register(
      vscode.workspace.onDidCloseTextDocument((doc) => this.isPolicyFile(doc.uri) && void this.validateFile(doc.uri)),
    );
    this.register({ dispose: () => this.typing.forEach((t) => clearTimeout(t)) });
    this.register(
      vscode.languages.onDidChangeDiagnostics((e) => {
        for (const uri of e.uris) if (this.found.has(uri.toString())) this.showOnce(uri);
      }),
    );
    host.whenOpen(() => void this.validateAll());
  }

  get policyUri(): vscode.Uri | undefined {
    return this.host.folder ? vscode.Uri.file(path.join(this.host.folder, STATE_DIR, 'budget.json')) : undefined;
  }

  workflowUri(id: string): vscode.Uri | undefined {
    return this.host.folder
      ? vscode.Uri.file(path.join(this.host.folder, STATE_DIR, 'workflows', `${id}.json`))
      : undefined;
  }

  /** Diagnostics currently published for `uri` (for tests and the meter's tooltip). */
  problemsOf(uri: vscode.Uri): readonly vscode.Diagnostic[] {
    return this.diagnostics.get(uri) ?? [];
  }

  /** (Re)watches user.json's folder; again after Edit User Budget Policy creates it. */
  private watchUserPolicy(): void {
    this.userWatcher?.dispose();
    const uri = this.userPolicyUri;
    const watcher = vscode.workspace.createFileSystemWatcher(
      new vscode.RelativePattern(vscode.Uri.joinPath(uri, '..'), path.basename(uri.fsPath)),
    );
    this.userWatcher = vscode.Disposable.from(
      watcher,
      watcher.onDidCreate((u) => this.settle(u)),
      watcher.onDidChange((u) => this.settle(u)),
      watcher.onDidDelete((u) => this.settle(u, true)),
    );
  }

  private isUserPolicy(uri: vscode.Uri): boolean {
    return uri.scheme === 'file' && uri.fsPath === this.userPolicyUri.fsPath;
  }

  private isPolicyFile(uri: vscode.Uri): boolean {
    if (this.isUserPolicy(uri)) return true;
    if (uri.scheme !== 'file' || !this.host.folder) return false;
    const rel = path.relative(path.join(this.host.folder, STATE_DIR), uri.fsPath).split(path.sep).join('/');
    return rel === 'budget.json' || /^workflows\/[^/]+\.json$/.test(rel);
  }

  /**
   * A save arrives as several events (truncate, write; editors that write a temp file and rename): act once the file
   * has been quiet for a moment, so a half-written file never becomes the policy.
   */
  private settle(uri: vscode.Uri, deleted = false): void {
    const key = `disk:${uri.toString()}`;
    clearTimeout(this.typing.get(key));
    this.typing.set(
      key,
      setTimeout(() => {
        this.typing.delete(key);
        void this.fileChanged(uri, deleted);
      }, 100),
    );
  }

  private async fileChanged(uri: vscode.Uri, deleted = false): Promise<void> {
    const workspace = this.host.current ?? (await this.host.ready.catch(() => undefined));
    if (!workspace) return;
    // Squiggles first, then the policy: whoever reacts to the reload (the meter) sees diagnostics that agree with it.
    if (deleted) {
      this.found.delete(uri.toString());
      this.diagnostics.delete(uri);
    } else await this.validateFile(uri);
    if (uri.fsPath.endsWith(`${path.sep}budget.json`) || this.isUserPolicy(uri)) {
      const before = workspace.policy;
      await workspace.reloadPolicy();
      announce(policyChanges(before, workspace.policy));
    }
    this.changedEmitter.fire();
  }

  private documentEdited(doc: vscode.TextDocument): void {
    if (!this.isPolicyFile(doc.uri)) return;
    const key = doc.uri.toString();
    clearTimeout(this.typing.get(key));
    this.typing.set(
      key,
      setTimeout(() => {
        this.typing.delete(key);
        this.publish(doc.uri, doc.getText());
      }, 300),
    );
  }

  private async validateAll(): Promise<void> {
    const policy = this.policyUri;
    if (policy) await this.validateFile(policy);
    await this.validateFile(this.userPolicyUri);
    if (!this.host.folder) return;
    const dir = vscode.Uri.file(path.join(this.host.folder, STATE_DIR, 'workflows'));
    const entries = await vscode.workspace.fs.readDirectory(dir).then(
      (e) => e,
      () => [] as [string, vscode.FileType][],
    );
    for (const [name, type] of entries)
      if (type === vscode.FileType.File && name.endsWith('.json'))
        await this.validateFile(vscode.Uri.joinPath(dir, name));
  }

  /** Validates the file's text: the open editor's, else the file on disk. */
  private async validateFile(uri: vscode.Uri): Promise<void> {
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    let text: string | undefined = open?.getText();
    if (text === undefined) {
      try {
        text = new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
      } catch {
        this.found.delete(uri.toString());
        this.diagnostics.delete(uri);
        return;
      }
    }
    this.publish(uri, text);
  }

  private publish(uri: vscode.Uri, text: string): void {
    const file = uri.fsPath;
    const issues: PolicyIssue[] =
      file.endsWith(`${path.sep}budget.json`) || this.isUserPolicy(uri)
        ? parsePolicyText(text, file).issues
        : parseWorkflowText(text, file, path.basename(file, '.json')).issues;
    this.found.set(
      uri.toString(),
      issues.map((issue) => toDiagnostic(issue, text)),
    );
    this.showOnce(uri);
  }

  /**
   * Sets our diagnostics of `uri`, leaving out any on a line where another source (the JSON language service,
   * checking the same file against the schema package.json contributes) already reports a problem: one mistake
   * shows once in Problems. Ours come back when the other goes (this runs again on every change of diagnostics).
   */
  private showOnce(uri: vscode.Uri): void {
    const ours = this.found.get(uri.toString());
    if (!ours) return;
    const others = vscode.languages
      .getDiagnostics(uri)
      .filter((d) => d.source !== DIAGNOSTIC_SOURCE && d.severity <= vscode.DiagnosticSeverity.Warning);
    const shown = ours.filter(
      (d) => !others.some((o) => o.range.start.line <= d.range.end.line && d.range.start.line <= o.range.end.line),
    );
    const current = this.diagnostics.get(uri) ?? [];
    if (current.length === shown.length && current.every((d, i) => d === shown[i])) return;
    this.diagnostics.set(uri, shown);
  }

  private async editPolicy(): Promise<void> {
    const uri = this.policyUri;
    if (!uri) return noFolder();
    await createIfMissing(uri, STARTER_POLICY);
    await vscode.window.showTextDocument(uri);
  }

  private async editUserPolicy(): Promise<void> {
    const uri = this.userPolicyUri;
    if (await createIfMissing(uri, STARTER_USER_POLICY)) this.watchUserPolicy();
    await vscode.window.showTextDocument(uri);
  }

  private async editWorkflow(preset?: string): Promise<void> {
    if (!this.host.folder) return noFolder();
    let id = typeof preset === 'string' && isWorkflowId(preset) ? preset : undefined;
    if (!id) {
      const dir = vscode.Uri.file(path.join(this.host.folder, STATE_DIR, 'workflows'));
      const entries = await vscode.workspace.fs.readDirectory(dir).then(
        (e) => e,
        () => [] as [string, vscode.FileType][],
      );
      const items: Array<vscode.QuickPickItem & { id?: string }> = entries
        .filter(([name]) => name.endsWith('.json'))
        .map(([name]) => ({
          label: name.slice(0, -5),
          description: `${STATE_DIR}/workflows/${name}`,
          id: name.slice(0, -5),
        }));
      items.push({ label: `$(add) ${vscode.l10n.t('New workflow…')}`, alwaysShow: true });
      const picked = await vscode.window.showQuickPick(items, { placeHolder: vscode.l10n.t('Edit which workflow?') });
      if (!picked) return;
      id = picked.id;
      if (!id) {
        id = await vscode.window.showInputBox({
          title: vscode.l10n.t('Agent Budget: new workflow'),
          prompt: vscode.l10n.t('The workflow id, also its file name: {0}.', WORKFLOW_ID_RULE),
          validateInput: (v) => (isWorkflowId(v.trim()) ? undefined : vscode.l10n.t('Use {0}.', WORKFLOW_ID_RULE)),
        });
        if (!id) return;
        id = id.trim();
      }
    }
    const uri = this.workflowUri(id)!;
    await createIfMissing(uri, starterWorkflow(id));
    await vscode.window.showTextDocument(uri);
  }

  /** The policy error to show (meter tooltip), with the first located problem. */
  static describe(workspace: Workspace): string | undefined {
    const error = workspace.policyError;
    if (!error) return undefined;
    const first = error.issues[0];
    if (!first) return error.message;
    return first.path
      ? vscode.l10n.t('{0}: {1} (line {2})', first.path, first.message, first.line)
      : vscode.l10n.t('{0} (line {1})', first.message, first.line);
  }
}

/** Which file an invalid policy is, and the command that opens it: the workspace's budget.json or user.json. */
export function invalidPolicyFile(error: PolicyError): { label: string; command: string } {
  return error.file.endsWith(path.join(STATE_DIR, 'budget.json'))
    ? { label: `${STATE_DIR}/budget.json`, command: Commands.editPolicy }
    : { label: vscode.l10n.t('your {0}', path.basename(error.file)), command: Commands.editUserPolicy };
}

/** Writes `content` when there is no file; true when it did. */
async function createIfMissing(uri: vscode.Uri, content: string): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return false;
  } catch {
    await vscode.workspace.fs.createDirectory(vscode.Uri.joinPath(uri, '..'));
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(content));
    return true;
  }
}

/** A reload that changed tools, endpoints or alerts says what changed (limits show in the meter). */
function announce(changes: string[]): void {
  if (changes.length === 0) return;
  // Each change is core's words (trust/policyChanges.ts).
  void vscode.window.showInformationMessage(
    vscode.l10n.t('Agent Budget: the budget policy changed: {0}.', changes.join('; ')),
  );
}

function noFolder(): void {
  void vscode.window.showInformationMessage(
    vscode.l10n.t('Agent Budget: open a folder first; budgets and workflows live in its .agent-budget/ folder.'),
  );
}

/** A located policy issue as a diagnostic; the range comes from the issue's offset and length in `text`. */
export function toDiagnostic(issue: PolicyIssue, text: string): vscode.Diagnostic {
  const start = positionAt(text, issue.offset, issue.line - 1, issue.column - 1);
  const end = positionAt(
    text,
    issue.offset + Math.max(issue.length, 1),
    start.line,
    start.character + Math.max(issue.length, 1),
  );
  const diagnostic = new vscode.Diagnostic(
    new vscode.Range(start, end),
    issue.path ? `${issue.path}: ${issue.message}` : issue.message,
    issue.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning,
  );
  diagnostic.source = DIAGNOSTIC_SOURCE;
  return diagnostic;
}

function positionAt(text: string, offset: number, fallbackLine: number, fallbackCharacter: number): vscode.Position {
  if (!Number.isFinite(offset) || offset < 0 || offset > text.length)
    return new vscode.Position(Math.max(0, fallbackLine), Math.max(0, fallbackCharacter));
  let line = 0;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return new vscode.Position(line, offset - lineStart);
}
