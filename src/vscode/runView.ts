import * as vscode from 'vscode';
import { messageOf } from '../core/errors';
import {
  parseRunViewMessage,
  parseRunViewState,
  type ApprovalView,
  type RunViewHostMessage,
  type RunViewModel,
  type RunViewRequest,
} from '../webview/runProtocol';
import type { ApprovalPrompts, InlineApprovals } from './approvals';
import { Disposable } from './dispose';
import { Commands, RUN_VIEW_TYPE } from './ids';
import type { ApprovalRequest, RunEvent } from './runnerContract';
import type { RunSessions } from './runSessions';
import { emptyLive, runViewModel, toolLine, type LiveRunView } from './runViewModel';
import type { Settings } from './settings';
import { webviewAssets, webviewPage } from './webviewPage';
import type { WorkspaceHost } from './workspaceHost';

/** Redraw a streaming view at most this often (each redraw renders its Markdown again). */
const REDRAW_MS = 100;

/** An approval waiting in a run's view for Apply or Reject. */
interface PendingApproval {
  view: ApprovalView;
  request: ApprovalRequest;
  answer: (yes: boolean) => void;
}

/**
 * The run view: one webview tab per run, reused when the run is opened again, all in one editor group beside the
 * code (never a new group per run). It shows the answer rendered (the page renders the Markdown, sanitised), the
 * intermediate steps folded with their cost, each step's model, tokens and cost, tool calls and approvals (Apply /
 * Reject in the view, the diff one click away), Cancel and Resume, and a follow-up box that continues the same run.
 * It follows runs of this window live (their streamed text) and shows any other run from the store. Restored after
 * a reload by the serializer (the page persists its run id). The page (src/webview/run/main.ts) and this host talk
 * only through src/webview/runProtocol.ts; every message from the page is validated and anything else is dropped.
 */
