// The one contract between the budget panel's webview (src/webview/main.ts) and its host (src/vscode/budgetPanel.ts).
// Both sides import this file and nothing else of each other. Messages are discriminated unions per direction;
// the host runs `parseWebviewMessage` on everything the webview posts and acts only on what it returns
// (the webview is a browser page: treat its messages like network input). Money is integer micro-dollars.

/** The spend ranges the panel offers. */
export const RANGES = ['today', '7d', '30d', 'month', 'lastMonth', '90d'] as const;
export type RangeId = (typeof RANGES)[number];

/** The panel's tabs. */
export const TABS = ['overview', 'breakdown', 'runs', 'prices'] as const;
export type TabId = (typeof TABS)[number];

/** Dimensions of the breakdown tables. */
export const DIMENSIONS = ['workflow', 'model', 'provider', 'task', 'tool', 'client'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

export type Level = 'ok' | 'warn' | 'critical' | 'blocked';

/** What the panel persists across reloads (webview state, restored by the serializer): small on purpose. */
export interface PanelViewState {
  /** The selected spend range. */
  range: RangeId;
  /** The selected tab. */
  tab: TabId;
}

export const DEFAULT_VIEW_STATE: PanelViewState = { range: 'month', tab: 'overview' };

/** One capped budget scope as the meter sees it. */
export interface ScopeRow {
  /** Scope name, e.g. `workspace.daily`, `workflow.code-review.monthly`. */
  scope: string;
  /** Human label, e.g. "today", "code-review this month". */
  label: string;
  /** Settled spend in the current period (µ$). */
  usedMicros: number;
  /** Held by calls in flight (µ$). */
  reservedMicros: number;
  /** The cap (µ$). */
  limitMicros: number;
  /** (used + reserved) / limit × 100. */
  pct: number;
  /** ok / warn / critical / blocked. */
  level: Level;
  /** When the period resets (epoch ms). */
  resetsAt: number | null;
}

/** One row of a breakdown table. */
export interface BreakdownRow {
  /** The workflow, model, provider, task, tool or client (a budget-proxy token, or agent-budget); '' = calls without one. */
  key: string;
  /** Spend (µ$). */
  costMicros: number;
  /** Number of billed calls. */
  calls: number;
  /** Tokens of every kind. */
  tokens: number;
  /** Share of the range's total spend, 0..100. */
  share: number;
}

/** Spend of one day, for the chart. */
export interface DayPoint {
  /** `YYYY-MM-DD` in the budget's time zone. */
  day: string;
  /** Spend that day (µ$). */
  costMicros: number;
  /** Calls that day. */
  calls: number;
}

/** "At this rate the cap is reached on …" for one weekly or monthly scope. */
export interface ForecastRow {
  /** The cap as a noun phrase for a sentence, e.g. "the workspace weekly cap", "code-review's monthly cap". */
  cap: string;
  /** The cap's period: what "ends the week / the month" refers to. */
  period: 'weekly' | 'monthly';
  /** The cap (µ$). */
  limitMicros: number;
  /** Projected spend at the end of the period at the current burn rate (µ$). */
  projectedMicros: number;
  /** The day the cap is reached at that rate (`YYYY-MM-DD`), or null if not within the period. */
  reachesOn: string | null;
}

/** A run in the panel's list. */
export interface RunRow {
  /** Run id. */
  id: string;
  /** Workflow id. */
  workflow: string;
  /** Run title (input summary). */
  title: string;
  /** pending / running / paused / blocked / interrupted / completed / failed / cancelled. */
  status: string;
  /** Spend of the run (µ$). */
  costMicros: number;
  /** Tokens of the run. */
  tokens: number;
  /** The part of `costMicros` charged from an estimate (a call cut short or lost) (µ$). */
  estimatedMicros: number;
  /** Created (epoch ms). */
  createdAt: number;
  /** Last change (epoch ms). */
  updatedAt: number;
  /** Whether Resume applies (interrupted, blocked, paused, failed). */
  resumable: boolean;
  /** Whether Cancel applies (running here, or resumable). */
  cancellable: boolean;
}

/** One model's price in force today, as the Prices tab shows it. Rates are USD per million tokens, as published. */
export interface PriceRow {
  /** The model id in the price table or budget.json. */
  model: string;
  /** anthropic / openai / gemini. */
  provider: string;
  /** Input rate. */
  inputPerMTok: number;
  /** Output rate (reasoning tokens bill at it too). */
  outputPerMTok: number;
  /** Rate of prompt tokens read from the provider's cache. */
  cacheReadPerMTok: number;
  /** Rate of prompt tokens written to a 5-minute (OpenAI: 30-minute) cache. */
  cacheWrite5mPerMTok: number;
  /** Rate of prompt tokens written to a 1-hour cache. */
  cacheWrite1hPerMTok: number;
  /** Prompt tokens above which the whole call bills at the long-prompt rates, or null without such a tier. */
  aboveTokens: number | null;
  /** `table`: the built-in price list; `policy`: an entry under `prices` in budget.json. */
  origin: 'table' | 'policy';
  /** The budget.json entry replaces the built-in price of the same model. */
  replacesBuiltIn: boolean;
  /** The rates in force are a promotion that ends on this day (`YYYY-MM-DD`, UTC), or null. */
  promotionUntil: string | null;
  /** The next day the built-in rates change (`YYYY-MM-DD`, UTC), or null. */
  nextChange: string | null;
  /** Where the rates were read: the provider's page, or the budget.json entry. */
  source: string;
  /** When the built-in rates were checked against the source (`YYYY-MM-DD`), or null for budget.json. */
  asOf: string | null;
}

/** A 95 % interval: the estimate and its bounds (a rate in [0, 1], or µ$). */
export interface IntervalView {
  estimate: number;
  low: number;
  high: number;
}

/** One variant of an experiment, as the panel shows it. */
export interface ExperimentArmRow {
  /** Its index in the experiment's `variants`. */
  arm: number;
  /** `model @ promptVersion`. */
  label: string;
  /** Percent of runs it gets. */
  sharePct: number;
  /** Runs assigned to it. */
  runs: number;
  /** Runs completed or failed. */
  finished: number;
  /** Runs marked accepted or rejected. */
  marked: number;
  /** µ$ per finished run (Student t), or null with fewer than two. */
  costPerRun: IntervalView | null;
  /** Failed ÷ finished (Wilson), or null. */
  failureRate: IntervalView | null;
  /** Accepted ÷ marked (Wilson), or null. */
  acceptance: IntervalView | null;
}

/** An experiment of the policy, with its winner once the intervals separate. */
export interface ExperimentRow {
  /** The workflow id. */
  workflow: string;
  /** Runs it assigned so far. */
  assigned: number;
  /** How many it assigns in all, or null for no end. */
  until: number | null;
  arms: ExperimentArmRow[];
  /** The winning variant and the measure it won on, or null while the intervals overlap. */
  winner: { arm: number; on: 'acceptance' | 'failures' | 'cost' } | null;
}

/** Dimensions of the team's spend (the team ledger's report, as `agent-budget report --team` prints it). */
export const TEAM_DIMENSIONS = ['member', 'workflow', 'model', 'client'] as const;
export type TeamDimension = (typeof TEAM_DIMENSIONS)[number];

/** One capped team scope now: the team's (`team.daily`) or the member's own by tier (`team.member.senior.daily`). */
export interface TeamScopeRow {
  /** Scope name, e.g. `team.monthly`, `team.member.senior.daily`. */
  scope: string;
  /** Human label, e.g. "team this month", "your team cap today". */
  label: string;
  /** Settled spend of every member in the current period (µ$). */
  usedMicros: number;
  /** Held by calls in flight on every machine (µ$). */
  heldMicros: number;
  /** The cap (µ$). */
  limitMicros: number;
  /** (used + held) / limit × 100. */
  pct: number;
  level: Level;
  /** When the period resets (epoch ms; the team's zone). */
  resetsAt: number;
}

/** One row of the team's spend by member, workflow, model or client. */
export interface TeamSpendRow {
  /** The member, workflow, model or client, as the machine that spent it wrote it ('' = none). */
  key: string;
  /** Spend (µ$), `estimatedMicros` included. */
  costMicros: number;
  /** The part charged from reservations because the provider's usage never arrived (µ$). */
  estimatedMicros: number;
  calls: number;
  tokens: number;
}

/**
 * The team ledger's part of the panel (only when the workspace has one). The host reads it from the team's
 * PostgreSQL database after posting the snapshot, so it never delays the first paint: a snapshot carries the last
 * reading (or `reading`), and a `team` message the new one. Names in it come from other machines: the host runs
 * `parseTeamSection` on it before posting, and the page only ever renders it as text.
 */
export interface TeamSection {
  /** Who this window debits as. */
  member: string;
  /** The member's tier in budget.json's `team.members`, or null. */
  tier: string | null;
  /** reading: not read yet; online: read now; offline: unreachable (the allowance applies); error: refused. */
  state: 'reading' | 'online' | 'offline' | 'error';
  /** offline: the meter's line (`team ledger offline — $0.40 offline allowance left`); error: why; else null. */
  message: string | null;
  /** The capped team scopes as last read (empty before the first reading). */
  scopes: TeamScopeRow[];
  /** When `scopes` were read (epoch ms), or null. */
  scopesAt: number | null;
  /** The team's spend over the panel's range (every member), or null when it could not be read. */
  spend: {
    range: RangeId;
    /** First and last day of the range in the team's zone (`YYYY-MM-DD`). */
    fromDay: string;
    toDay: string;
    /** The team's period zone (budget.json's `timeZone`, else UTC). */
    timeZone: string;
    total: Omit<TeamSpendRow, 'key'>;
    /** Largest first, at most MAX_TEAM_ROWS each. */
    by: Record<TeamDimension, TeamSpendRow[]>;
  } | null;
}

/** Everything the panel shows, computed by the host from rollup queries only. */
export interface PanelSnapshot {
  /** When the host computed it (epoch ms). */
  generatedAt: number;
  /** The range these numbers are for. */
  range: RangeId;
  /** First day of the range (`YYYY-MM-DD`). */
  fromDay: string;
  /** Last day of the range (`YYYY-MM-DD`). */
  toDay: string;
  /** Why runs are stopped (invalid budget.json), if they are. */
  policyError: string | null;
  /** Every capped USD scope now. */
  scopes: ScopeRow[];
  /** Totals of the range. */
  totals: {
    /** Spend (µ$), `estimatedMicros` included. */
    costMicros: number;
    /** The part of that spend charged from reservations because a call's usage never arrived (µ$). */
    estimatedMicros: number;
    /** Billed calls. */
    calls: number;
    /** Tokens of every kind. */
    tokens: number;
  };
  /** Spend per day over the range (every day present, zeros included). */
  byDay: DayPoint[];
  /** Top consumers per dimension (largest first, at most 10 each). */
  breakdowns: Record<Dimension, BreakdownRow[]>;
  /** Average spend per day over the last 7 days (µ$). */
  burnPerDayMicros: number;
  /** Forecasts for every weekly and monthly cap now: the workspace's first, then each workflow's. */
  forecasts: ForecastRow[];
  /** Estimated vs actual prompt tokens, and reserved vs actual cost, over the range. */
  estimate: {
    /** Calls with a pre-call prompt estimate. */
    calls: number;
    /** The estimated prompt tokens of those calls. */
    estimatedInput: number;
    /** The prompt tokens the providers reported for them. */
    actualInput: number;
    /** Calls that held a reservation while in flight. */
    reservedCalls: number;
    /** What those calls held (µ$). */
    reservedMicros: number;
    /** What those calls cost when they settled (µ$). */
    actualMicros: number;
  };
  /** Prompt caching over the range. */
  cache: {
    /** Prompt tokens read from a provider's cache. */
    readTokens: number;
    /** Prompt tokens written to a provider's cache. */
    writeTokens: number;
    /** What the reads saved against the model's input rate (µ$). */
    savedMicros: number;
    /** What the writes cost above the input rate (µ$). */
    writePremiumMicros: number;
  };
  /** The runs started in the range, resumable ones first. */
  runs: RunRow[];
  /** The policy's experiments, over all the runs each assigned. */
  experiments: ExperimentRow[];
  /** The team ledger's scopes and spend, or null when the workspace has no team ledger. */
  team: TeamSection | null;
  /** The price table in force today (UTC) with budget.json's overrides. */
  prices: {
    /** The day the rates are in force (`YYYY-MM-DD`, UTC). */
    day: string;
    /** When the built-in table was last checked against its sources (`YYYY-MM-DD`). */
    tableDate: string;
    /** The built-in table is older than 60 days: prices may have moved since. */
    stale: boolean;
    /** Every priced model, by provider. */
    rows: PriceRow[];
  };
  /** Whether runs can start here (trusted workspace, valid policy). */
  canRun: boolean;
  /** Whether the export command is available. */
  canExport: boolean;
  /** How long the host took to compute this snapshot (ms). */
  computeMs: number;
}

/** Actions the webview asks the host for; each gets a Reply. */
export type PanelRequest =
  /** Resume an interrupted, blocked or paused run. */
  | { kind: 'resume'; runId: string }
  /** Cancel a run. */
  | { kind: 'cancel'; runId: string }
  /** Open a run's output. */
  | { kind: 'openRun'; runId: string }
  /** Export spend (CSV or JSON) through the export command. */
  | { kind: 'export'; format: 'csv' | 'json' }
  /** Open budget.json. */
  | { kind: 'editPolicy' }
  /** Write an experiment's winning variant into the workflow's routing (the host checks it is the winner). */
  | { kind: 'promoteVariant'; workflow: string; arm: number };

/** Messages from the webview to the host. */
export type WebviewMessage =
  /** The page has loaded and listens: the host may post data now. */
  | { type: 'ready'; state: PanelViewState }
  /** The user changed the range or the tab (the host recomputes and persists nothing else). */
  | { type: 'view'; state: PanelViewState }
  /** A request that expects a reply with the same `id`. */
  | { type: 'request'; id: number; request: PanelRequest }
  /** The page painted a snapshot (for the time-to-data measurement). */
  | { type: 'painted'; generatedAt: number };

/** Messages from the host to the webview. */
export type HostMessage =
  /** Fresh data (after ready, a range change, or any spend). */
  | { type: 'snapshot'; snapshot: PanelSnapshot }
  /** A new reading of the team ledger (it arrives after the snapshot it belongs to). */
  | { type: 'team'; team: TeamSection }
  /** Select the runs tab and highlight this run. */
  | { type: 'reveal'; runId: string }
  /** The answer to a request. */
  | {
      type: 'reply';
      /** The `id` of the request it answers. */
      id: number;
      /** Whether the host did what was asked (a resume: the run has started). */
      ok: boolean;
      /** Why not, in words for the page, when `ok` is false. */
      error?: string;
    };

// ---------------------------------------------------------------------------------------------------------------
// Validation (the host runs this on every incoming message)

/** Run ids are the store's time-ordered ids: letters, digits, '-' and '_'. */
const RUN_ID = /^[A-Za-z0-9_-]{1,80}$/;
/** Workflow ids (core/policy/workflowTypes.ts WORKFLOW_ID_PATTERN; the page may not import core). */
const WORKFLOW_ID = /^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$/;

/**
 * A copy of a plain object's own enumerable values, or undefined for anything else. Validation reads the copy, so
 * a getter is read once: the value checked is the value used. (`__proto__` from JSON is an own key here, which
 * `hasOnly` then rejects.)
 */
function plain(v: unknown): Record<string, unknown> | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.getPrototypeOf(v) !== Object.prototype)
    return undefined;
  return Object.fromEntries(Object.entries(v));
}

