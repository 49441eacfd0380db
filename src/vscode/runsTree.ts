import * as vscode from 'vscode';
import { formatUsd } from '../core/money';
import type { RunSummary, StoreQueries } from '../core/store/queries';
import type { RunStatus } from '../core/store/records';
import { costWithEstimate, formatTokens, inputSummary, runDescription } from './budgetText';
import { Disposable } from './dispose';
import { Commands, RunContext, Views } from './ids';
import { RESUMABLE } from './panelSnapshot';
import type { WorkspaceHost } from './workspaceHost';

/** The groups of the Runs view, in order: what needs attention first. */
export const RUN_GROUPS: ReadonlyArray<{
  id: string;
  readonly label: string;
  statuses: RunStatus[];
  expanded: boolean;
  limit: number;
}> = [
  // Getters: the label is looked up when the tree draws, in the display language.
  {
    id: 'running',
    get label() {
      return vscode.l10n.t('Running');
    },
    statuses: ['running', 'pending'],
    expanded: true,
    limit: 50,
  },
  {
    id: 'resumable',
    get label() {
      return vscode.l10n.t('To resume');
    },
    statuses: ['interrupted', 'blocked', 'paused', 'failed'],
    expanded: true,
    limit: 100,
  },
  {
    id: 'finished',
    get label() {
      return vscode.l10n.t('Finished');
    },
    statuses: ['completed', 'cancelled'],
    expanded: true,
    limit: 50,
  },
];

const STATUS_ICON: Record<RunStatus, [string, string | undefined]> = {
  pending: ['clock', undefined],
  running: ['sync~spin', 'charts.blue'],
  paused: ['debug-pause', 'charts.yellow'],
  blocked: ['circle-slash', 'charts.orange'],
  interrupted: ['debug-disconnect', 'charts.yellow'],
  completed: ['pass', 'charts.green'],
  failed: ['error', 'errorForeground'],
  cancelled: ['circle-slash', 'descriptionForeground'],
};

/** A task of a run: a step, a sub-agent, or a step a sub-agent runs, with its whole tree's cost. */
export interface RunTaskNode {
  kind: 'task';
  runId: string;
  task: RunTask;
  /** Its own calls and every task's below it (a fan-out pays for its sub-agents). */
  costMicros: number;
  tokens: number;
  children: RunTaskNode[];
}

export type RunsTreeNode = { kind: 'group'; id: string } | { kind: 'run'; run: RunSummary } | RunTaskNode;

type RunTask = ReturnType<StoreQueries['tasksOfRun']>[number];

/** A run's tasks as a tree (parents before children, each list in creation order), costs summed up the tree. */
export function taskTree(runId: string, tasks: readonly RunTask[]): RunTaskNode[] {
  const nodes = new Map<string, RunTaskNode>();
  for (const task of tasks)
    nodes.set(task.id, { kind: 'task', runId, task, costMicros: task.costMicros, tokens: task.tokens, children: [] });
  const roots: RunTaskNode[] = [];
  for (const node of nodes.values()) {
    const parent = node.task.parentTaskId ? nodes.get(node.task.parentTaskId) : undefined;
    (parent ? parent.children : roots).push(node);
  }
  const total = (n: RunTaskNode): void => {
    for (const c of n.children) {
      total(c);
      n.costMicros += c.costMicros;
      n.tokens += c.tokens;
    }
  };
  roots.forEach(total);
  return roots;
}

/**
 * The run id in a command's argument: a string (the palette, the panel, a tree item's click), a Runs view node
 * (`{ run: { id } }`, what VS Code passes to a view/item/context command), or `{ runId }`.
 */
export function runIdOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (typeof arg !== 'object' || arg === null) return undefined;
  const o = arg as { runId?: unknown; run?: { id?: unknown } };
  if (typeof o.runId === 'string') return o.runId;
  if (typeof o.run === 'object' && o.run !== null && typeof o.run.id === 'string') return o.run.id;
  return undefined;
}

/**
 * The Runs view in the Agent Budget sidebar: runs grouped by status (running, then the ones to resume, then the
 * finished), each with workflow, cost and time; inline Resume / Cancel / Open output / Reveal in panel through
 * context values; a badge counting runs to resume. Refreshes when the store applies a run, task or spend record
 * (this window's or another's), so runs interrupted by a crash are there on start-up.
 */
