import * as vscode from 'vscode';
import { BudgetHooks, type HookApprover } from '../core/hooks/hooks';
import type { HookEventName } from '../core/policy/types';
import type { Workspace } from '../core/workspace';
import { Disposable } from './dispose';

/**
 * Hooks on budget events in the editor (core/hooks): one BudgetHooks per open workspace, logging to the output
 * channel, and a modal before a repository's hook command runs when the policy has runCommand under `approve` —
 * asked once per command in this window, like any command an agent would run.
 */
export class HookPrompts extends Disposable implements HookApprover {
  constructor(private readonly log: (line: string) => void) {
    super();
  }

  /** Starts the workspace's hooks; they stop with the returned disposable (or this feature). */
  attach(workspace: Workspace): vscode.Disposable {
    const hooks = new BudgetHooks(workspace, { approver: this, log: this.log });
    return this.register({ dispose: () => hooks.dispose() });
  }

  async approve(request: { event: HookEventName; command: string }): Promise<boolean> {
    const run = vscode.l10n.t('Run Hook');
    const answer = await vscode.window.showWarningMessage(
      vscode.l10n.t(
        'The budget policy of this folder (.agent-budget/budget.json) runs a command on {0}.',
        request.event,
      ),
      {
        modal: true,
        detail: `${request.command}\n\n${vscode.l10n.t('It gets the budget event as JSON on its input (no keys or prompts). Its result never changes a budget decision. Your answer holds until the window reloads.')}`,
      },
      run,
    );
    return answer === run;
  }
}
