import { createWriteStream } from 'node:fs';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { finished } from 'node:stream/promises';
import path from 'node:path';
import * as vscode from 'vscode';
import { PolicyError } from '../core/policy/issues';
import { loadInventory } from '../core/policy/inventory';
import { dayKey, periodWindow } from '../core/policy/periods';
import { AlertNotifier } from '../core/report/alerts';
import { daysToMs, isDayKey, monthTitle, type Days } from '../core/report/days';
import { estimateInventory } from '../core/report/estimate';
import { exportLedger, type ExportFormat } from '../core/report/export';
import { renderEstimateMarkdown, renderReportMarkdown } from '../core/report/render';
import { buildReport, type ReportPeriod } from '../core/report/report';
import type { RunResult } from '../core/store/records';
import { DEFAULT_MODELS } from '../core/runner/builtins';
import { STATE_DIR, type Workspace } from '../core/workspace';
import type { WorkflowDefinition } from '../core/policy/workflowTypes';
import { RANGES, type RangeId } from '../webview/protocol';
import { Disposable } from './dispose';
import { Commands } from './ids';
import { rangeDays } from './panelSnapshot';
import { inventoryTemplate } from './inventoryTemplate';
import { runIdOf } from './runsTree';

/** Read-only documents of rendered reports (no "save changes?" on close; Save As still works). */
/** The inventory "Estimate Workflow Cost…" makes from the workspace, in `.agent-budget/`. */
const INVENTORY_FILE = 'inventory.json';

/** Where an export is offered: Downloads when there is one, else the home folder. */
function exportFolder(): string {
  const downloads = path.join(os.homedir(), 'Downloads');
  return existsSync(downloads) ? downloads : os.homedir();
}

const REPORT_SCHEME = 'agent-budget-report';

/** What the panel passes to the export command: a format, and its range id (see webview/protocol.ts RangeId). */
interface ExportArgs {
  format?: 'csv' | 'json' | 'jsonl';
  range?: string;
}

/**
 * The reports feature in VS Code: "Show Monthly Report", "Estimate Workflow Cost…", "Export Spend…" and "Mark Run
 * Result…". Everything is computed by src/core/report (the same code as `agent-budget report/estimate/export/mark`);
 * this class only asks questions (quick picks, dialogs) and shows the result. Reports open as Markdown in an editor
 * tab with its preview beside.
 */
export class ReportCommands extends Disposable {
  private readonly documents = new Map<string, string>();
  private readonly changed = this.register(new vscode.EventEmitter<vscode.Uri>());
  private serial = 0;

  constructor(
    private readonly workspace: () => Workspace | undefined,
    private readonly log: (line: string) => void = () => undefined,
    /** The workflows runs can use (the runner's catalog), for the inventory made from this workspace. */
    private readonly workflows?: () => Promise<{ workflows: WorkflowDefinition[] }>,
  ) {
    super();
    this.register(
      vscode.workspace.registerTextDocumentContentProvider(REPORT_SCHEME, {
        onDidChange: this.changed.event,
        provideTextDocumentContent: (uri) => this.documents.get(uri.toString()) ?? '',
      }),
    );
    // A report's text is kept while its document is open (the preview re-reads it), and dropped when it closes.
    this.register(vscode.workspace.onDidCloseTextDocument((doc) => this.documents.delete(doc.uri.toString())));
    this.register(
      vscode.commands.registerCommand(Commands.showMonthlyReport, (month?: unknown) =>
        this.guard(() => this.showReport(month)),
      ),
    );
    this.register(
      vscode.commands.registerCommand(Commands.estimateWorkflowCost, (file?: unknown) =>
        this.guard(() => this.estimate(file)),
      ),
    );
    this.register(
      vscode.commands.registerCommand(Commands.exportSpend, (args?: unknown) =>
        this.guard(() => this.exportSpend(args)),
      ),
    );
    this.register(
      vscode.commands.registerCommand(Commands.markRunResult, (arg?: unknown) => this.guard(() => this.markRun(arg))),
    );
  }

