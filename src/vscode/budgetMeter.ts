import * as vscode from 'vscode';
import type { BudgetAlert, BudgetLevel } from '../core/budget/engine';
import { formatUsd } from '../core/money';
import { dayKey } from '../core/policy/periods';
import { setsTeamCaps } from '../core/policy/teamPolicy';
import { OWN_CLIENT } from '../core/store/records';
import { teamScopeLevels } from '../core/team/teamStatus';
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
      tooltip: vscode.l10n.t('Agent Budget: opening the workspace store…'),
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
    const minute = setInterval(() => {
      void this.readTeam();
      this.schedule();
    }, 60_000);
    this.register({ dispose: () => clearInterval(minute) });
    host.whenOpen((workspace) => {
      this.register(workspace.engine.onDidChange(() => this.schedule()));
      // The team's spend moves on other machines too: read it on open, when the team ledger changes, every minute.
      this.register(workspace.onDidChangeTeam(() => this.schedule()));
      void this.readTeam();
      this.register(workspace.engine.onAlert((alert) => this.alert(alert)));
      this.redraw();
    });
    host.ready.catch((err: unknown) => {
      this.apply({
        text: '$(pulse) Agent Budget',
        background: undefined,
        tooltip: vscode.l10n.t(
          'Agent Budget is not tracking this window: {0}',
          err instanceof Error ? err.message : String(err),
        ),
        command: undefined,
        level: 'ok',
        scope: undefined,
      });
    });
  }

  /** Reads the member's team scopes from the team ledger (the meter redraws when they arrive). */
  readTeam(): Promise<void> {
    const team = this.host.current?.team;
    // A failure is shown from the team's own state (offline line, or the ledger's refusal): nothing to add here.
    return team
      ? team.status().then(
          () => undefined,
          () => undefined,
        )
      : Promise.resolve();
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
    const team = workspace.team;
    // The team's scopes as last read count like the workspace's: the tightest scope may be a team scope.
    const scopes = [...workspace.engine.status(now), ...(team?.latest ? teamScopeLevels(team.latest.scopes) : [])];
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
      text = `$(error) ${vscode.l10n.t('Budget policy invalid')}`;
      md.push(
        `**${vscode.l10n.t('Agent Budget: runs are stopped.')}** ${vscode.l10n.t('{0} is not valid:', escape(file.label))}`,
        '',
      );
      for (const issue of invalid.issues.slice(0, 5))
        md.push(
          `- ${vscode.l10n.t('line {0}: {1}', issue.line, `${escape(issue.path ? `${issue.path}: ` : '')}${escape(issue.message)}`)}`,
        );
      if (invalid.issues.length > 5) md.push(`- ${vscode.l10n.t('… and {0} more', invalid.issues.length - 5)}`);
      md.push(
        '',
        `[${vscode.l10n.t('Open {0}', escape(file.label))}](command:${file.command}) · ${vscode.l10n.t('spend below is against the last valid policy.')}`,
        '',
      );
    } else {
      text = primary
        ? `$(pulse) ${meterFigure(primary)}`
        : `$(pulse) ${vscode.l10n.t('{0} today', formatUsd(workspace.store.queries.totals(todayRange(workspace, now)).costMicros))}`;
      md.push(`**Agent Budget** — ${headline(primary, tight)}`, '');
    }
    if (run) {
      text = `$(sync~spin) ${runFigure(run)} · ${text.replace(/^\$\([^)]+\) /, '')}`;
      const tokens = run.tokens.toLocaleString('en-US');
      const running = run.estimated
        ? vscode.l10n.t(
            '{0} — step {1}, about {2} tokens so far (the reply is still streaming)',
            escape(run.workflow),
            escape(run.step),
            tokens,
          )
        : vscode.l10n.t('{0} — step {1}, {2} tokens so far', escape(run.workflow), escape(run.step), tokens);
      const others = run.active > 1 ? ` ${vscode.l10n.t('({0} runs active)', run.active)}` : '';
      md.push(`**${vscode.l10n.t('Running:')}** ${running}${others}`, '');
    }
    md.push(...scopeTable(scopes, now));
    md.push(...this.proxyLines(workspace, now));
    md.push(...teamLines(workspace));
    if (team?.offlineLine && !invalid) text = `${text} · ${vscode.l10n.t('team offline')}`;
    md.push(
      '',
      `[${vscode.l10n.t('Open budget panel')}](command:${Commands.openPanel}) · [${vscode.l10n.t('Edit budget policy')}](command:${Commands.editPolicy})`,
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
          .map(
            (c) =>
              `${escape(c.key)} ${formatUsd(c.costMicros)} (${c.calls === 1 ? vscode.l10n.t('1 call') : vscode.l10n.t('{0} calls', c.calls)})`,
          )
          .join(' · ')
      : vscode.l10n.t('no calls yet');
    const where = url ? vscode.l10n.t('on {0}', url) : vscode.l10n.t('(stopped)');
    return ['', `**${vscode.l10n.t('Budget proxy')}** ${vscode.l10n.t('{0} — today by client: {1}', where, spend)}`];
  }

  private apply(state: MeterState): void {
    this.state = state;
    this.item.text = state.text;
    this.item.backgroundColor = state.background ? new vscode.ThemeColor(state.background) : undefined;
    const tooltip = new vscode.MarkdownString(state.tooltip, true);
    tooltip.isTrusted = { enabledCommands: [Commands.openPanel, Commands.editPolicy, Commands.setTeamDatabase] };
    this.item.tooltip = tooltip;
    this.item.command = state.command;
    // The aria label starts with the item's name, so screen readers (and the e2e tests) can tell it apart.
    this.item.accessibilityInformation = {
      label: `${METER_NAME}: ${state.text.replace(/\$\([^)]+\)\s*/g, '')}${state.level === 'ok' ? '' : ` (${LEVEL_WORDS[state.level]})`}`,
    };
    this.drawn.fire(state);
  }

  private alert(alert: BudgetAlert): void {
    const text = vscode.l10n.t(
      'Agent Budget: {0} is at {1}% — {2} of {3}.',
      scopeLabel(alert.scope),
      alert.pct,
      formatUsd(alert.usedMicros),
      formatUsd(alert.limitMicros),
    );
    const open = vscode.l10n.t('Open Budget Panel');
    const show =
      alert.pct >= 100
        ? vscode.window.showErrorMessage
        : alert.pct >= 90
          ? vscode.window.showWarningMessage
          : vscode.window.showInformationMessage;
    void show(text, open).then((choice) => choice === open && vscode.commands.executeCommand(Commands.openPanel));
  }
}

