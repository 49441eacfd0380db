import * as vscode from 'vscode';
import type { Workspace } from '../core/workspace';
import { ApiKeys } from './apiKeys';
import { ApprovalPrompts } from './approvals';
import { BlockedRuns } from './blockedRuns';
import { BudgetMeter } from './budgetMeter';
import { HookPrompts } from './budgetHooks';
import { BudgetPanel } from './budgetPanel';
import { BudgetProxy } from './budgetProxy';
import { shareDisplayLanguage } from './displayLanguage';
import { Disposable } from './dispose';
import { ConsentMemory, PolicyConsent } from './policyConsent';
import { PolicyFiles } from './policyFiles';
import { showStalePriceNotice } from './priceNotice';
import { PromoteVariant } from './promoteVariant';
import { VsCodeProviderAccess } from './providerAccess';
import { ReportCommands } from './reports';
import { RunCommands } from './runCommands';
import { createRunner } from './runnerFactory';
import { RunSessions } from './runSessions';
import { RunsTree } from './runsTree';
import { RunViews } from './runView';
import { Settings } from './settings';
import { TeamDatabase } from './teamDatabase';
import { WorkflowOverrides } from './workflowOverrides';
import { WorkspaceHost } from './workspaceHost';

/** What `activate` returns: the live parts, for the integration tests and for other extensions. */
export interface AgentBudgetApi {
  readonly apiKeys: ApiKeys;
  readonly settings: Settings;
  /** The team ledger's connection string (SecretStorage, *Set Team Database…*). */
  readonly teamDatabase: TeamDatabase;
  /** The core workspace (store, policy, engine) once open. */
  readonly workspace: WorkspaceHost;
  readonly policyFiles: PolicyFiles;
  /** What the user allowed budget.json to loosen, per folder and content (and the modal that asks). */
  readonly policyConsent: PolicyConsent;
  /** Built-in workflows the workspace's files replace (labels, notices). */
  readonly workflowOverrides: WorkflowOverrides;
  readonly meter: BudgetMeter;
  readonly panel: BudgetPanel;
  /** The budget proxy (Start/Stop Budget Proxy). */
  readonly proxy: BudgetProxy;
  readonly runsTree: RunsTree;
  readonly runs: RunSessions;
  /** The run views (one tab per run). */
  readonly runViews: RunViews;
  readonly approvals: ApprovalPrompts;
  /** How long `activate()` took, and how long opening the store took after it (ms). */
  readonly timings: { activateMs: number; storeOpenMs(): number | undefined };
}

/** The composition root: each feature registers its own commands and views; this only wires them together. */
class AgentBudgetExtension extends Disposable implements AgentBudgetApi {
  readonly log = this.register(vscode.window.createOutputChannel('Agent Budget', { log: true }));
  readonly apiKeys: ApiKeys;
  readonly settings: Settings;
  readonly teamDatabase: TeamDatabase;
  readonly workspace: WorkspaceHost;
  readonly policyFiles: PolicyFiles;
  readonly policyConsent: PolicyConsent;
  readonly workflowOverrides: WorkflowOverrides;
  readonly approvals: ApprovalPrompts;
  readonly runs: RunSessions;
  readonly proxy: BudgetProxy;
  readonly runViews: RunViews;
  readonly meter: BudgetMeter;
  readonly runsTree: RunsTree;
  readonly panel: BudgetPanel;
  readonly timings: AgentBudgetApi['timings'];

  constructor(context: vscode.ExtensionContext, started: number) {
    super();
    this.apiKeys = this.register(new ApiKeys(context.secrets));
    this.settings = this.register(new Settings(this.log));
    // Consent is this machine's (globalState), read while the policy loads; the modal asks once the store is open.
    const consentMemory = new ConsentMemory(context.globalState);
    this.teamDatabase = this.register(new TeamDatabase(context.secrets));
    this.workspace = this.register(
      new WorkspaceHost(this.log, (request) => consentMemory.allows(request), this.teamDatabase),
    );
    this.policyFiles = this.register(new PolicyFiles(this.workspace));
    this.workflowOverrides = this.register(
      new WorkflowOverrides(this.workspace, this.policyFiles, context.globalState),
    );
    this.approvals = this.register(new ApprovalPrompts());
    const providers = new VsCodeProviderAccess(this.apiKeys, this.settings, () => this.workspace.current);
    this.runs = this.register(
      new RunSessions(
        this.workspace,
        this.settings,
        (workspace: Workspace) => createRunner({ workspace, providers, approver: this.approvals }),
        async (provider) => (await this.apiKeys.get(provider)) !== undefined,
      ),
    );
    this.policyConsent = this.register(new PolicyConsent(consentMemory, this.workspace, this.policyFiles, this.runs));
    this.proxy = this.register(new BudgetProxy(context, this.workspace, this.apiKeys, this.settings, this.log));
    this.meter = this.register(new BudgetMeter(this.workspace, this.runs, this.proxy));
    this.runViews = this.register(
      new RunViews(context.extensionUri, this.workspace, this.runs, this.settings, this.approvals, this.log),
    );
    this.runsTree = this.register(new RunsTree(this.workspace, this.runs));
    this.panel = this.register(new BudgetPanel(context.extensionUri, this.workspace, this.runs, this.log));
    this.register(new RunCommands(this.workspace, this.runs, this.runViews));
    this.register(new BlockedRuns(this.workspace, this.policyFiles.onDidChange));
    this.register(new PromoteVariant(this.workspace));
    const reports = this.register(
      new ReportCommands(
        () => this.workspace.current,
        (line) => this.log.warn(line),
        async () => (await this.runs.runner()).listWorkflows(),
      ),
    );
    this.workspace.whenOpen((workspace) => reports.attachAlerts(workspace));
    const hooks = this.register(new HookPrompts((line) => this.log.warn(line)));
    this.workspace.whenOpen((workspace) => hooks.attach(workspace));
    this.workspace.whenOpen(() => void showStalePriceNotice(context.globalState));
    const activateMs = performance.now() - started;
    this.timings = { activateMs, storeOpenMs: () => this.workspace.openMs };
    this.log.info(`Activated in ${activateMs.toFixed(1)} ms; the store opens after activation.`);
  }

  async close(): Promise<void> {
    this.dispose();
    // Flush and release the store's locks before the host exits (dispose alone cannot wait); the proxy's calls cut
    // by the dispose were queued ahead of the store's close.
    await this.proxy.closing;
    await this.workspace.closing;
  }
}

let extension: AgentBudgetExtension | undefined;

export function activate(context: vscode.ExtensionContext): AgentBudgetApi {
  const started = performance.now();
  // Before anything shows the plain modules' words (runNotice.ts, budgetText.ts translate through @vscode/l10n).
  shareDisplayLanguage();
  extension = new AgentBudgetExtension(context, started);
  context.subscriptions.push(extension);
  return extension;
}

export async function deactivate(): Promise<void> {
  await extension?.close();
  extension = undefined;
}
