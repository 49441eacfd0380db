// How budget scopes and amounts read in the meter, the tooltip, the runs view and the panel's host side.
// Plain functions (no vscode import), so the wording is one place and testable anywhere. Translated with
// @vscode/l10n, which the extension hands VS Code's bundle at activation (displayLanguage.ts); English without it.
import * as l10n from '@vscode/l10n';
import type { BudgetLevel } from '../core/budget/engine';
import { formatUsd } from '../core/money';

export interface ScopeStatus {
  scope: string;
  used: number;
  reserved: number;
  limit: number | undefined;
  pct: number;
  level: BudgetLevel;
  resetsAt?: number;
}

const PERIODS = ['daily', 'weekly', 'monthly'] as const;
type Period = (typeof PERIODS)[number];

function periodOf(scope: string): { period: Period; dot: number } | undefined {
  const dot = scope.lastIndexOf('.');
  const period = scope.slice(dot + 1);
  return (PERIODS as readonly string[]).includes(period) ? { period: period as Period, dot } : undefined;
}

/** `workspace.daily` → "today"; `workflow.code-review.monthly` → "code-review this month". */
export function scopeLabel(scope: string): string {
  const known = periodOf(scope);
  if (!known) return scope;
  // Each phrase whole, so a translation can put the workflow where its language wants it.
  if (scope.startsWith('workspace.'))
    return { daily: l10n.t('today'), weekly: l10n.t('this week'), monthly: l10n.t('this month') }[known.period];
  if (scope.startsWith('team.member.'))
    return {
      daily: l10n.t('your team cap today'),
      weekly: l10n.t('your team cap this week'),
      monthly: l10n.t('your team cap this month'),
    }[known.period];
  if (scope.startsWith('team.'))
    return { daily: l10n.t('team today'), weekly: l10n.t('team this week'), monthly: l10n.t('team this month') }[
      known.period
    ];
  if (scope.startsWith('workflow.')) {
    const workflow = scope.slice('workflow.'.length, known.dot);
    return {
      daily: l10n.t('{0} today', workflow),
      weekly: l10n.t('{0} this week', workflow),
      monthly: l10n.t('{0} this month', workflow),
    }[known.period];
  }
  return scope;
}

/**
 * The cap of a scope as a noun phrase for a sentence: `workspace.weekly` → "the workspace weekly cap";
 * `workflow.code-review.monthly` → "code-review's monthly cap". (scopeLabel's "this week" reads as a time, not a cap.)
 */
export function capName(scope: string): string {
  const known = periodOf(scope);
  if (known && scope === `workspace.${known.period}`)
    return {
      daily: l10n.t('the workspace daily cap'),
      weekly: l10n.t('the workspace weekly cap'),
      monthly: l10n.t('the workspace monthly cap'),
    }[known.period];
  if (known && scope.startsWith('workflow.') && known.dot > 'workflow.'.length) {
    const workflow = scope.slice('workflow.'.length, known.dot);
    return {
      daily: l10n.t("{0}'s daily cap", workflow),
      weekly: l10n.t("{0}'s weekly cap", workflow),
      monthly: l10n.t("{0}'s monthly cap", workflow),
    }[known.period];
  }
  return l10n.t('the {0} cap', scope);
}

/** The scope the meter shows: the highest percentage; on a tie the shorter period (it resets first). */
export function tightestScope<T extends ScopeStatus>(scopes: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const s of scopes) {
    if (
      !best ||
      s.pct > best.pct + 1e-9 ||
      (Math.abs(s.pct - best.pct) <= 1e-9 && (s.resetsAt ?? Infinity) < (best.resetsAt ?? Infinity))
    )
      best = s;
  }
  return best;
}

/**
 * The meter's one primary scope: the workspace's tightest period cap (daily, weekly, monthly), so the figure does
 * not jump between workflows' caps as runs come and go; undefined when the workspace has no USD cap.
 */
export function workspaceScope<T extends ScopeStatus>(scopes: readonly T[]): T | undefined {
  return tightestScope(scopes.filter((s) => /^workspace\.(daily|weekly|monthly)$/.test(s.scope)));
}

/** The worst level of any scope: the meter's colour (its tooltip names the scope). */
export function worstLevel(scopes: readonly ScopeStatus[]): BudgetLevel {
  const order: BudgetLevel[] = ['ok', 'warn', 'critical', 'blocked'];
  return scopes.reduce<BudgetLevel>(
    (worst, s) => (order.indexOf(s.level) > order.indexOf(worst) ? s.level : worst),
    'ok',
  );
}

