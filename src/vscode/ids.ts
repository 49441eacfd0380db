/** Every identifier the extension shares with package.json: commands, views, settings, context keys. */
export const EXTENSION_ID = 'agent-budget.agent-budget';

export const Commands = {
  setApiKey: 'agentBudget.setApiKey',
  clearApiKey: 'agentBudget.clearApiKey',
  /** The team ledger's connection string, in SecretStorage (teamDatabase.ts). */
  setTeamDatabase: 'agentBudget.setTeamDatabase',
  runWorkflow: 'agentBudget.runWorkflow',
  reviewFile: 'agentBudget.reviewFile',
  explainSelection: 'agentBudget.explainSelection',
  generateTests: 'agentBudget.generateTests',
  draftRequirements: 'agentBudget.draftRequirements',
  research: 'agentBudget.research',
  resumeRun: 'agentBudget.resumeRun',
  cancelRun: 'agentBudget.cancelRun',
  openRunOutput: 'agentBudget.openRunOutput',
  revealRunInPanel: 'agentBudget.revealRunInPanel',
  refreshRuns: 'agentBudget.refreshRuns',
  openPanel: 'agentBudget.openPanel',
  editPolicy: 'agentBudget.editPolicy',
  /** The user's own policy (user.json), and the consent to what a folder's budget.json loosens (policyConsent.ts). */
  editUserPolicy: 'agentBudget.editUserPolicy',
  reviewPolicyConsent: 'agentBudget.reviewPolicyConsent',
  editWorkflow: 'agentBudget.editWorkflow',
  /** The reports engineer's export command (src/vscode/reports.ts); the panel calls it when it is registered. */
  exportSpend: 'agentBudget.exportSpend',
  /** Reports (src/vscode/reports.ts). */
  showMonthlyReport: 'agentBudget.showMonthlyReport',
  estimateWorkflowCost: 'agentBudget.estimateWorkflowCost',
  markRunResult: 'agentBudget.markRunResult',
  /** Writes an experiment's winning variant into the workflow's routing (src/vscode/promoteVariant.ts). */
  promoteVariant: 'agentBudget.promoteVariant',
  /** The budget proxy (src/vscode/budgetProxy.ts). */
  startProxy: 'agentBudget.startProxy',
  stopProxy: 'agentBudget.stopProxy',
} as const;

/**
 * The built-in workflows that have their own palette command, by command id. Each has a twin (`replacedCommand`,
 * titled "… (workspace's <id>.json)" in package.json) that menus and the palette show instead while a workspace
 * file replaces the built-in (context key `replacedKey`): a title cannot change at run time, so the label does by
 * swapping commands.
 */
export const WorkflowCommands: ReadonlyArray<{
  command: string;
  workflow: string;
  input: 'file' | 'selection' | 'prompt';
  replacedCommand: string;
  replacedKey: string;
}> = [
  { command: Commands.reviewFile, workflow: 'code-review', input: 'file' },
  { command: Commands.explainSelection, workflow: 'explain', input: 'selection' },
  { command: Commands.generateTests, workflow: 'test-gen', input: 'file' },
  { command: Commands.draftRequirements, workflow: 'draft-requirements', input: 'file' },
  { command: Commands.research, workflow: 'research', input: 'prompt' },
].map((w) => ({
  ...w,
  input: w.input as 'file' | 'selection' | 'prompt',
  replacedCommand: `${w.command}.workspace`,
  replacedKey: `${w.command}.replaced`,
}));

export const Views = {
  container: 'agentBudget',
  runs: 'agentBudget.runs',
} as const;

/** The budget panel's webview type (also the serializer's key in package.json `onWebviewPanel:`). */
export const PANEL_VIEW_TYPE = 'agentBudget.panel';

/** The run view's webview type (the serializer's key in package.json `onWebviewPanel:`). */
export const RUN_VIEW_TYPE = 'agentBudget.run';

/** The status-bar meter's id (persisted visibility) and name (what the status bar's context menu lists). */
export const METER_ID = 'agentBudget.meter';
export const METER_NAME = 'Agent Budget';

/** Setting keys under `agentBudget.` (read them through settings.ts, never directly). */
export const SettingKeys = {
  section: 'agentBudget',
  baseUrl: (provider: string) => `${provider}.baseUrl`,
  openaiApi: 'openai.api',
  revealOutput: 'runs.revealOutput',
  proxyAutoStart: 'proxy.autoStart',
  proxyPort: 'proxy.port',
  askAboveUsd: 'runs.askAboveUsd',
} as const;

/** `when`-clause context keys the extension sets. */
export const ContextKeys = {
  /** A run is active in this window. */
  running: 'agentBudget.running',
  /** The workspace store is open (spend can be shown). */
  ready: 'agentBudget.ready',
  /** The budget proxy is serving in this window. */
  proxyRunning: 'agentBudget.proxyRunning',
} as const;

/** Tree item context values (`viewItem` in package.json menus): one per status group, completed runs apart. */
export const RunContext = {
  running: 'run.running',
  resumable: 'run.resumable',
  /** Finished and completed: the only runs with a result to mark. */
  completed: 'run.completed',
  /** Finished otherwise (cancelled). */
  finished: 'run.finished',
  group: 'group',
  /** A step or sub-agent under its run (no menu of its own: its run's apply). */
  task: 'task',
} as const;

/** Keys of the extension's globalState (this machine's, never the workspace's). */
export const StateKeys = {
  /** Folder → the answer to what its budget.json loosens, per content hash (policyConsent.ts). */
  policyConsent: 'agentBudget.policyConsent',
  /** Workflow files already announced as replacing a built-in, by content hash (workflowOverrides.ts). */
  workflowNotices: 'agentBudget.workflowNotices',
} as const;

export const SecretKeys = {
  apiKey: (provider: string) => `agentBudget.apiKey.${provider}`,
  /** The team ledger's PostgreSQL connection string (teamDatabase.ts): the user's, for every workspace. */
  teamDatabase: 'agentBudget.teamDatabaseUrl',
  /**
   * The budget proxy's own client token (`vscode`) for one workspace store (by a hash of its folder): its terminals'
   * key; the store's tokens file keeps only its hash.
   */
  proxyToken: (store: string) => `agentBudget.proxyToken.${store}`,
} as const;

/** The virtual-document scheme of approval diffs. */
export const URI_SCHEME = 'agent-budget';
