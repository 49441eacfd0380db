import * as vscode from 'vscode';
import type { BudgetAlert, BudgetLevel } from '../core/budget/engine';
import { formatUsd } from '../core/money';
import { dayKey } from '../core/policy/periods';
import { OWN_CLIENT } from '../core/store/records';
import type { Workspace } from '../core/workspace';
import {
  formatLocalTime,
  LEVEL_WORDS,
  meterFigure,
  runFigure,
  scopeLabel,
  tightestScope,
  workspaceScope,
  worstLevel,
  type ScopeStatus,
} from './budgetText';
import { Disposable } from './dispose';
import { Commands, METER_ID, METER_NAME } from './ids';
import { invalidPolicyFile } from './policyFiles';
import type { WorkspaceHost } from './workspaceHost';

/** What a running workflow shows in the meter: its current task and the tokens that task has used. */
export interface RunActivity {
  workflow: string;
  /** The step running now. */
  step: string;
  /** Tokens the running task has used so far (all kinds), with the reply streaming now estimated. */
  tokens: number;
  /** Whether `tokens` includes that estimate (the call has not settled yet): shown as "~". */
  estimated: boolean;
  /** How many runs are active in this window. */
  active: number;
}

export interface RunActivitySource {
  /** A run started or stopped. */
  readonly onDidChangeActivity: vscode.Event<void>;
  /** The running step or its tokens changed (often: every streamed chunk). */
  readonly onDidProgress: vscode.Event<void>;
  activity(): RunActivity | undefined;
}

/** Whether the budget proxy serves in this window, and where (src/vscode/budgetProxy.ts). */
export interface ProxyStatus {
  /** The proxy's URL while it runs; undefined when stopped. */
  readonly url: string | undefined;
  readonly onDidChange: vscode.Event<void>;
}

/** The meter as it is drawn now: for tests and the API. */
export interface MeterState {
  text: string;
  /** `statusBarItem.warningBackground`, `statusBarItem.errorBackground`, or undefined. */
  background: string | undefined;
  tooltip: string;
  command: string | undefined;
  /** The level of the scope shown ('blocked' also for an invalid policy). */
  level: BudgetLevel;
  /** The scope shown, if any. */
  scope: string | undefined;
}

const BACKGROUND: Record<BudgetLevel, string | undefined> = {
  ok: undefined,
  warn: 'statusBarItem.warningBackground',
  critical: 'statusBarItem.errorBackground',
  blocked: 'statusBarItem.errorBackground',
};

/** Coalesces bursts of spend (a streamed run settles many calls) into one redraw, well within a second. */
const REDRAW_DEBOUNCE_MS = 120;

/**
 * The status-bar budget meter: always visible, it holds one figure still — the workspace's spend against its
 * tightest period cap (`$(pulse) $1.84 / $5.00 today`), with what running calls hold beside it as held (`· +$0.02
 * held`), never counted as spent — and, while a run is active, that run's workflow and tokens so far in front ("~"
 * while a reply streams; "starting" before any). Its colour is the worst level of any scope (warning at 75 % or a
 * soft limit, error at 90 % and when blocked); the Markdown tooltip names that scope and lists every scope with
 * its spend, held money, limit and local reset time. It redraws on every engine change — spend here, in another
 * window or from the CLI (the store tails the shared journal) — and once a minute (a period can roll over with no
 * spend at all). Click: the budget panel, or budget.json when the policy is invalid.
 */
export class BudgetMeter extends Disposable {
  private readonly item = this.register(
    vscode.window.createStatusBarItem(METER_ID, vscode.StatusBarAlignment.Right, 100),
  );
  private timer: ReturnType<typeof setTimeout> | undefined;
  private state: MeterState;
  private readonly drawn = this.register(new vscode.EventEmitter<MeterState>());
  /** Fires after every redraw (tests wait on it). */
  readonly onDidDraw = this.drawn.event;