/** The tooltip's first line: the workspace's scope shown, and the tightest scope when another one is nearer its cap. */
function headline(primary: ScopeStatus | undefined, tight: ScopeStatus | undefined): string {
  const other = tight && tight !== primary && tight.level !== 'ok' ? tight : undefined;
  if (primary) {
    const label = scopeLabel(primary.scope);
    const pct = primary.pct.toFixed(0);
    return other
      ? vscode.l10n.t(
          'the workspace: {0} at {1}%; tightest: {2} at {3}%',
          label,
          pct,
          escape(scopeLabel(other.scope)),
          other.pct.toFixed(0),
        )
      : vscode.l10n.t('the workspace: {0} at {1}%', label, pct);
  }
  return other
    ? vscode.l10n.t(
        'no workspace USD cap set; tightest: {0} at {1}%',
        escape(scopeLabel(other.scope)),
        other.pct.toFixed(0),
      )
    : vscode.l10n.t('no workspace USD cap set');
}

/** The team ledger in the tooltip: who this window debits as, and whether the ledger answers. */
function teamLines(workspace: Workspace): string[] {
  const team = workspace.team;
  if (!team)
    return setsTeamCaps(workspace.policy)
      ? [
          '',
          `**${vscode.l10n.t('Team ledger')}** — ${vscode.l10n.t('not set: the team caps in budget.json are ignored in this window.')} [${vscode.l10n.t('Set Team Database…')}](command:${Commands.setTeamDatabase})`,
        ]
      : [];
  const as = team.tier
    ? vscode.l10n.t('as {0} (tier {1})', escape(team.member), escape(team.tier))
    : vscode.l10n.t('as {0}', escape(team.member));
  const lines = ['', `**${vscode.l10n.t('Team ledger')}** — ${as}`];
  if (team.offlineLine) lines.push('', `$(warning) ${escape(team.offlineLine)}`);
  else if (team.problem) lines.push('', `$(error) ${escape(team.problem)}`);
  else if (!team.latest) lines.push('', vscode.l10n.t('reading the team ledger…'));
  return lines;
}

function scopeTable(scopes: Array<ScopeStatus>, now: number): string[] {
  if (scopes.length === 0) return [vscode.l10n.t('No USD caps are set (`limits.workspace` in budget.json).')];
  // The column names only; the fifth column (the percentage) has none.
  const [scope, spent, held, limit, resets] = [
    vscode.l10n.t('scope'),
    vscode.l10n.t('spent'),
    vscode.l10n.t('held'),
    vscode.l10n.t('limit'),
    vscode.l10n.t('resets'),
  ];
  const rows = [`| ${scope} | ${spent} | ${held} | ${limit} | | ${resets} |`, '|:--|--:|--:|--:|--:|:--|'];
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
