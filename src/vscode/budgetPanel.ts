import * as vscode from 'vscode';
import {
  DEFAULT_VIEW_STATE,
  parseWebviewMessage,
  RANGES,
  TABS,
  type HostMessage,
  type PanelRequest,
  type PanelSnapshot,
  type PanelViewState,
} from '../webview/protocol';
import { Disposable } from './dispose';
import { Commands, PANEL_VIEW_TYPE } from './ids';
import { computeSnapshot } from './panelSnapshot';
import type { Begun } from './runSessions';
import { runIdOf } from './runsTree';
import { TeamSectionReader } from './teamSection';
import { webviewAssets, webviewPage } from './webviewPage';
import type { WorkspaceHost } from './workspaceHost';

/** What the panel needs from the run controller. */
export interface PanelRuns {
  active(): readonly string[];
  readonly onDidChangeActivity: vscode.Event<void>;
  /** Resumes a run; resolves once it is under way (undefined: refused, and a notification says why). */
  beginResume(runId: string): Promise<Begun | undefined>;
}

/**
 * Timings of the panel's last opening: the integration tests check their order, and the log reports the time from
 * opening to painted data. No benchmark measures the panel itself; `store.breakdownMonthMs1M` in
 * bench/store.bench.ts measures the rollup breakdowns its snapshot reads, at a million ledger rows.
 */
export interface PanelTimings {
  /** When the panel was created or restored (performance.now()). */
  openedAt: number;
  /** When the page said it was ready. */
  readyAt?: number;
  /** How long the first snapshot took to compute. */
  snapshotMs?: number;
  /** When the page reported it had painted the first snapshot. */
  paintedAt?: number;
}

/** Spend arrives in bursts while a run streams; the panel redraws at most this often. */
const REFRESH_DEBOUNCE_MS = 300;

/**
 * The budget panel: a webview with every scope, spend by day, breakdowns, burn rate and forecast, estimate vs
 * actual, cache savings and the runs with Resume / Cancel / Open. One panel at a time; restored after a reload by
 * the serializer with only its range and tab. The page (src/webview/main.ts) and this host talk only through
 * src/webview/protocol.ts; every message from the page is validated and anything else is logged and dropped.
 */