  constructor(
    private readonly host: WorkspaceHost,
    private readonly activity: RunActivitySource,
    private readonly proxy?: ProxyStatus,
  ) {
    super();
    this.item.name = METER_NAME;
    this.state = {
      text: '$(pulse) Agent Budget',
      background: undefined,
      tooltip: 'Agent Budget: opening the workspace store…',
      command: Commands.openPanel,
      level: 'ok',
      scope: undefined,
    };
    this.apply(this.state);
    this.item.show();
    this.register({ dispose: () => clearTimeout(this.timer) });
    this.register(activity.onDidChangeActivity(() => this.schedule()));
    this.register(activity.onDidProgress(() => this.schedule()));
    if (proxy) this.register(proxy.onDidChange(() => this.schedule()));
    const minute = setInterval(() => this.schedule(), 60_000);
    this.register({ dispose: () => clearInterval(minute) });
    host.whenOpen((workspace) => {
      this.register(workspace.engine.onDidChange(() => this.schedule()));
      this.register(workspace.engine.onAlert((alert) => this.alert(alert)));
      this.redraw();
    });
    host.ready.catch((err: unknown) => {
      this.apply({
        text: '$(pulse) Agent Budget',
        background: undefined,
        tooltip: `Agent Budget is not tracking this window: ${err instanceof Error ? err.message : String(err)}`,
        command: undefined,
        level: 'ok',
        scope: undefined,
      });
    });
  }

  /** What the meter shows now. */
  get current(): MeterState {
    return this.state;
  }

