import * as vscode from 'vscode';
import { describeForeignRun, type ForeignRun } from '../core/trust/resumeGuard';

export const RESUME_ANYWAY = vscode.l10n.t('Resume Anyway');

/**
 * Asked before resuming a run this install did not start (another machine, user or install wrote it): a modal
 * listing the tool calls its checkpoint ends with. Those are asked about again before they run, whatever the
 * answer here (trust/resumeGuard.ts); this question is whether to continue its conversation at all.
 */
export async function confirmForeignRun(run: ForeignRun): Promise<boolean> {
  const choice = await vscode.window.showWarningMessage(
    vscode.l10n.t('Agent Budget: resume a run that was not started here?'),
    {
      modal: true,
      detail: vscode.l10n.t(
        '{0}\n\nResume it only if you trust where it came from. Each tool call listed is shown to you again before it runs.',
        describeForeignRun(run),
      ),
    },
    RESUME_ANYWAY,
  );
  return choice === RESUME_ANYWAY;
}
