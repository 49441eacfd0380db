// What the editor tells the user when a run cannot start or ends, and the buttons that fix it — decided by the run's
// status and the kind of error that stopped it (src/core/errors.ts), never by the wording of its message. Plain
// TypeScript (no vscode import): RunSessions shows what this returns, and the unit tests read it.
import type { ErrorKind } from '../core/errors';
import { formatUsd } from '../core/money';
import type { ProviderId } from '../core/usage';
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
export function runNotice(end: RunEnd): RunNotice {
  if ('refused' in end) {
    const { errorKind, message, provider } = end.refused;
    return {
      severity: 'error',
      message: end.workflow ? `Agent Budget: ${end.workflow} could not run: ${message}` : `Agent Budget: ${message}`,
      actions: fixes(errorKind, { provider }),
    };
  }
  const o = end.outcome;
  const cost = formatUsd(o.costMicros);
  const because = o.error ? `: ${o.error}` : '';
  const openOutput = action('Open Run', Commands.openRunOutput, o.runId);
  switch (o.status) {
    case 'completed':
      return {
        severity: 'information',
        message: `Agent Budget: ${o.workflow} completed — ${cost}.`,
        actions: [openOutput],
      };
    case 'blocked':
      return {
        severity: 'warning',
        message:
          `Agent Budget: ${o.workflow} paused at a budget limit${o.blockedScope ? ` (${o.blockedScope})` : ''}: ${o.error ?? ''} ` +
          'Raise the limit or wait for the period to reset, then resume it.',
        actions: fixes('budget', {}),
      };
    case 'cancelled':
      return { severity: 'information', message: `Agent Budget: ${o.workflow} cancelled after ${cost}.`, actions: [] };
    case 'interrupted':
    case 'paused':
      return {
        severity: 'warning',
        message: `Agent Budget: ${o.workflow} stopped (${o.status}) after ${cost}${because}. Resume it from the Runs view.`,
        actions: [action('Resume', Commands.resumeRun, o.runId)],
      };
    default:
      return {
        severity: 'error',
        message: `Agent Budget: ${o.workflow} ${o.status}${because}`,
        actions: [...(o.errorKind ? fixes(o.errorKind, { runId: o.runId }) : []), openOutput],
      };
  }
}

/** The buttons that fix a failure of `kind`: set the key, open the policy, look at the budgets, or resume. */
function fixes(kind: ErrorKind, ids: { runId?: string; provider?: ProviderId }): NoticeAction[] {
  switch (kind) {
    case 'auth':
    case 'missingKey':
      return [action('Set API Key…', Commands.setApiKey, ...(ids.provider ? [ids.provider] : []))];
    case 'config':
      return [action('Open budget.json', Commands.editPolicy)];
    case 'budget':
      return [action('Open budget.json', Commands.editPolicy), action('Open Budget Panel', Commands.openPanel)];
    case 'rateLimit':
    case 'provider':
    case 'crash':
      return ids.runId ? [action('Resume', Commands.resumeRun, ids.runId)] : [];
    default:
      return [];
  }
}

function action(title: string, command: string, ...args: unknown[]): NoticeAction {
  return { title, command, args };
}