  /** Redraws at once (tests; the debounce is for bursts). */
  redraw(): MeterState {
    clearTimeout(this.timer);
    this.timer = undefined;
    const workspace = this.host.current;
    if (workspace) this.apply(this.compute(workspace));
    return this.state;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.redraw(), REDRAW_DEBOUNCE_MS);
  }

  private compute(workspace: Workspace): MeterState {
    const now = Date.now();
    const scopes = workspace.engine.status(now);
    // One stable figure: the workspace's tightest period cap; the colour is the worst of every scope.
    const primary = workspaceScope(scopes);
    const tight = tightestScope(scopes);
    const run = this.activity.activity();
    const invalid = workspace.policyError;

    const md: string[] = [];
    let text: string;
    let level: BudgetLevel = worstLevel(scopes);
    let command: string = Commands.openPanel;
    if (invalid) {
      const file = invalidPolicyFile(invalid); // budget.json, or the user's own user.json
      level = 'blocked';
      command = file.command;
      text = '$(error) Budget policy invalid';
      md.push(`**Agent Budget: runs are stopped.** ${escape(file.label)} is not valid:`, '');
      for (const issue of invalid.issues.slice(0, 5))
        md.push(`- line ${issue.line}: ${escape(issue.path ? `${issue.path}: ` : '')}${escape(issue.message)}`);
      if (invalid.issues.length > 5) md.push(`- … and ${invalid.issues.length - 5} more`);
      md.push(
        '',
        `[Open ${escape(file.label)}](command:${file.command}) · spend below is against the last valid policy.`,
        '',
      );
    } else {
      text = primary
        ? `$(pulse) ${meterFigure(primary)}`
        : `$(pulse) ${formatUsd(workspace.store.queries.totals(todayRange(workspace, now)).costMicros)} today`;
      md.push(
        `**Agent Budget** — ${primary ? `the workspace: ${scopeLabel(primary.scope)} at ${primary.pct.toFixed(0)}%` : 'no workspace USD cap set'}` +
          (tight && tight !== primary && tight.level !== 'ok'
            ? `; tightest: ${escape(scopeLabel(tight.scope))} at ${tight.pct.toFixed(0)}%`
            : ''),
        '',
      );
    }
    if (run) {
      text = `$(sync~spin) ${runFigure(run)} · ${text.replace(/^\$\([^)]+\) /, '')}`;
      md.push(
        `**Running:** ${escape(run.workflow)} — step ${escape(run.step)}, ${run.estimated ? 'about ' : ''}${run.tokens.toLocaleString('en-US')} tokens so far${run.estimated ? ' (the reply is still streaming)' : ''}${run.active > 1 ? ` (${run.active} runs active)` : ''}`,
        '',
      );
    }
    md.push(...scopeTable(scopes, now));
    md.push(...this.proxyLines(workspace, now));
    md.push(
      '',
      `[Open budget panel](command:${Commands.openPanel}) · [Edit budget policy](command:${Commands.editPolicy})`,
    );
    return {
      text,
      background: BACKGROUND[level],
      tooltip: md.join('\n'),
      command,
      level,
      scope: primary?.scope,
    };
  }

  /** Proxied spend today by client (live: every settlement redraws), while the proxy runs or once it spent today. */
  private proxyLines(workspace: Workspace, now: number): string[] {
    const clients = workspace.store.queries
      .breakdown('client', todayRange(workspace, now))
      .filter((r) => r.key !== OWN_CLIENT && r.calls > 0);
    const url = this.proxy?.url;
    if (!url && clients.length === 0) return [];
    const spend = clients.length
      ? clients
          .map((c) => `${escape(c.key)} ${formatUsd(c.costMicros)} (${c.calls} call${c.calls === 1 ? '' : 's'})`)
          .join(' · ')
      : 'no calls yet';
    return ['', `**Budget proxy** ${url ? `on ${url}` : '(stopped)'} — today by client: ${spend}`];
  }

  private apply(state: MeterState): void {
    this.state = state;
    this.item.text = state.text;
    this.item.backgroundColor = state.background ? new vscode.ThemeColor(state.background) : undefined;
    const tooltip = new vscode.MarkdownString(state.tooltip, true);
    tooltip.isTrusted = { enabledCommands: [Commands.openPanel, Commands.editPolicy] };
    this.item.tooltip = tooltip;
    this.item.command = state.command;
    // The aria label starts with the item's name, so screen readers (and the e2e tests) can tell it apart.
    this.item.accessibilityInformation = {
      label: `${METER_NAME}: ${state.text.replace(/\$\([^)]+\)\s*/g, '')}${state.level === 'ok' ? '' : ` (${LEVEL_WORDS[state.level]})`}`,
    };
    this.drawn.fire(state);
  }

  private alert(alert: BudgetAlert): void {
    const text = `Agent Budget: ${scopeLabel(alert.scope)} is at ${alert.pct}% — ${formatUsd(alert.usedMicros)} of ${formatUsd(alert.limitMicros)}.`;
    const show =
      alert.pct >= 100
        ? vscode.window.showErrorMessage
        : alert.pct >= 90
          ? vscode.window.showWarningMessage
          : vscode.window.showInformationMessage;
    void show(text, 'Open Budget Panel').then((choice) => choice && vscode.commands.executeCommand(Commands.openPanel));
  }
}

function scopeTable(scopes: Array<ScopeStatus>, now: number): string[] {
  if (scopes.length === 0) return ['No USD caps are set (`limits.workspace` in budget.json).'];
  const rows = ['| scope | spent | held | limit | | resets |', '|:--|--:|--:|--:|--:|:--|'];
  for (const s of [...scopes].sort((a, b) => b.pct - a.pct)) {
    const flag = s.level === 'ok' ? '' : ` $(${s.level === 'warn' ? 'warning' : 'error'})`;
    rows.push(
      `| ${escape(scopeLabel(s.scope))} | ${formatUsd(s.used)} | ${s.reserved > 0 ? formatUsd(s.reserved) : ''} | ${s.limit === undefined ? '—' : formatUsd(s.limit)} | ${s.pct.toFixed(0)}%${flag} | ${s.resetsAt ? formatLocalTime(s.resetsAt, now) : ''} |`,
    );
  }
  return rows;
}

function todayRange(workspace: Workspace, now: number): { fromDay: string; toDay: string } {
  const day = dayKey(now, workspace.policy.timeZone);
  return { fromDay: day, toDay: day };
}

/** Markdown-escapes user-controlled text (workflow ids, policy messages) for the tooltip. */
function escape(text: string): string {
  return text.replace(/[\\`*_[\]<>|]/g, '\\$&');
}