/**
 * The meter's figure for a scope: what is spent against the cap, and what running calls hold beside it as held,
 * never as spent: `$0.03 / $5.00 today`, `$0.03 / $5.00 today · +$0.02 held`.
 */
export function meterFigure(s: ScopeStatus): string {
  const spent =
    s.limit === undefined
      ? `${formatUsd(s.used)} ${scopeLabel(s.scope)}`
      : `${formatUsd(s.used)} / ${formatUsd(s.limit)} ${scopeLabel(s.scope)}`;
  return s.reserved > 0 ? l10n.t('{0} · +{1} held', spent, formatUsd(s.reserved)) : spent;
}

/** A running run's part of the meter: its workflow and tokens so far ("~" while a reply streams), never "0 tok". */
export function runFigure(run: { workflow: string; tokens: number; estimated: boolean }): string {
  if (run.tokens <= 0) return l10n.t('{0}: starting', run.workflow);
  return run.estimated
    ? l10n.t('{0}: ~{1} tok', run.workflow, formatTokens(run.tokens))
    : l10n.t('{0}: {1} tok', run.workflow, formatTokens(run.tokens));
}

/** `$1.84 / $5.00 today` (used includes what running calls hold). */
export function scopeText(s: ScopeStatus): string {
  const used = formatUsd(s.used + s.reserved);
  return s.limit === undefined
    ? `${used} ${scopeLabel(s.scope)}`
    : `${used} / ${formatUsd(s.limit)} ${scopeLabel(s.scope)}`;
}

/** 12,345 → "12.3k"; small counts stay whole. */
export function formatTokens(n: number): string {
  if (n < 10_000) return n.toLocaleString('en-US');
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 100_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(2)}M`;
}

/** A reset time in the user's local time: "today 23:59", "Mon 24 Nov 00:00". */
export function formatLocalTime(ms: number, now = Date.now()): string {
  const d = new Date(ms);
  const time = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  const sameDay = new Date(now).toDateString() === d.toDateString();
  if (sameDay) return l10n.t('today {0}', time);
  const tomorrow = new Date(now + 86_400_000).toDateString() === d.toDateString();
  if (tomorrow) return l10n.t('tomorrow {0}', time);
  return `${d.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short' })} ${time}`;
}

/** "3 min ago", "2 h ago", or a date for older times. */
export function formatAgo(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return l10n.t('just now');
  if (s < 3600) return l10n.t('{0} min ago', Math.round(s / 60));
  if (s < 86_400) return l10n.t('{0} h ago', Math.round(s / 3600));
  return new Date(ms).toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
}

// Getters: the words are looked up when read, after activation has loaded the bundle, not when this module loads.
export const LEVEL_WORDS: Readonly<Record<BudgetLevel, string>> = {
  get ok() {
    return l10n.t('ok');
  },
  get warn() {
    return l10n.t('warning');
  },
  get critical() {
    return l10n.t('critical');
  },
  get blocked() {
    return l10n.t('blocked');
  },
};

/** The fields of a run its one-line description reads. */
export interface RunLine {
  workflow: string;
  title: string;
  costMicros: number;
  estimatedMicros: number;
  status: string;
  updatedAt: number;
}

/**
 * How runs tell apart at a glance: what they ran on, their cost ("estimated" when part of it is) and how long ago
 * (redrawn every minute): "invoice.ts · $0.0020 · 7 min ago".
 */
export function runDescription(
  run: Pick<RunLine, 'workflow' | 'title' | 'costMicros' | 'estimatedMicros' | 'status' | 'updatedAt'>,
  active: boolean,
  now = Date.now(),
): string {
  const when = run.status === 'running' || active ? l10n.t('running') : formatAgo(run.updatedAt, now);
  return [inputSummary(run), costWithEstimate(run), when].filter(Boolean).join(' · ');
}

/** The run's input in a few words: its title without the workflow's verb ("Review src/a.ts" → "a.ts"). */
export function inputSummary(run: Pick<RunLine, 'workflow' | 'title'>): string | undefined {
  if (!run.title || run.title === run.workflow) return undefined;
  const words = run.title.replace(/^(Review|Explain|Tests for|Research|Requirements from|Draft)\s+/i, '');
  const file = /^[^\s]*[\\/]([^\\/\s]+)(\s.*)?$/.exec(words);
  const short = file ? `${file[1]}${file[2] ?? ''}` : words;
  return short.length > 40 ? `${short.slice(0, 39)}…` : short;
}

export function costWithEstimate(run: Pick<RunLine, 'costMicros' | 'estimatedMicros'>): string {
  return run.estimatedMicros > 0 ? l10n.t('{0} (estimated)', formatUsd(run.costMicros)) : formatUsd(run.costMicros);
}