export class RunViews extends Disposable implements InlineApprovals {
  private readonly views = new Map<string, RunViewTab>();
  private readonly live = new Map<string, LiveRunView>();
  private readonly approvals = new Map<string, PendingApproval>();
  private nextApproval = 1;
  /** Messages from pages that failed validation (tests read it). */
  rejectedMessages = 0;
  private readonly postedEmitter = this.register(new vscode.EventEmitter<{ runId: string; model: RunViewModel }>());
  /** Every model posted to a page (tests wait on it). */
  readonly onDidPost = this.postedEmitter.event;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly host: WorkspaceHost,
    private readonly sessions: RunSessions,
    private readonly settings: Settings,
    private readonly prompts: ApprovalPrompts,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    prompts.inline = this;
    sessions.view = {
      followsRuns: () => settings.value.revealOutput,
      isVisible: (runId) => this.views.get(runId)?.panel.visible ?? false,
    };
    this.register({
      dispose: () => {
        prompts.inline = undefined;
        sessions.view = undefined;
      },
    });
    this.register(
      vscode.window.registerWebviewPanelSerializer(RUN_VIEW_TYPE, {
        deserializeWebviewPanel: async (panel, state: unknown) => {
          const restored = parseRunViewState(state);
          if (restored) this.adopt(panel, restored.runId);
          else panel.dispose();
        },
      }),
    );
    this.register(sessions.onDidRunEvent((event) => this.observe(event)));
    this.register(sessions.onDidChangeActivity(() => this.views.forEach((v) => v.schedule())));
    this.register(vscode.workspace.onDidGrantWorkspaceTrust(() => this.views.forEach((v) => v.schedule())));
    host.whenOpen((workspace) => {
      // Views restored before the store opened have nothing drawn yet.
      this.views.forEach((v) => v.schedule());
      this.register(
        workspace.store.onDidApply(({ records }) => {
          for (const r of records) {
            const runId =
              r.k === 'run'
                ? r.run.id
                : r.k === 'checkpoint'
                  ? r.checkpoint.runId
                  : r.k === 'task'
                    ? r.task.runId
                    : undefined;
            if (runId) this.views.get(runId)?.schedule();
          }
        }),
      );
    });
    this.register({
      dispose: () => {
        for (const pending of this.approvals.values()) pending.answer(false);
        this.approvals.clear();
        for (const view of [...this.views.values()]) view.dispose();
      },
    });
  }

  /** Opens the view of `runId`, or brings its tab forward. */
  async open(runId: string, options: { preserveFocus?: boolean } = {}): Promise<void> {
    const existing = this.views.get(runId);
    if (existing) {
      existing.panel.reveal(existing.panel.viewColumn, options.preserveFocus);
      return;
    }
    const panel = vscode.window.createWebviewPanel(
      RUN_VIEW_TYPE,
      vscode.l10n.t('Run'),
      { viewColumn: this.column(), preserveFocus: options.preserveFocus },
      this.webviewOptions(),
    );
    this.adopt(panel, runId);
  }

  /** Whether `runId` has a view open (tests). */
  isOpen(runId: string): boolean {
    return this.views.has(runId);
  }

  /** The model the view of `runId` shows now (computed afresh; tests and the command API read it). */
  model(runId: string): RunViewModel | undefined {
    const workspace = this.host.current;
    if (!workspace) return undefined;
    return runViewModel({
      queries: workspace.store.queries,
      runId,
      live: this.live.get(runId),
      approval: this.approvals.get(runId)?.view ?? null,
      canRun: vscode.workspace.isTrusted && !workspace.policyError,
    });
  }

  /** The run's answers as the view shows them, as plain text: steps, then follow-ups (tests read it). */
  text(runId: string): string {
    const m = this.model(runId);
    if (!m) return '';
    return [...m.steps, ...m.followUps]
      .map((s) => (s.question ? `${s.question}\n${s.output}` : s.output))
      .concat(m.error ? [m.error] : [])
      .join('\n\n');
  }

  /** Handles a message from the page of `runId` (tests call it with hostile ones). */
  async receive(runId: string, raw: unknown): Promise<void> {
    const view = this.views.get(runId);
    const parsed = parseRunViewMessage(raw);
    if ('error' in parsed) {
      this.rejectedMessages++;
      this.log.warn(`Run view: rejected a message from the webview (${parsed.error}).`);
      return;
    }
    const message = parsed.message;
    if (message.type === 'ready') {
      if (view) {
        view.ready = true;
        view.redraw();
      }
      return;
    }
    try {
      await this.perform(runId, message.request);
      view?.post({ type: 'reply', id: message.id, ok: true });
    } catch (err) {
      view?.post({ type: 'reply', id: message.id, ok: false, error: messageOf(err) });
    }
  }

  /** InlineApprovals: asks in the run's view when one is open. */
  ask(request: ApprovalRequest): Promise<boolean> | undefined {
    const view = this.views.get(request.runId);
    if (!view) return undefined;
    this.approvals.get(request.runId)?.answer(false);
    return new Promise<boolean>((resolve) => {
      const pending: PendingApproval = {
        view: {
          id: this.nextApproval++,
          tool: request.tool,
          summary: request.command ? `${request.summary}\n${request.command}` : request.summary,
          hasDiff: request.tool === 'writeFile' || request.tool === 'editFile',
        },
        request,
        answer: (yes) => {
          if (this.approvals.get(request.runId) === pending) this.approvals.delete(request.runId);
          this.views.get(request.runId)?.schedule();
          resolve(yes);
        },
      };
      this.approvals.set(request.runId, pending);
      view.panel.reveal(view.panel.viewColumn, true);
      view.schedule();
    });
  }

  private async perform(runId: string, request: RunViewRequest): Promise<void> {
    switch (request.kind) {
      case 'cancel':
        await this.sessions.cancel(runId);
        return;
      case 'resume':
        if (!(await this.sessions.beginResume(runId)))
          throw new Error(vscode.l10n.t('The run did not resume (the notification says why).'));
        return;
      case 'followUp':
        if (!request.text.trim()) throw new Error(vscode.l10n.t('Type a question first.'));
        if (!(await this.sessions.beginFollowUp(runId, request.text)))
          throw new Error(vscode.l10n.t('The follow-up did not start (the notification says why).'));
        return;
      case 'copy':
        await vscode.env.clipboard.writeText(request.text);
        return;
      case 'insert':
        await insertAtCursor(request.text);
        return;
      case 'approve': {
        const pending = this.approvals.get(runId);
        if (!pending || pending.view.id !== request.id)
          throw new Error(vscode.l10n.t('That approval is no longer waiting.'));
        pending.answer(request.answer === 'apply');
        return;
      }
      case 'showDiff': {
        const pending = this.approvals.get(runId);
        if (!pending || pending.view.id !== request.id)
          throw new Error(vscode.l10n.t('That approval is no longer waiting.'));
        const diff = await this.prompts.openDiff(pending.request, { beside: true });
        // The diff goes when the question is answered.
        const answer = pending.answer;
        pending.answer = (yes) => {
          void diff.dispose();
          answer(yes);
        };
        return;
      }
      case 'openPanel':
        await vscode.commands.executeCommand(Commands.revealRunInPanel, runId);
        return;
    }
  }

  private observe(event: RunEvent): void {
    let live = this.live.get(event.runId);
    if (!live) this.live.set(event.runId, (live = emptyLive()));
    switch (event.type) {
      case 'runStarted':
        live.running = true;
        live.warnings = [];
        if (this.settings.value.revealOutput || this.views.has(event.runId))
          void this.open(event.runId, { preserveFocus: true });
        break;
      case 'stepStarted':
        live.texts.set(event.stepId, '');
        break;
      case 'text':
        live.texts.set(event.stepId, (live.texts.get(event.stepId) ?? '') + event.delta);
        break;
      case 'tool': {
        const lines = live.tools.get(event.stepId) ?? [];
        lines.push(toolLine(event));
        live.tools.set(event.stepId, lines);
        break;
      }
      case 'warning':
        if (!live.warnings.includes(event.message)) live.warnings.push(event.message);
        break;
      case 'runFinished':
        live.running = false;
        live.texts.clear();
        this.approvals.get(event.runId)?.answer(false);
        break;
      default:
        break;
    }
    this.views.get(event.runId)?.schedule();
  }

  /** Where a new run view opens: beside the code, in the group that already holds run views if there is one. */
  private column(): vscode.ViewColumn {
    for (const view of this.views.values()) if (view.panel.viewColumn) return view.panel.viewColumn;
    return vscode.ViewColumn.Beside;
  }

  private webviewOptions(): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return {
      enableScripts: true,
      enableFindWidget: true,
      retainContextWhenHidden: false,
      localResourceRoots: [this.assets()],
    };
  }

  private assets(): vscode.Uri {
    return webviewAssets(this.extensionUri);
  }

  private adopt(panel: vscode.WebviewPanel, runId: string): void {
    this.views.get(runId)?.dispose();
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'agent-budget.svg');
    panel.webview.options = this.webviewOptions();
    const view = new RunViewTab(panel, runId, () => this.model(runId), this.postedEmitter);
    view.onClosed(() => {
      if (this.views.get(runId) === view) this.views.delete(runId);
      this.approvals.get(runId)?.answer(false);
    });
    view.listen(panel.webview.onDidReceiveMessage((raw: unknown) => void this.receive(runId, raw)));
    panel.webview.html = this.html(panel.webview, runId);
    this.views.set(runId, view);
    view.redraw();
  }

  private html(webview: vscode.Webview, runId: string): string {
    return webviewPage(webview, this.assets(), {
      title: 'Agent Budget run',
      css: 'run.css',
      js: 'run.js',
      bodyAttributes: `data-run-id="${runId.replace(/[^A-Za-z0-9_-]/g, '')}"`,
      main: '<main id="app"><p class="muted">Loading the run…</p></main>',
    });
  }
}

