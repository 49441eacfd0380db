import * as vscode from 'vscode';
import { stalePriceNotice } from '../core/pricing/table';
import { Commands } from './ids';

/** Where the month of the last notice is kept: the user's global state, so one notice a month across workspaces. */
export const PRICE_NOTICE_KEY = 'agentBudget.priceTableNotice';

/**
 * Tells the user, at most once a month, that the built-in price table is over 60 days old and how to set a price
 * themselves (the same words as the CLI's, from core). Not awaited by activation.
 */
export async function showStalePriceNotice(memento: vscode.Memento, now = Date.now()): Promise<void> {
  const notice = stalePriceNotice(now, memento.get<string>(PRICE_NOTICE_KEY));
  if (!notice) return;
  await memento.update(PRICE_NOTICE_KEY, notice.month);
  // The notice's words are core's (shared with the CLI), so not translated here.
  const choice = await vscode.window.showWarningMessage(
    vscode.l10n.t('Agent Budget: {0}', notice.message),
    vscode.l10n.t('Edit Budget Policy'),
  );
  if (choice) await vscode.commands.executeCommand(Commands.editPolicy);
}
