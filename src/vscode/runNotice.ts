// What the editor tells the user when a run cannot start or ends, and the buttons that fix it — decided by the run's
// status and the kind of error that stopped it (src/core/errors.ts), never by the wording of its message. Plain
// TypeScript (no vscode import): RunSessions shows what this returns, and the unit tests read it. Translated with
// @vscode/l10n (VS Code's bundle, handed over at activation: displayLanguage.ts); each message one whole sentence.
import * as l10n from '@vscode/l10n';
import type { ErrorKind } from '../core/errors';
import { formatUsd } from '../core/money';
import type { ProviderId } from '../core/usage';
import { capName } from './budgetText';
import { Commands } from './ids';
import type { RunOutcome } from './runnerContract';

/** A button of a notice: its title and the command it runs. */
export interface NoticeAction {
  title: string;
  command: string;
  args: unknown[];
}

export interface RunNotice {
  severity: 'information' | 'warning' | 'error';
  message: string;
  actions: NoticeAction[];
}

export type RunEnd =
  /** A run ended (completed, or stopped short with its outcome recorded). */
  | { outcome: RunOutcome }
  /** A run could not start (nothing was recorded), or starting is refused (`workflow` undefined: any run). */
  | { refused: { errorKind: ErrorKind; message: string; provider?: ProviderId }; workflow?: string };

/** The one mapping of a run's end to what the user sees and can do about it. */
export function runNotice(end: RunEnd, now = Date.now()): RunNotice {
  if ('refused' in end) {
    const { errorKind, message, provider } = end.refused;
    return {
      severity: 'error',
      message: end.workflow
        ? l10n.t('Agent Budget: {0} could not run: {1}', end.workflow, message)
        : l10n.t('Agent Budget: {0}', message),
      actions: fixes(errorKind, { provider }),
    };
  }
  const o = end.outcome;
  const cost = costText(o);
  const openOutput = action(l10n.t('Open Run'), Commands.openRunOutput, o.runId);
  const resume = action(l10n.t('Resume'), Commands.resumeRun, o.runId);
  switch (o.status) {
    case 'completed':
      return {
        severity: 'information',
        message: l10n.t('Agent Budget: {0} completed — {1}.', o.workflow, cost),
        actions: [openOutput],
      };
    case 'blocked': {
      // Said in the user's own words and clock: the cap by name, the reset in local time (the core's message has
      // the exact figures and an ISO time for logs and the CLI: it stays in the run view).
      const cap = o.blockedScope ? capName(o.blockedScope) : l10n.t('a budget limit');
      const message =
        o.resumeAfter !== undefined
          ? l10n.t(
              'Agent Budget: {0} is paused at {1} after {2}. It resets at {3}; resume it then, or raise the cap in budget.json and resume it now.',
              o.workflow,
              cap,
              cost,
              formatReset(o.resumeAfter, now),
            )
          : l10n.t(
              'Agent Budget: {0} is paused at {1} after {2}. Raise the cap in budget.json, then resume it.',
              o.workflow,
              cap,
              cost,
            );
      return { severity: 'warning', message, actions: [resume, openPolicy()] };
    }
    case 'cancelled':
      return {
        severity: 'information',
        message: l10n.t('Agent Budget: {0} cancelled after {1}.', o.workflow, cost),
        actions: [],
      };
    case 'interrupted':
    case 'paused':
      return {
        severity: 'warning',
        message: o.error
          ? l10n.t(
              'Agent Budget: {0} stopped ({1}) after {2}: {3}. Resume it from the Runs view.',
              o.workflow,
              o.status,
              cost,
              o.error,
            )
          : l10n.t(
              'Agent Budget: {0} stopped ({1}) after {2}. Resume it from the Runs view.',
              o.workflow,
              o.status,
              cost,
            ),
        actions: [resume],
      };
    default:
      return {
        severity: 'error',
        // The status word is the run's recorded status (failed…), as the Runs view shows it.
        message: o.error
          ? l10n.t('Agent Budget: {0} {1}: {2}', o.workflow, o.status, o.error)
          : l10n.t('Agent Budget: {0} {1}', o.workflow, o.status),
        actions: [...(o.errorKind ? fixes(o.errorKind, { runId: o.runId }) : []), openOutput],
      };
  }
}

/** A run's cost, "estimated" said when part of it is (a call cut short is charged an estimate). */
export function costText(o: Pick<RunOutcome, 'costMicros' | 'estimatedMicros'>): string {
  const estimated = o.estimatedMicros ?? 0;
  if (estimated <= 0) return formatUsd(o.costMicros);
  return estimated === o.costMicros
    ? l10n.t('{0} (estimated)', formatUsd(o.costMicros))
    : l10n.t('{0} ({1} of it estimated)', formatUsd(o.costMicros), formatUsd(estimated));
}

/** A reset time in the user's local time, with how far off it is: "00:00 (in 3 h)", "Mon 09:00 (in 2 days)". */
export function formatReset(at: number, now: number): string {
  const d = new Date(at);
  const time = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  const when = at - now < 86_400_000 ? time : `${d.toLocaleDateString(undefined, { weekday: 'short' })} ${time}`;
  const ms = at - now;
  if (ms <= 60_000) return l10n.t('{0} (in a minute)', when);
  const minutes = Math.round(ms / 60_000);
  if (minutes < 60) return l10n.t('{0} (in {1} min)', when, minutes);
  const hours = Math.round(ms / 3_600_000);
  if (hours < 48) return l10n.t('{0} (in {1} h)', when, hours);
  return l10n.t('{0} (in {1} days)', when, Math.round(ms / 86_400_000));
}

/** The buttons that fix a failure of `kind`: set the key, open the policy, look at the budgets, or resume. */
function fixes(kind: ErrorKind, ids: { runId?: string; provider?: ProviderId }): NoticeAction[] {
  switch (kind) {
    case 'auth':
    case 'missingKey':
      // A run that stopped on it (a later step's provider) resumes once the key is set; one that never started
      // has nothing to resume.
      return [
        action(l10n.t('Set API Key…'), Commands.setApiKey, ...(ids.provider ? [ids.provider] : [])),
        ...(ids.runId ? [action(l10n.t('Resume'), Commands.resumeRun, ids.runId)] : []),
      ];
    case 'config':
      return [openPolicy()];
    case 'budget':
      return [openPolicy(), action(l10n.t('Open Budget Panel'), Commands.openPanel)];
    case 'rateLimit':
    case 'provider':
    case 'crash':
      return ids.runId ? [action(l10n.t('Resume'), Commands.resumeRun, ids.runId)] : [];
    default:
      return [];
  }
}

function openPolicy(): NoticeAction {
  return action(l10n.t('Open budget.json'), Commands.editPolicy);
}

function action(title: string, command: string, ...args: unknown[]): NoticeAction {
  return { title, command, args };
}
