import * as vscode from 'vscode';
import { ApiKeys } from './apiKeys';
import { Disposable } from './dispose';
import { Views } from './ids';

/** What `activate` returns: the live parts, for the integration tests and for other extensions. */
export interface AgentBudgetApi {
  readonly apiKeys: ApiKeys;
}

class AgentBudgetExtension extends Disposable implements AgentBudgetApi {
  readonly apiKeys: ApiKeys;

  constructor(context: vscode.ExtensionContext) {
    super();
    this.apiKeys = this.register(new ApiKeys(context.secrets));
    const meter = this.register(vscode.window.createStatusBarItem('agentBudget.meter', vscode.StatusBarAlignment.Right, 100));
    meter.name = 'Agent Budget';
    meter.text = '$(pulse) Agent Budget';
    meter.tooltip = 'Agent Budget: no spend recorded yet';
    meter.show();
    this.register(
      vscode.window.createTreeView(Views.runs, {
        treeDataProvider: { getTreeItem: (item: vscode.TreeItem) => item, getChildren: () => [] },
      }),
    );
  }
}

export function activate(context: vscode.ExtensionContext): AgentBudgetApi {
  const extension = new AgentBudgetExtension(context);
  context.subscriptions.push(extension);
  return extension;
}

export function deactivate(): void {}
