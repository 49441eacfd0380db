import * as vscode from 'vscode';
import { formatUsd } from '../core/money';
import { allTasks, readCheckpoint } from '../core/runner/checkpoint';
import { Disposable } from './dispose';
import { URI_SCHEME } from './ids';
import type { RunEvent, RunOutcome } from './runnerContract';
import type { WorkspaceHost } from './workspaceHost';

/** Redraw a streaming document at most this often (each change makes VS Code re-read the whole text). */
const STREAM_DEBOUNCE_MS = 100;

/**
 * Each run's output as a read-only Markdown document (`agent-budget:/runs/<runId>.md`): live runs of this window
 * stream into it as text arrives; other runs (finished, interrupted, another window's) are rebuilt from the
 * store's runs and tasks.
 */
export class RunOutputDocuments extends Disposable implements vscode.TextDocumentContentProvider {
  private readonly buffers = new Map<string, string[]>();
  private readonly changed = this.register(new vscode.EventEmitter<vscode.Uri>());
  readonly onDidChange = this.changed.event;
  private readonly pending = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(private readonly host: WorkspaceHost) {
    super();
    this.register(vscode.workspace.registerTextDocumentContentProvider(URI_SCHEME, this));
    this.register({ dispose: () => this.pending.forEach((t) => clearTimeout(t)) });
  }

  /** Workflow of each run seen, for a readable tab title (`code-review.md`). */
  private readonly workflows = new Map<string, string>();

  uri(runId: string): vscode.Uri {
    const workflow = this.workflows.get(runId) ?? this.host.current?.store.queries.getRun(runId)?.workflow ?? 'run';
    this.workflows.set(runId, workflow);
    return vscode.Uri.from({ scheme: URI_SCHEME, path: `/runs/${runId}/${workflow}.md` });
  }

  async open(runId: string, options: { preserveFocus?: boolean; beside?: boolean } = {}): Promise<vscode.TextEditor> {
    const doc = await vscode.workspace.openTextDocument(this.uri(runId));
    await vscode.languages.setTextDocumentLanguage(doc, 'markdown').then(undefined, () => undefined);
    return vscode.window.showTextDocument(doc, {
      preview: false,
      preserveFocus: options.preserveFocus,
      viewColumn: options.beside ? vscode.ViewColumn.Beside : undefined,
    });
  }

  /** Starts (or continues, on resume) the live buffer of a run. */
  begin(runId: string, workflow: string, title: string): void {
    this.workflows.set(runId, workflow);
    const existing = this.buffers.get(runId);
    if (existing) existing.push(`\n\n---\n_Resumed ${new Date().toLocaleString()}_\n`);
    else
      this.buffers.set(runId, [
        `# ${workflow}${title && title !== workflow ? ` — ${title}` : ''}\n\n_Run ${runId}, started ${new Date().toLocaleString()}_\n`,
      ]);
    this.touch(runId);
  }

  append(event: RunEvent): void {
    const buffer = this.buffers.get(event.runId);
    if (!buffer) return;
    switch (event.type) {
      case 'stepStarted':
        buffer.push(`\n\n## ${event.title || event.stepId}\n_${event.model}_\n\n`);
        break;
      case 'text':
        buffer.push(event.delta);
        break;
      case 'tool':
        buffer.push(`\n\n> 🔧 ${event.tool}: ${event.summary}\n\n`);
        break;
      case 'call':
        buffer.push(
          `\n\n_${event.model}: ${event.tokens.toLocaleString('en-US')} tokens, ${formatUsd(event.costMicros)}${event.estimated ? ' (estimated)' : ''}_\n`,
        );
        break;
      case 'warning':
        buffer.push(`\n\n> ⚠ ${event.message}\n\n`);
        break;
      case 'stepFinished':
        if (event.status !== 'completed') buffer.push(`\n\n_Step ${event.stepId}: ${event.status}_\n`);
        break;
      case 'runFinished':
        buffer.push(`\n\n---\n**${event.status}**${event.error ? `: ${event.error}` : ''}\n`);
        break;
      default:
        return;
    }
    this.touch(event.runId);
  }

  finish(outcome: RunOutcome): void {
    const buffer = this.buffers.get(outcome.runId);
    if (!buffer) return;
    buffer.push(`\n_Cost ${formatUsd(outcome.costMicros)}._\n`);
    this.touch(outcome.runId);
  }

  /** The text of a run's output so far (tests read it). */
  text(runId: string): string {
    return this.buffers.get(runId)?.join('') ?? this.fromStore(runId);
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    const match = /^\/runs\/([A-Za-z0-9_-]+)\/[^/]+\.md$/.exec(uri.path);
    return match ? this.text(match[1]!) : '';
  }

  private touch(runId: string): void {
    if (this.pending.has(runId)) return;
    this.pending.set(
      runId,
      setTimeout(() => {
        this.pending.delete(runId);
        this.changed.fire(this.uri(runId));
      }, STREAM_DEBOUNCE_MS),
    );
  }

  /** A run this window did not stream: what the store knows (its steps, their outputs, its error). */
  private fromStore(runId: string): string {
    const q = this.host.current?.store.queries;
    const run = q?.getRun(runId);
    if (!q || !run) return `# Run ${runId}\n\nThis run is not in the workspace store.\n`;
    const lines = [
      `# ${run.workflow}${run.title && run.title !== run.workflow ? ` — ${run.title}` : ''}`,
      '',
      `_Run ${run.id} · **${run.status}** · ${formatUsd(run.costMicros)} · ${run.tokens.toLocaleString('en-US')} tokens · started ${new Date(run.createdAt).toLocaleString()}_`,
    ];
    // Outputs live in the run's checkpoint (the runner's state after each step); costs in the task rollups.
    const outputs = new Map<string, string>();
    const stored = q.checkpoint(runId);
    if (stored) {
      try {
        for (const t of allTasks(readCheckpoint(stored.state)))
          if (t.output !== undefined) outputs.set(t.taskId, t.output);
      } catch {
        // A checkpoint of another version: costs and statuses still show.
      }
    }
    for (const task of q.tasksOfRun(runId)) {
      lines.push(
        '',
        `## ${task.name}${task.parentTaskId ? ' (sub-agent)' : ''}`,
        `_${task.status} · ${formatUsd(task.costMicros)} · ${task.tokens.toLocaleString('en-US')} tokens_`,
        '',
      );
      const output = outputs.get(task.id);
      if (output) lines.push(output);
    }
    const error = (run.data as { error?: unknown } | null)?.error;
    if (typeof error === 'string' && error) lines.push('', '---', `**${run.status}**: ${error}`);
    else if (run.status !== 'completed' && outputs.size === 0)
      lines.push('', `_No output yet: the run is ${run.status}._`);
    return `${lines.join('\n')}\n`;
  }
}
