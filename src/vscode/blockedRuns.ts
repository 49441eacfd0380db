import * as vscode from 'vscode';
import type { Workspace } from '../core/workspace';
import { capName } from './budgetText';
import { Disposable } from './dispose';
import { Commands } from './ids';
import type { WorkspaceHost } from './workspaceHost';

/**
 * Runs waiting at a budget limit, offered again when budget.json changes so they can go on: a run blocked at a USD
 * cap that now has room (raised, or removed), or at a token limit (any edit of the policy may have raised it). One
 * notification per change of the policy, naming the runs; Resume resumes them.
 */
export class BlockedRuns extends Disposable {
  private readonly offeredEmitter = this.register(new vscode.EventEmitter<string[]>());
  /** The runs offered for resuming after a policy change (tests read it). */
  readonly onDidOffer = this.offeredEmitter.event;

  constructor(
    private readonly host: WorkspaceHost,
    policyChanged: vscode.Event<void>,
  ) {
    super();
    this.register(policyChanged(() => void this.offer()));
  }

  private async offer(): Promise<void> {
    const workspace = this.host.current;
    if (!workspace || workspace.policyError) return;
    const ready = readyToResume(workspace);
    if (ready.length === 0) return;
    this.offeredEmitter.fire(ready.map((r) => r.id));
    const [first] = ready;
    const message =
      ready.length > 1
        ? vscode.l10n.t(
            'Agent Budget: budget.json changed, and {0} runs paused at a budget limit can go on. Resume them?',
            ready.length,
          )
        : first!.usdCap
          ? vscode.l10n.t(
              'Agent Budget: budget.json changed, and {0} (paused at {1}) can go on. Resume it?',
              first!.workflow,
              first!.usdCap,
            )
          : vscode.l10n.t(
              'Agent Budget: budget.json changed, and {0} (paused at its {1} limit) can go on. Resume it?',
              first!.workflow,
              first!.scope,
            );
    const resume = vscode.l10n.t('Resume');
    const choice = await vscode.window.showInformationMessage(message, resume);
    if (choice !== resume) return;
    for (const run of ready) await vscode.commands.executeCommand(Commands.resumeRun, run.id);
  }
}

/** A blocked run to offer: `usdCap` names its USD cap; a token limit or a rule has only its scope. */
interface ReadyRun {
  id: string;
  workflow: string;
  scope: string;
  usdCap: string | undefined;
}

/** Blocked runs whose limit the policy in force no longer reaches. */
function readyToResume(workspace: Workspace): ReadyRun[] {
  const status = new Map(workspace.engine.status().map((s) => [s.scope, s]));
  const out: ReadyRun[] = [];
  for (const run of workspace.store.queries.listRuns({ status: ['blocked'], limit: 20 })) {
    const scope = (run.data as { blockedScope?: unknown } | null)?.blockedScope;
    if (typeof scope !== 'string') continue;
    const usd = /^(workspace|workflow)\./.test(scope);
    const now = status.get(scope);
    // A USD cap: room again (or no cap at all). A token limit or a rule: the policy changed, so try.
    if (usd && now && now.pct >= 100) continue;
    out.push({ id: run.id, workflow: run.workflow, scope, usdCap: usd ? capName(scope) : undefined });
  }
  return out;
}