function hasOnly(v: Record<string, unknown>, keys: readonly string[]): boolean {
  return Object.keys(v).every((k) => keys.includes(k)) && keys.every((k) => k in v);
}

const oneOf = <T extends string>(values: readonly T[], v: unknown): v is T =>
  typeof v === 'string' && (values as readonly string[]).includes(v);

function viewState(raw: unknown): PanelViewState | undefined {
  const v = plain(raw);
  if (!v || !hasOnly(v, ['range', 'tab']) || !oneOf(RANGES, v.range) || !oneOf(TABS, v.tab)) return undefined;
  return { range: v.range, tab: v.tab };
}

function panelRequest(raw: unknown): PanelRequest | undefined {
  const v = plain(raw);
  if (!v) return undefined;
  switch (v.kind) {
    case 'resume':
    case 'cancel':
    case 'openRun':
      return hasOnly(v, ['kind', 'runId']) && typeof v.runId === 'string' && RUN_ID.test(v.runId)
        ? { kind: v.kind, runId: v.runId }
        : undefined;
    case 'export':
      return hasOnly(v, ['kind', 'format']) && (v.format === 'csv' || v.format === 'json')
        ? { kind: 'export', format: v.format }
        : undefined;
    case 'editPolicy':
      return hasOnly(v, ['kind']) ? { kind: 'editPolicy' } : undefined;
    case 'promoteVariant':
      return hasOnly(v, ['kind', 'workflow', 'arm']) &&
        typeof v.workflow === 'string' &&
        WORKFLOW_ID.test(v.workflow) &&
        !v.workflow.includes('..') &&
        Number.isSafeInteger(v.arm) &&
        (v.arm as number) >= 0 &&
        (v.arm as number) < 10
        ? { kind: 'promoteVariant', workflow: v.workflow, arm: v.arm as number }
        : undefined;
    default:
      return undefined;
  }
}

