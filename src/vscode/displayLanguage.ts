import * as l10n from '@vscode/l10n';
import * as vscode from 'vscode';

/**
 * Hands the bundle VS Code loaded for the display language (`l10n/bundle.l10n.<lang>.json`) to @vscode/l10n, which
 * the plain-TypeScript modules of src/vscode translate with (runNotice.ts, budgetText.ts: no vscode import, so
 * unit-testable). Both read the same bundle, made by `npm run l10n`. Without it those modules speak English. Called
 * before anything shows their words; again is harmless.
 */
export function shareDisplayLanguage(): void {
  // undefined in English (no bundle to load): l10n.t then returns the message itself.
  const bundle = vscode.l10n.bundle;
  if (bundle) l10n.config({ contents: bundle });
}