export class RunsTree extends Disposable implements vscode.TreeDataProvider<RunsTreeNode> {
  private readonly changed = this.register(new vscode.EventEmitter<RunsTreeNode | undefined>());
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<RunsTreeNode>;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly refreshedEmitter = this.register(new vscode.EventEmitter<void>());
  /** Fires after the tree was told to refresh and the badge was updated (tests wait on it). */
  readonly onDidRefresh = this.refreshedEmitter.event;

  constructor(
    private readonly host: WorkspaceHost,
    private readonly activeRuns: { active(): readonly string[]; readonly onDidChangeActivity: vscode.Event<void> },
  ) {
    super();
    this.view = this.register(
      vscode.window.createTreeView(Views.runs, { treeDataProvider: this, showCollapseAll: false }),
    );
    this.register(vscode.commands.registerCommand(Commands.refreshRuns, () => this.refresh()));
    this.register({ dispose: () => clearTimeout(this.timer) });
    this.register(activeRuns.onDidChangeActivity(() => this.schedule()));
    // "3 min ago" moves on without any new record.
    const minute = setInterval(() => this.schedule(), 60_000);
    this.register({ dispose: () => clearInterval(minute) });
    host.whenOpen((workspace) => {
      this.register(
        workspace.store.onDidApply(({ records }) => {
          if (records.some((r) => r.k === 'run' || r.k === 'task' || r.k === 'settle' || r.k === 'ledger'))
            this.schedule();
        }),
      );
      this.refresh();
    });
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.refresh(), 250);
  }

  refresh(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const workspace = this.host.current;
    if (workspace) {
      const resumable = workspace.store.queries.countRuns([...RESUMABLE]);
      this.view.badge =
        resumable > 0
          ? {
              value: resumable,
              tooltip:
                resumable === 1 ? vscode.l10n.t('1 run to resume') : vscode.l10n.t('{0} runs to resume', resumable),
            }
          : undefined;
    }
    this.changed.fire(undefined);
    this.refreshedEmitter.fire();
  }

  getChildren(node?: RunsTreeNode): RunsTreeNode[] {
    const workspace = this.host.current;
    if (!workspace) return [];
    const q = workspace.store.queries;
    if (!node) {
      // No runs at all: no groups, so the view's welcome content shows.
      if (q.listRuns({ limit: 1 }).length === 0) return [];
      return RUN_GROUPS.filter((g) => q.listRuns({ status: g.statuses, limit: 1 }).length > 0).map((g) => ({
        kind: 'group',
        id: g.id,
      }));
    }
    if (node.kind === 'group') {
      const group = RUN_GROUPS.find((g) => g.id === node.id)!;
      return q.listRuns({ status: group.statuses, limit: group.limit }).map((run) => ({ kind: 'run', run }));
    }
    if (node.kind === 'run') return taskTree(node.run.id, q.tasksOfRun(node.run.id));
    return node.children;
  }

  getTreeItem(node: RunsTreeNode): vscode.TreeItem {
    if (node.kind === 'task') return taskItem(node);
    if (node.kind === 'group') {
      const group = RUN_GROUPS.find((g) => g.id === node.id)!;
      const item = new vscode.TreeItem(
        group.label,
        group.expanded ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed,
      );
      item.id = `group:${group.id}`;
      item.contextValue = RunContext.group;
      return item;
    }
    const run = node.run;
    const active = this.activeRuns.active().includes(run.id);
    // Expandable into its steps and sub-agents, each with its cost (a step's includes its sub-agents').
    const item = new vscode.TreeItem(run.workflow, vscode.TreeItemCollapsibleState.Collapsed);
    item.id = `run:${run.id}`;
    item.description = runDescription(run, active);
    const [icon, color] = STATUS_ICON[run.status] ?? ['circle-outline', undefined];
    item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
    item.contextValue = contextOf(run.status);
    const error = (run.data as { error?: unknown } | null)?.error;
    const md = new vscode.MarkdownString();
    md.appendMarkdown(`**${escape(run.workflow)}** — ${statusWord(run.status)}\n\n`);
    if (run.title && run.title !== run.workflow) md.appendMarkdown(`${escape(run.title)}\n\n`);
    const calls = run.calls === 1 ? vscode.l10n.t('1 call') : vscode.l10n.t('{0} calls', run.calls);
    md.appendMarkdown(
      `${costWithEstimate(run)} · ${vscode.l10n.t('{0} tokens', formatTokens(run.tokens))} · ${calls}\n\n`,
    );
    md.appendMarkdown(
      `${vscode.l10n.t('Started {0}, last change {1}', new Date(run.createdAt).toLocaleString(), new Date(run.updatedAt).toLocaleString())}\n\n`,
    );
    if (typeof error === 'string' && error) md.appendMarkdown(`$(error) ${escape(error)}\n\n`);
    md.appendMarkdown(`\`${run.id}\``);
    md.supportThemeIcons = true;
    item.tooltip = md;
    item.command = { command: Commands.openRunOutput, title: vscode.l10n.t('Open Output'), arguments: [run.id] };
    item.accessibilityInformation = {
      label: `${run.workflow}, ${inputSummary(run) ?? ''}, ${statusWord(run.status)}, ${costWithEstimate(run)}`,
    };
    return item;
  }
}