/**
 * The message if it is exactly one of WebviewMessage (no extra keys, every value in range), else a reason it is
 * not. A copy is returned, so nothing the page attached (getters, prototypes) survives.
 */
export function parseWebviewMessage(input: unknown): { message: WebviewMessage } | { error: string } {
  const raw = plain(input);
  if (!raw) return { error: 'not a plain object' };
  switch (raw.type) {
    case 'ready':
    case 'view': {
      const state = hasOnly(raw, ['type', 'state']) ? viewState(raw.state) : undefined;
      return state ? { message: { type: raw.type, state } } : { error: `bad ${raw.type} message` };
    }
    case 'request': {
      if (!hasOnly(raw, ['type', 'id', 'request']) || !Number.isSafeInteger(raw.id) || (raw.id as number) < 0)
        return { error: 'bad request id' };
      const request = panelRequest(raw.request);
      return request
        ? { message: { type: 'request', id: raw.id as number, request } }
        : { error: 'unknown or malformed request' };
    }
    case 'painted':
      return hasOnly(raw, ['type', 'generatedAt']) && Number.isFinite(raw.generatedAt)
        ? { message: { type: 'painted', generatedAt: raw.generatedAt as number } }
        : { error: 'bad painted message' };
    default:
      // Only a string is quoted (cut short): String() of a hostile object could throw.
      return {
        error: `unknown message type ${typeof raw.type === 'string' ? JSON.stringify(raw.type.slice(0, 40)) : typeof raw.type}`,
      };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The team section (the host runs this on what it read from the team ledger before posting it)

/** Rows per team dimension the panel shows (the largest). */
export const MAX_TEAM_ROWS = 10;
/** A name from the team ledger (a member, workflow, model or client another machine wrote) is cut to this length. */
export const MAX_TEAM_TEXT = 120;
const MAX_TEAM_MESSAGE = 500;
const MAX_TEAM_SCOPES = 12;
const TEAM_STATES: readonly TeamSection['state'][] = ['reading', 'online', 'offline', 'error'];
const LEVELS: readonly Level[] = ['ok', 'warn', 'critical', 'blocked'];
const DAY = /^\d{4}-\d{2}-\d{2}$/;
/** Control characters and bidirectional overrides: a name from another machine must read as what it is. */
const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

class InvalidTeamSection extends Error {}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new InvalidTeamSection(what);
  return value;
}

/** Text made safe to show: controls and direction overrides become spaces; past `max` characters it is cut. */
function teamText(v: unknown, max: number): string | undefined {
  if (typeof v !== 'string') return undefined;
  // Cut in UTF-16 units first (bounded work on a huge string), then by code point so no surrogate is split.
  const chars = Array.from(v.slice(0, max * 2).replace(UNSAFE_TEXT, ' '));
  return chars.length > max || v.length > max * 2 ? `${chars.slice(0, max - 1).join('')}…` : chars.join('');
}

const count = (v: unknown): number | undefined =>
  Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : undefined;

function teamObject(v: unknown, keys: readonly string[], what: string): Record<string, unknown> {
  const o = plain(v);
  if (!o || !hasOnly(o, keys)) throw new InvalidTeamSection(what);
  return o;
}

function teamList(v: unknown, max: number, what: string): unknown[] {
  if (!Array.isArray(v) || v.length > max) throw new InvalidTeamSection(what);
  return v as unknown[];
}

function teamScopeRow(v: unknown, at: string): TeamScopeRow {
  const o = teamObject(
    v,
    ['scope', 'label', 'usedMicros', 'heldMicros', 'limitMicros', 'pct', 'level', 'resetsAt'],
    at,
  );
  return {
    scope: need(teamText(o.scope, MAX_TEAM_TEXT), `${at}.scope`),
    label: need(teamText(o.label, MAX_TEAM_TEXT), `${at}.label`),
    usedMicros: need(count(o.usedMicros), `${at}.usedMicros`),
    heldMicros: need(count(o.heldMicros), `${at}.heldMicros`),
    limitMicros: need(count(o.limitMicros), `${at}.limitMicros`),
    pct: need(Number.isFinite(o.pct) && (o.pct as number) >= 0 ? (o.pct as number) : undefined, `${at}.pct`),
    level: need(oneOf(LEVELS, o.level) ? o.level : undefined, `${at}.level`),
    resetsAt: need(count(o.resetsAt), `${at}.resetsAt`),
  };
}

function teamTotals(o: Record<string, unknown>, at: string): Omit<TeamSpendRow, 'key'> {
  return {
    costMicros: need(count(o.costMicros), `${at}.costMicros`),
    estimatedMicros: need(count(o.estimatedMicros), `${at}.estimatedMicros`),
    calls: need(count(o.calls), `${at}.calls`),
    tokens: need(count(o.tokens), `${at}.tokens`),
  };
}

function teamSpend(v: unknown): NonNullable<TeamSection['spend']> {
  const o = teamObject(v, ['range', 'fromDay', 'toDay', 'timeZone', 'total', 'by'], 'spend');
  const by = teamObject(o.by, TEAM_DIMENSIONS, 'spend.by');
  const rows = (d: TeamDimension): TeamSpendRow[] =>
    teamList(by[d], MAX_TEAM_ROWS, `spend.by.${d}`).map((r, i) => {
      const at = `spend.by.${d}[${i}]`;
      const row = teamObject(r, ['key', 'costMicros', 'estimatedMicros', 'calls', 'tokens'], at);
      return { key: need(teamText(row.key, MAX_TEAM_TEXT), `${at}.key`), ...teamTotals(row, at) };
    });
  return {
    range: need(oneOf(RANGES, o.range) ? o.range : undefined, 'spend.range'),
    fromDay: need(typeof o.fromDay === 'string' && DAY.test(o.fromDay) ? o.fromDay : undefined, 'spend.fromDay'),
    toDay: need(typeof o.toDay === 'string' && DAY.test(o.toDay) ? o.toDay : undefined, 'spend.toDay'),
    timeZone: need(teamText(o.timeZone, MAX_TEAM_TEXT), 'spend.timeZone'),
    total: teamTotals(
      teamObject(o.total, ['costMicros', 'estimatedMicros', 'calls', 'tokens'], 'spend.total'),
      'spend.total',
    ),
    by: { member: rows('member'), workflow: rows('workflow'), model: rows('model'), client: rows('client') },
  };
}

/**
 * The team section if it has exactly TeamSection's shape with every amount a non-negative integer, else where it
 * does not. A copy: names are cut to MAX_TEAM_TEXT with control and direction-override characters made spaces, since
 * they come from whichever machine wrote them to the team ledger.
 */
export function parseTeamSection(input: unknown): { team: TeamSection } | { error: string } {
  try {
    const o = teamObject(
      input,
      ['member', 'tier', 'state', 'message', 'scopes', 'scopesAt', 'spend'],
      'not a team section',
    );
    return {
      team: {
        member: need(teamText(o.member, MAX_TEAM_TEXT), 'member'),
        tier: o.tier === null ? null : need(teamText(o.tier, MAX_TEAM_TEXT), 'tier'),
        state: need(oneOf(TEAM_STATES, o.state) ? o.state : undefined, 'state'),
        message: o.message === null ? null : need(teamText(o.message, MAX_TEAM_MESSAGE), 'message'),
        scopes: teamList(o.scopes, MAX_TEAM_SCOPES, 'scopes').map((r, i) => teamScopeRow(r, `scopes[${i}]`)),
        scopesAt: o.scopesAt === null ? null : need(count(o.scopesAt), 'scopesAt'),
        spend: o.spend === null ? null : teamSpend(o.spend),
      },
    };
  } catch (err) {
    if (err instanceof InvalidTeamSection) return { error: `bad team section: ${err.message}` };
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Request/reply (the webview side sends; the host answers with `reply` and the same id)

/** Sends requests over `post` and resolves each when its reply arrives (`receive` is fed every host message). */
export class RequestChannel {
  private next = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();

  constructor(private readonly post: (message: WebviewMessage) => void) {}

  request(request: PanelRequest): Promise<void> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.post({ type: 'request', id, request });
    });
  }

  /** Settles the request a reply answers; returns whether the message was a reply. */
  receive(message: HostMessage): boolean {
    if (message.type !== 'reply') return false;
    const waiting = this.pending.get(message.id);
    this.pending.delete(message.id);
    if (message.ok) waiting?.resolve();
    else waiting?.reject(new Error(message.error ?? 'failed'));
    return true;
  }
}