export class BudgetPanel extends Disposable {
  /** The panel while it is open, with everything that listens to it. */
  private open: OpenPanel | undefined;
  private ready = false;
  private viewState: PanelViewState = { ...DEFAULT_VIEW_STATE };
  private pendingReveal: string | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  /** Messages from the page that failed validation (tests read it). */
  rejectedMessages = 0;
  timings: PanelTimings | undefined;
  /** The last snapshot posted to the page. */
  lastSnapshot: PanelSnapshot | undefined;
  private readonly postedEmitter = this.register(new vscode.EventEmitter<HostMessage>());
  /** Every message posted to the page (tests wait on it). */
  readonly onDidPost = this.postedEmitter.event;
  /** The team ledger's section, read after each snapshot is posted (never before the first paint). */
  readonly teamReader = new TeamSectionReader(
    () => ({ team: this.host.current?.team, range: this.viewState.range }),
    (team, range, section) => {
      // A reading that finished after the panel closed, of a team ledger since replaced or of another range is
      // dropped (the reading asked for meanwhile follows it).
      if (!this.panel || !this.ready || this.host.current?.team !== team || range !== this.viewState.range) return;
      if (this.lastSnapshot) this.lastSnapshot = { ...this.lastSnapshot, team: section };
      this.post({ type: 'team', team: section });
    },
  );
  private readonly paintedEmitter = this.register(new vscode.EventEmitter<PanelTimings>());
  /** The page painted a snapshot. */
  readonly onDidPaint = this.paintedEmitter.event;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly host: WorkspaceHost,
    private readonly runs: PanelRuns,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.register(vscode.commands.registerCommand(Commands.openPanel, () => this.show()));
    this.register(
      vscode.commands.registerCommand(Commands.revealRunInPanel, (arg?: unknown) => this.revealRun(runIdOf(arg))),
    );
    this.register(
      vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, {
        deserializeWebviewPanel: async (panel, state: unknown) => {
          // The persisted state comes from the page: validate it like any message.
          const parsed = parseWebviewMessage({ type: 'view', state });
          this.adopt(
            panel,
            'message' in parsed && parsed.message.type === 'view' ? parsed.message.state : { ...DEFAULT_VIEW_STATE },
          );
        },
      }),
    );
    this.register(runs.onDidChangeActivity(() => this.scheduleRefresh()));
    // Trust comes with no spend: without this the Resume buttons stay disabled until something else changes.
    this.register(vscode.workspace.onDidGrantWorkspaceTrust(() => this.scheduleRefresh()));
    host.whenOpen((workspace) => {
      this.register(workspace.store.onDidApply(() => this.scheduleRefresh()));
      this.register(workspace.engine.onDidChange(() => this.scheduleRefresh()));
      // A team ledger set, replaced or dropped. (Not every change of its state: reading it changes that, and would
      // read again without end; its spend on other machines shows on the panel's next refresh.)
      let team = workspace.team;
      this.register(
        workspace.onDidChangeTeam(() => {
          if (workspace.team === team) return;
          team = workspace.team;
          this.scheduleRefresh();
        }),
      );
      this.scheduleRefresh();
    });
    this.register({ dispose: () => this.close() });
  }

  private get panel(): vscode.WebviewPanel | undefined {
    return this.open?.panel;
  }

  get isOpen(): boolean {
    return this.open !== undefined;
  }

  get state(): PanelViewState {
    return this.viewState;
  }

  /** Opens the panel (or brings it forward). */
  show(): void {
    if (this.panel) {
      this.panel.reveal();
      return;
    }
    const panel = vscode.window.createWebviewPanel(
      PANEL_VIEW_TYPE,
      'Agent Budget',
      vscode.ViewColumn.Active,
      this.webviewOptions(),
    );
    this.adopt(panel, this.viewState);
  }

  /** Opens the panel on the runs tab with `runId` highlighted. */
  revealRun(runId: string | undefined): void {
    this.viewState = { ...this.viewState, tab: 'runs' };
    this.pendingReveal = runId;
    this.show();
    if (this.ready && runId) {
      this.post({ type: 'reveal', runId });
      this.pendingReveal = undefined;
    }
  }

  private webviewOptions(): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return {
      enableScripts: true,
      enableFindWidget: true,
      // Only dist/webview/ (the page's bundle, its stylesheet, the codicon stylesheet and font): not the extension
      // host's or the CLI's bundles, the WebAssembly or the source maps beside them in dist/.
      localResourceRoots: [this.assets()],
    };
  }

  /** The page's files, emitted there by esbuild.mjs: the one folder the webview may load from. */
  private assets(): vscode.Uri {
    return webviewAssets(this.extensionUri);
  }

  /** What the webview may load from (tests read it). */
  get localResourceRoots(): readonly vscode.Uri[] {
    return this.webviewOptions().localResourceRoots ?? [];
  }

  private adopt(panel: vscode.WebviewPanel, state: PanelViewState): void {
    this.close();
    this.viewState = state;
    this.timings = { openedAt: performance.now() };
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'agent-budget.svg');
    panel.webview.options = this.webviewOptions();
    panel.webview.html = this.html(panel.webview);
    const open = new OpenPanel(panel, () => {
      // Closed by the user (or replaced): what listened to it goes with it.
      if (this.open === open) this.close();
    });
    open.listen(
      panel.webview.onDidReceiveMessage((raw: unknown) => void this.receive(raw)),
      panel.onDidChangeViewState(() => panel.visible && this.scheduleRefresh()),
    );
    this.open = open;
  }

  /** Closes the panel (when open) and stops what refreshes it. */
  private close(): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    this.ready = false;
    const open = this.open;
    this.open = undefined;
    open?.dispose();
  }

  /** Every message from the page comes through here (and tests call it with hostile ones). */
  async receive(raw: unknown): Promise<void> {
    const parsed = parseWebviewMessage(raw);
    if ('error' in parsed) {
      this.rejectedMessages++;
      this.log.warn(`Budget panel: rejected a message from the webview (${parsed.error}).`);
      return;
    }
    const message = parsed.message;
    switch (message.type) {
      case 'ready':
        this.ready = true;
        if (this.timings) this.timings.readyAt = performance.now();
        this.viewState = message.state;
        await this.refresh();
        if (this.pendingReveal) {
          this.post({ type: 'reveal', runId: this.pendingReveal });
          this.pendingReveal = undefined;
        }
        return;
      case 'view': {
        const rangeChanged = message.state.range !== this.viewState.range;
        this.viewState = message.state;
        if (rangeChanged) await this.refresh();
        return;
      }
      case 'painted':
        if (this.timings && this.timings.paintedAt === undefined) {
          this.timings.paintedAt = performance.now();
          this.log.info(
            `Budget panel: data painted ${(this.timings.paintedAt - this.timings.openedAt).toFixed(0)} ms after opening (snapshot ${this.timings.snapshotMs?.toFixed(0)} ms).`,
          );
          this.paintedEmitter.fire(this.timings);
        }
        return;
      case 'request':
        try {
          await this.perform(message.request);
          this.post({ type: 'reply', id: message.id, ok: true });
        } catch (err) {
          this.post({
            type: 'reply',
            id: message.id,
            ok: false,
            error: err instanceof Error ? err.message : String(err),
          });
        }
        return;
    }
  }

  private async perform(request: PanelRequest): Promise<void> {
    switch (request.kind) {
      case 'resume':
        // Answered once the run is under way, not when it ends: the button would stay busy for the whole run.
        if (!(await this.runs.beginResume(request.runId)))
          throw new Error(vscode.l10n.t('The run did not resume (the notification says why).'));
        // The page gets the list without the run to resume before the reply frees the button.
        await this.refresh();
        return;
      case 'cancel':
        await vscode.commands.executeCommand(Commands.cancelRun, request.runId);
        return;
      case 'openRun':
        await vscode.commands.executeCommand(Commands.openRunOutput, request.runId);
        return;
      case 'editPolicy':
        await vscode.commands.executeCommand(Commands.editPolicy);
        return;
      case 'promoteVariant':
        await vscode.commands.executeCommand(Commands.promoteVariant, {
          workflow: request.workflow,
          arm: request.arm,
        });
        return;
      case 'export': {
        if (!(await exportAvailable())) throw new Error(vscode.l10n.t('Export is not available in this version.'));
        await vscode.commands.executeCommand(Commands.exportSpend, {
          format: request.format,
          range: this.viewState.range,
        });
        return;
      }
    }
  }

  private scheduleRefresh(): void {
    if (!this.panel || !this.ready || this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      if (this.panel?.visible) void this.refresh();
    }, REFRESH_DEBOUNCE_MS);
  }

  /** Recomputes and posts the snapshot (after ready). */
  async refresh(): Promise<PanelSnapshot | undefined> {
    if (!this.panel || !this.ready) return undefined;
    const workspace = this.host.current ?? (await this.host.ready.catch(() => undefined));
    if (!workspace || !this.panel) return undefined;
    const snapshot = computeSnapshot({
      workspace,
      range: this.viewState.range,
      now: Date.now(),
      activeRuns: this.runs.active(),
      canRun: vscode.workspace.isTrusted,
      canExport: await exportAvailable(),
      team: this.teamReader.current(workspace.team, this.viewState.range),
    });
    if (this.timings && this.timings.snapshotMs === undefined) this.timings.snapshotMs = snapshot.computeMs;
    this.lastSnapshot = snapshot;
    this.post({ type: 'snapshot', snapshot });
    // The team ledger is another server: its answer follows the snapshot in a message of its own.
    if (workspace.team) this.teamReader.read();
    return snapshot;
  }

  private post(message: HostMessage): void {
    if (!this.panel) return;
    void this.panel.webview.postMessage(message);
    this.postedEmitter.fire(message);
  }

  private html(webview: vscode.Webview): string {
    // The initial state rides on a data attribute (not an inline script), so the page needs no 'unsafe-inline'.
    const initial = JSON.stringify({
      range: RANGES.includes(this.viewState.range) ? this.viewState.range : 'month',
      tab: TABS.includes(this.viewState.tab) ? this.viewState.tab : 'overview',
    });
    return webviewPage(webview, this.assets(), {
      title: 'Agent Budget',
      css: 'webview.css',
      js: 'webview.js',
      bodyAttributes: `data-initial-state="${escapeAttribute(initial)}"`,
      main: '<main id="app" aria-live="polite"><p class="muted">Loading spend…</p></main>',
    });
  }
}

/** One open webview panel and what listens to it, disposed together: when the user closes it, or it is replaced. */
class OpenPanel extends Disposable {
  constructor(
    readonly panel: vscode.WebviewPanel,
    onClosed: () => void,
  ) {
    super();
    this.register(panel);
    this.register(panel.onDidDispose(onClosed));
  }

  listen(...subscriptions: vscode.Disposable[]): void {
    for (const s of subscriptions) this.register(s);
  }
}

async function exportAvailable(): Promise<boolean> {
  return (await vscode.commands.getCommands(true)).includes(Commands.exportSpend);
}

function escapeAttribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}