/** A step or a sub-agent: its name (a sub-agent's item), its tree's cost and tokens, its status. */
function taskItem(node: RunTaskNode): vscode.TreeItem {
  const { task } = node;
  const item = (task.data as { item?: unknown } | null)?.item;
  const label = typeof item === 'string' ? item : task.name;
  const state = node.children.length ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None;
  const tree = new vscode.TreeItem(label, state);
  tree.id = `task:${task.id}`;
  tree.description = `${formatUsd(node.costMicros)} · ${statusWord(task.status)}`;
  const [icon, color] = STATUS_ICON[task.status] ?? ['circle-outline', undefined];
  tree.iconPath = new vscode.ThemeIcon(
    node.children.length ? 'type-hierarchy-sub' : icon,
    color ? new vscode.ThemeColor(color) : undefined,
  );
  const md = new vscode.MarkdownString();
  md.appendMarkdown(`**${escape(label)}** — ${statusWord(task.status)}\n\n`);
  if (label !== task.name) md.appendMarkdown(`${vscode.l10n.t('Step {0}', `\`${escape(task.name)}\``)}\n\n`);
  md.appendMarkdown(`${formatUsd(node.costMicros)} · ${vscode.l10n.t('{0} tokens', formatTokens(node.tokens))}`);
  if (node.children.length)
    md.appendMarkdown(
      ` ${
        node.children.length === 1
          ? vscode.l10n.t('(with its 1 sub-agent or steps)')
          : vscode.l10n.t('(with its {0} sub-agents or steps)', node.children.length)
      }`,
    );
  tree.tooltip = md;
  tree.contextValue = RunContext.task;
  tree.command = { command: Commands.openRunOutput, title: vscode.l10n.t('Open Output'), arguments: [node.runId] };
  tree.accessibilityInformation = { label: `${label}, ${statusWord(task.status)}, ${formatUsd(node.costMicros)}` };
  return tree;
}

/** A run's or task's status in the display language (the store keeps the English id). */
function statusWord(status: RunStatus): string {
  switch (status) {
    case 'pending':
      return vscode.l10n.t('pending');
    case 'running':
      return vscode.l10n.t('running');
    case 'paused':
      return vscode.l10n.t('paused');
    case 'blocked':
      return vscode.l10n.t('blocked');
    case 'interrupted':
      return vscode.l10n.t('interrupted');
    case 'completed':
      return vscode.l10n.t('completed');
    case 'failed':
      return vscode.l10n.t('failed');
    case 'cancelled':
      return vscode.l10n.t('cancelled');
    default:
      return status; // a status of a newer version
  }
}

/** What the item's menus key on; only a completed run has a result to mark (Mark Run Result… refuses the others). */
function contextOf(status: RunStatus): string {
  if (status === 'running' || status === 'pending') return RunContext.running;
  if (RESUMABLE.includes(status)) return RunContext.resumable;
  return status === 'completed' ? RunContext.completed : RunContext.finished;
}

function escape(text: string): string {
  return text.replace(/[\\`*_[\]<>|]/g, '\\$&');
}