  /**
   * Sends this workspace's budget alerts to `alerts.webhookUrl` (when set) for as long as the returned disposable
   * lives. The composition root calls it once the workspace is open; notifications in the window are the meter's.
   */
  attachAlerts(workspace: Workspace): vscode.Disposable {
    const notifier = new AlertNotifier(workspace, { log: this.log });
    return this.register({ dispose: () => notifier.dispose() });
  }

  private async guard(action: () => Promise<void>): Promise<void> {
    try {
      await action();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.log(`Agent Budget: ${message}`);
      void vscode.window.showErrorMessage(vscode.l10n.t('Agent Budget: {0}', message));
    }
  }

  private requireWorkspace(): Workspace {
    const ws = this.workspace();
    if (!ws) throw new Error(vscode.l10n.t('the workspace store is not open yet (open a folder, or wait a moment).'));
    return ws;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Monthly report

  private async showReport(arg: unknown): Promise<void> {
    const ws = this.requireWorkspace();
    const period = typeof arg === 'string' && /^\d{4}-\d{2}$/.test(arg) ? { month: arg } : await this.pickPeriod(ws);
    if (!period) return;
    const report = buildReport(ws, period);
    const name =
      'month' in period
        ? vscode.l10n.t('Agent Budget report {0}.md', period.month)
        : vscode.l10n.t('Agent Budget report {0} to {1}.md', period.from, period.to);
    await this.openMarkdown(name, renderReportMarkdown(report));
  }

  private async pickPeriod(ws: Workspace): Promise<ReportPeriod | undefined> {
    const tz = ws.policy.timeZone;
    const now = Date.now();
    const first = ws.store.queries.spendDays()?.first;
    const items: Array<vscode.QuickPickItem & { period?: ReportPeriod }> = [];
    let win = periodWindow('monthly', now, tz);
    for (let i = 0; i < 24; i++) {
      const month = win.key;
      items.push({
        label: monthTitle(month),
        description: i === 0 ? vscode.l10n.t('this month') : month,
        period: { month },
      });
      if (!first || dayKey(win.startMs, tz) <= first) break;
      win = periodWindow('monthly', win.startMs - 1, tz);
    }
    items.push({ label: vscode.l10n.t('Date range…'), description: vscode.l10n.t('from and to dates (YYYY-MM-DD)') });
    const pick = await vscode.window.showQuickPick(items, {
      title: vscode.l10n.t('Agent Budget: Show Monthly Report'),
      placeHolder: vscode.l10n.t('Which month?'),
    });
    if (!pick) return undefined;
    if (pick.period) return pick.period;
    const range = await askRange(dayKey(now, tz));
    return range ? { from: range.fromDay, to: range.toDay } : undefined;
  }

  private async openMarkdown(name: string, text: string): Promise<void> {
    const uri = vscode.Uri.from({ scheme: REPORT_SCHEME, path: `/${name}`, query: String(++this.serial) });
    this.documents.set(uri.toString(), text);
    let doc = await vscode.workspace.openTextDocument(uri);
    if (doc.languageId !== 'markdown') doc = await vscode.languages.setTextDocumentLanguage(doc, 'markdown');
    await vscode.window.showTextDocument(doc, { preview: false });
    await vscode.commands.executeCommand('markdown.showPreviewToSide', uri);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Estimate

  private async estimate(arg: unknown): Promise<void> {
    const ws = this.requireWorkspace();
    let file = arg instanceof vscode.Uri ? arg.fsPath : typeof arg === 'string' ? arg : undefined;
    file ??= await this.pickInventory(ws);
    if (!file) return;
    try {
      const { inventory } = await loadInventory(file);
      if (ws.policyError)
        throw new Error(
          vscode.l10n.t('{0} Fix budget.json to estimate with its prices and caps.', ws.policyError.message),
        );
      const estimate = estimateInventory(inventory, ws.policy, { queries: ws.store.queries, now: Date.now() });
      await this.openMarkdown(
        vscode.l10n.t('Agent Budget estimate {0}.md', path.basename(file, path.extname(file))),
        renderEstimateMarkdown(estimate, path.basename(file)),
      );
      if (estimate.errors.length > 0)
        void vscode.window.showWarningMessage(vscode.l10n.t('Agent Budget: {0}', estimate.errors.join(' ')));
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      const open = vscode.l10n.t('Open Inventory');
      const choice = await vscode.window.showErrorMessage(vscode.l10n.t('Agent Budget: {0}', err.message), open);
      if (choice === open) await vscode.window.showTextDocument(vscode.Uri.file(file));
    }
  }

  /**
   * Which inventory to estimate: one made now from the workspace's workflows and history (written to
   * `.agent-budget/inventory.json`, opened beside to edit), an inventory already there, or a file elsewhere.
   */
  private async pickInventory(ws: Workspace): Promise<string | undefined> {
    const own = path.join(ws.folder, STATE_DIR, INVENTORY_FILE);
    type Item = vscode.QuickPickItem & { go: () => Promise<string | undefined> };
    const items: Item[] = [];
    if (existsSync(own))
      items.push({
        label: `$(file) ${STATE_DIR}/${INVENTORY_FILE}`,
        description: vscode.l10n.t('the inventory made before (edit it to change the plan)'),
        go: async () => own,
      });
    items.push(
      {
        label: `$(add) ${vscode.l10n.t('Make an inventory from this workspace')}`,
        description: existsSync(own) ? vscode.l10n.t('replaces the one above') : undefined,
        detail: vscode.l10n.t(
          "Every workflow here, with its last 30 days' runs and tokens per run (a guess to edit where it never ran).",
        ),
        go: () => this.writeInventory(ws, own),
      },
      {
        label: `$(folder-opened) ${vscode.l10n.t('Choose an inventory file…')}`,
        go: async () =>
          (
            await vscode.window.showOpenDialog({
              title: vscode.l10n.t('Agent Budget: choose a workflow inventory'),
              openLabel: vscode.l10n.t('Estimate'),
              canSelectMany: false,
              defaultUri: vscode.Uri.file(ws.folder),
              filters: { [vscode.l10n.t('Workflow inventory (JSON)')]: ['json', 'jsonc'] },
            })
          )?.[0]?.fsPath,
      },
    );
    const picked = await vscode.window.showQuickPick(items, {
      placeHolder: vscode.l10n.t('Estimate the monthly cost of which workflows?'),
      matchOnDetail: true,
    });
    return picked?.go();
  }

  private async writeInventory(ws: Workspace, file: string): Promise<string | undefined> {
    if (!this.workflows) throw new Error(vscode.l10n.t('The workflows are not available in this window.'));
    const { workflows } = await this.workflows();
    const inventory = inventoryTemplate({
      workflows,
      queries: ws.store.queries,
      now: Date.now(),
      timeZone: ws.policy.timeZone,
      defaultModel: DEFAULT_MODELS.anthropic,
    });
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify(inventory, null, 2)}\n`);
    await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: false, preserveFocus: true });
    return file;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Export

  private async exportSpend(arg: unknown): Promise<void> {
    const ws = this.requireWorkspace();
    const args: ExportArgs = typeof arg === 'object' && arg !== null ? (arg as ExportArgs) : {};
    const format = isFormat(args.format) ? args.format : await pickFormat();
    if (!format) return;
    const tz = ws.policy.timeZone;
    const today = dayKey(Date.now(), tz);
    const range = typeof args.range === 'string' ? presetRange(args.range, tz) : await pickExportRange(today, tz);
    if (range === undefined) return;
    const ext = format === 'csv' ? 'csv' : format === 'json' ? 'json' : 'jsonl';
    const suggested = range
      ? `agent-budget-ledger-${range.fromDay}-to-${range.toDay}.${ext}`
      : `agent-budget-ledger.${ext}`;
    const target = await vscode.window.showSaveDialog({
      title: vscode.l10n.t('Agent Budget: export spend'),
      saveLabel: vscode.l10n.t('Export'),
      // Outside the workspace: an export is for someone else (finance), not a file to commit by mistake.
      defaultUri: vscode.Uri.file(path.join(exportFolder(), suggested)),
      filters:
        format === 'csv'
          ? { CSV: ['csv'] }
          : format === 'json'
            ? { JSON: ['json'] }
            : { [vscode.l10n.t('JSON lines')]: ['jsonl', 'ndjson'] },
    });
    if (!target) return;
    const { fromMs, toMs } = range ? daysToMs(range, tz) : { fromMs: 0, toMs: Number.MAX_SAFE_INTEGER };
    const total = ws.store.queries.ledgerCountBetween(fromMs, toMs);
    const file = target.fsPath;
    const partial = `${file}.partial`;
    const rows = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: vscode.l10n.t('Exporting {0} ledger rows', total.toLocaleString()),
        cancellable: true,
      },
      async (progress, token) => {
        const abort = new AbortController();
        const sub = token.onCancellationRequested(() => abort.abort());
        const out = createWriteStream(partial);
        let reported = 0;
        try {
          const result = await exportLedger(ws.store.queries, out, {
            fromMs,
            toMs,
            format,
            timeZone: tz,
            signal: abort.signal,
            onProgress: (n) => {
              if (total > 0)
                progress.report({
                  increment: ((n - reported) / total) * 100,
                  message: vscode.l10n.t('{0} rows', n.toLocaleString()),
                });
              reported = n;
            },
          });
          out.end();
          await finished(out);
          await rename(partial, file);
          return result.rows;
        } catch (err) {
          out.destroy();
          await rm(partial, { force: true });
          if (abort.signal.aborted) return undefined;
          throw err;
        } finally {
          sub.dispose();
        }
      },
    );
    if (rows === undefined) return;
    const open = vscode.l10n.t('Open');
    const reveal = vscode.l10n.t('Reveal in File Explorer');
    // Not awaited: the export is done when the file is written, not when this notification is dismissed (the panel's
    // Export button waits on this command).
    void vscode.window.showInformationMessage(exportedMessage(rows, range, file), open, reveal).then(async (choice) => {
      if (choice === open) await vscode.commands.executeCommand('vscode.open', target);
      if (choice === reveal) await vscode.commands.executeCommand('revealFileInOS', target);
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Mark a run's result

  private async markRun(arg: unknown): Promise<void> {
    const ws = this.requireWorkspace();
    const q = ws.store.queries;
    let runId = runIdOf(arg);
    if (!runId) {
      const runs = q.listRuns({ status: ['completed'], limit: 50 });
      if (runs.length === 0) {
        void vscode.window.showInformationMessage(vscode.l10n.t('Agent Budget: no completed run to mark yet.'));
        return;
      }
      const pick = await vscode.window.showQuickPick(
        runs.map((r) => {
          const mark = q.runResult(r.id)?.result;
          return {
            label: r.title || r.workflow,
            description: `${r.workflow}${r.variant ? ` · ${r.variant}` : ''}${mark ? ` · ${mark}` : ''}`,
            detail: `${new Date(r.createdAt).toLocaleString()} · ${r.id}`,
            runId: r.id,
          };
        }),
        {
          title: vscode.l10n.t('Agent Budget: Mark Run Result'),
          placeHolder: vscode.l10n.t('Which run?'),
          matchOnDescription: true,
          matchOnDetail: true,
        },
      );
      runId = pick?.runId;
    }
    if (!runId) return;
    const run = q.getRun(runId);
    if (!run) throw new Error(vscode.l10n.t('no run {0} in this workspace.', runId));
    if (run.status !== 'completed')
      throw new Error(
        vscode.l10n.t('run {0} is {1}: only a completed run has a result to accept or reject.', run.id, run.status),
      );
    const choice = await vscode.window.showQuickPick(
      [
        {
          label: `$(check) ${vscode.l10n.t('Accepted')}`,
          description: vscode.l10n.t('the result was used'),
          result: 'accepted' as RunResult,
        },
        {
          label: `$(close) ${vscode.l10n.t('Rejected')}`,
          description: vscode.l10n.t('the result was not used'),
          result: 'rejected' as RunResult,
        },
      ],
      {
        title: vscode.l10n.t('Agent Budget: result of {0}', run.title || run.workflow),
        placeHolder: vscode.l10n.t('Counts toward the acceptance rate of its variant in reports'),
      },
    );
    if (!choice) return;
    await ws.store.commit([{ k: 'outcome', runId: run.id, result: choice.result, ts: Date.now() }]);
    void vscode.window.setStatusBarMessage(
      choice.result === 'accepted'
        ? vscode.l10n.t('Agent Budget: run marked accepted.')
        : vscode.l10n.t('Agent Budget: run marked rejected.'),
      3_000,
    );
  }
}

function isFormat(v: unknown): v is ExportFormat {
  return v === 'csv' || v === 'json' || v === 'jsonl';
}

async function pickFormat(): Promise<ExportFormat | undefined> {
  const pick = await vscode.window.showQuickPick(
    [
      {
        label: 'CSV',
        description: vscode.l10n.t('one row per billed call, for spreadsheets'),
        format: 'csv' as ExportFormat,
      },
      { label: 'JSON', description: vscode.l10n.t('one array of ledger entries'), format: 'json' as ExportFormat },
      {
        label: vscode.l10n.t('JSON lines'),
        description: vscode.l10n.t('one ledger entry per line, for scripts'),
        format: 'jsonl' as ExportFormat,
      },
    ],
    { title: vscode.l10n.t('Agent Budget: Export Spend'), placeHolder: vscode.l10n.t('Format') },
  );
  return pick?.format;
}

/** What an export says when done: one whole sentence per count and range (translators get no fragments). */
function exportedMessage(rows: number, range: Days | null, file: string): string {
  const count = rows.toLocaleString();
  if (range)
    return rows === 1
      ? vscode.l10n.t('Agent Budget: exported 1 ledger row from {0} to {1} to {2}.', range.fromDay, range.toDay, file)
      : vscode.l10n.t(
          'Agent Budget: exported {0} ledger rows from {1} to {2} to {3}.',
          count,
          range.fromDay,
          range.toDay,
          file,
        );
  return rows === 1
    ? vscode.l10n.t('Agent Budget: exported 1 ledger row to {0}.', file)
    : vscode.l10n.t('Agent Budget: exported {0} ledger rows to {1}.', count, file);
}

/** `null` = everything; undefined = cancelled. */
async function pickExportRange(today: string, tz: string | undefined): Promise<Days | null | undefined> {
  const pick = await vscode.window.showQuickPick(
    [
      { label: vscode.l10n.t('This month'), id: 'month' },
      { label: vscode.l10n.t('Last month'), id: 'lastMonth' },
      { label: vscode.l10n.t('Last 30 days'), id: '30d' },
      { label: vscode.l10n.t('Last 90 days'), id: '90d' },
      { label: vscode.l10n.t('Everything'), id: 'all' },
      { label: vscode.l10n.t('Date range…'), id: 'custom' },
    ],
    { title: vscode.l10n.t('Agent Budget: Export Spend'), placeHolder: vscode.l10n.t('Which days?') },
  );
  if (!pick) return undefined;
  if (pick.id === 'custom') return askRange(today);
  return presetRange(pick.id, tz);
}

/** The panel's range ids as days in the policy's zone (the panel's own reckoning); `all` or anything else: everything (null). */
function presetRange(id: string, tz: string | undefined): Days | null {
  return (RANGES as readonly string[]).includes(id) ? rangeDays(id as RangeId, Date.now(), tz) : null;
}

async function askRange(today: string): Promise<Days | undefined> {
  const validate = (v: string) => (isDayKey(v.trim()) ? undefined : vscode.l10n.t('A date as YYYY-MM-DD'));
  const from = await vscode.window.showInputBox({
    title: vscode.l10n.t('From (first day, YYYY-MM-DD)'),
    value: `${today.slice(0, 8)}01`,
    validateInput: validate,
  });
  if (!from) return undefined;
  const to = await vscode.window.showInputBox({
    title: vscode.l10n.t('To (last day, YYYY-MM-DD)'),
    value: today,
    validateInput: (v) =>
      validate(v) ?? (v.trim() < from.trim() ? vscode.l10n.t('The last day cannot be before the first') : undefined),
  });
  if (!to) return undefined;
  return { fromDay: from.trim(), toDay: to.trim() };
}