/** One run's tab and what listens to it, disposed together. */
class RunViewTab extends Disposable {
  ready = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly closed = this.register(new vscode.EventEmitter<void>());
  readonly onClosed = this.closed.event;

  constructor(
    readonly panel: vscode.WebviewPanel,
    readonly runId: string,
    private readonly compute: () => RunViewModel | undefined,
    private readonly posted: vscode.EventEmitter<{ runId: string; model: RunViewModel }>,
  ) {
    super();
    this.register(panel);
    this.register({ dispose: () => clearTimeout(this.timer) });
    this.register(
      panel.onDidDispose(() => {
        this.closed.fire();
        this.dispose();
      }),
    );
    this.register(panel.onDidChangeViewState(() => panel.visible && this.schedule()));
  }

  listen(...subscriptions: vscode.Disposable[]): void {
    for (const s of subscriptions) this.register(s);
  }

  schedule(): void {
    if (this.timer || this.isDisposed) return;
    this.timer = setTimeout(() => this.redraw(), REDRAW_MS);
  }

  redraw(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.isDisposed) return;
    const model = this.compute();
    if (!model) return;
    this.panel.title = `${model.workflow}: ${shorten(model.title)}`;
    if (!this.ready) return;
    this.post({ type: 'model', model });
    this.posted.fire({ runId: this.runId, model });
  }

  post(message: RunViewHostMessage): void {
    if (!this.isDisposed) void this.panel.webview.postMessage(message);
  }
}

function shorten(text: string): string {
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

/** Inserts at the cursor of the text editor last used (the view itself is not a text editor). */
async function insertAtCursor(text: string): Promise<void> {
  const editor =
    vscode.window.activeTextEditor ??
    vscode.window.visibleTextEditors.find((e) => e.document.uri.scheme === 'file' || e.document.isUntitled);
  if (!editor) throw new Error(vscode.l10n.t('Open a file to insert into first.'));
  await editor.edit((edit) => {
    for (const selection of editor.selections) edit.replace(selection, text);
  });
}
