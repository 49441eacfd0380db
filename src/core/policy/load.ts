import { join } from 'node:path';
import { overrideLimits } from './effective';
import { isNotFound, nodePolicyFileSystem, type PolicyFileSystem } from './fileSystem';
import { degradeModelProblems } from '../pricing/degrade';
import { PolicyError, type PolicyIssue } from './issues';
import { JsonDocument, preferSemantic, show, sortIssues } from './jsonDocument';
import { modelMatchProblem } from './modelMatch';
import { experimentProblems, hookProblems } from './automationChecks';
import { isValidTimeZone } from './periods';
import { closest, scopeNameProblem } from './scopes';
import { checkTeamSection } from './teamPolicy';
import { validateBudgetFile } from './schemas';
import {
  HOOK_EVENTS,
  type BudgetPolicy,
  type HookEventName,
  type HookSpec,
  type SessionLimits,
  type TaskLimits,
  type TokenLimits,
  type UsdCaps,
  type UsdLimits,
} from './types';
import { isToolName, isWorkflowId, WORKFLOW_ID_RULE, type ToolName } from './workflowTypes';

/** Where the policy lives, relative to the workspace folder. */
export const POLICY_FILE = '.agent-budget/budget.json';

export function policyFilePath(workspaceDir: string): string {
  return join(workspaceDir, '.agent-budget', 'budget.json');
}

/**
 * The built-in policy: what applies when `.agent-budget/budget.json` is missing, and key by key where the file is
 * silent. (README: "Defaults".)
 *
 * - Task: warn at 50,000 tokens, never more than 200,000; 50 tool calls, 25 agent-loop steps, 600 s of wall time.
 *   Enough for a review or a multi-file agent step; a loop that runs away stops within minutes.
 * - Session (run): warn at 250,000 tokens, never more than 1,000,000.
 * - Workspace: at most $5 a day and $50 a month (no weekly cap). The product promises never to spend more than
 *   the developer decided; with no file nobody has decided anything yet, so the defaults must be a cap, not
 *   "unlimited". $5/day is the status-bar example and covers a day of ordinary use on small and mid models; a
 *   block is resumable the moment a higher cap is written (`null` switches a default cap off).
 * - Time zone: the machine's local zone. Alerts at 50/75/90/100 %. No rules (soft limits warn, hard limits and
 *   caps block on their own). Tools: reading, listing and searching run freely; writing, editing and running
 *   commands ask first.
 */
export const DEFAULT_POLICY: Readonly<BudgetPolicy> = deepFreeze({
  limits: {
    task: { softTokens: 50_000, hardTokens: 200_000, maxToolCalls: 50, maxSteps: 25, maxWallSeconds: 600 },
    session: { softTokens: 250_000, hardTokens: 1_000_000 },
    workspace: { dailyUsd: 5, monthlyUsd: 50 },
  },
  workflows: {},
  rules: [],
  alerts: { thresholdsPct: [50, 75, 90, 100] },
  providers: {},
  prices: {},
  tools: {
    allow: ['readFile', 'listFiles', 'searchText'],
    approve: ['writeFile', 'editFile', 'runCommand'],
    costsUsd: {},
  },
  value: { workflows: {} },
  hooks: {},
  experiments: {},
});

/** A fresh, mutable copy of the defaults. */
export function defaultPolicy(): BudgetPolicy {
  return structuredClone(DEFAULT_POLICY) as BudgetPolicy;
}

export interface LoadedPolicy {
  policy: BudgetPolicy;
  /** The file as written (plain JSON, comments gone; `{}` without a file): what it sets, before defaults fill in. */
  raw: unknown;
  /** Unknown keys, duplicate keys and other things that do not stop the policy from working. */
  warnings: PolicyIssue[];
  source: 'file' | 'defaults';
  /** The path that was read (or would have been). */
  file: string;
}

/**
 * Reads `<workspaceDir>/.agent-budget/budget.json`. A missing file gives the built-in defaults; an invalid one
 * throws PolicyError listing every problem with file, path, line and column — callers must refuse to run rather
 * than fall back to defaults, which would silently change the limits the team committed.
 */
export async function loadPolicy(
  workspaceDir: string,
  fs: PolicyFileSystem = nodePolicyFileSystem,
): Promise<LoadedPolicy> {
  const file = policyFilePath(workspaceDir);
  let text: string;
  try {
    text = await fs.readFile(file);
  } catch (err) {
    if (isNotFound(err)) return { policy: defaultPolicy(), raw: {}, warnings: [], source: 'defaults', file };
    throw err;
  }
  return { ...policyFromText(text, file), source: 'file', file };
}

/** The policy of a file's text, or PolicyError with every problem (file, path, line, column). */
export function policyFromText(
  text: string,
  file: string,
): { policy: BudgetPolicy; raw: unknown; warnings: PolicyIssue[] } {
  const { policy, raw, issues } = parsePolicyText(text, file);
  const errors = issues.filter((i) => i.severity === 'error');
  const warnings = issues.filter((i) => i.severity === 'warning');
  if (!policy) throw new PolicyError(file, errors, warnings);
  return { policy, raw, warnings };
}

/**
 * Validates policy text (also what the editor integration calls on unsaved text). `policy` is set exactly when
 * there is no error; `issues` holds errors and warnings, errors first, each in document order.
 */
export function parsePolicyText(
  text: string,
  file: string,
): { policy?: BudgetPolicy; raw?: unknown; issues: PolicyIssue[] } {
  const doc = new JsonDocument(file, text);
  if (doc.syntaxIssues.length) return { issues: doc.syntaxIssues };
  const semantic = checkPolicy(doc);
  const issues = sortIssues([
    ...preferSemantic(doc.schemaIssues(validateBudgetFile()), semantic),
    ...doc.duplicateKeyWarnings(),
  ]);
  if (issues.some((i) => i.severity === 'error')) return { issues };
  // Plain objects (the parser's have no prototype), so a key like "__proto__" stays an ordinary key downstream.
  const raw = JSON.parse(JSON.stringify(doc.value)) as RawPolicy;
  return { policy: buildPolicy(raw), raw, issues };
}

// ---------------------------------------------------------------------------------------------------------------
// The file as written: like BudgetPolicy, but every key optional and top-level limits may be null.

type Nullable<T> = { [K in keyof T]?: T[K] | null };
interface RawPolicy {
  timeZone?: string;
  limits?: {
    task?: Nullable<TaskLimits>;
    session?: Nullable<SessionLimits>;
    workspace?: Nullable<UsdCaps>;
    team?: UsdCaps;
  };
  team?: BudgetPolicy['team'];
  caching?: BudgetPolicy['caching'];
  workflows?: BudgetPolicy['workflows'];
  rules?: BudgetPolicy['rules'];
  alerts?: Partial<BudgetPolicy['alerts']>;
  providers?: BudgetPolicy['providers'];
  prices?: BudgetPolicy['prices'];
  tools?: Partial<BudgetPolicy['tools']>;
  value?: Partial<BudgetPolicy['value']>;
  hooks?: Partial<Record<HookEventName, HookSpec | HookSpec[]>>;
  experiments?: BudgetPolicy['experiments'];
}

function buildPolicy(raw: RawPolicy): BudgetPolicy {
  // A copy, so the policy shares no object with `raw` (built with spreads/fromEntries: "__proto__" stays a key).
  const plain = structuredClone(raw);
  const policy = defaultPolicy();
  if (plain.timeZone !== undefined) policy.timeZone = plain.timeZone;
  policy.limits = {
    task: overrideLimits(policy.limits.task, plain.limits?.task),
    session: overrideLimits(policy.limits.session, plain.limits?.session),
    workspace: overrideLimits(policy.limits.workspace as TokenLimits & UsdCaps, plain.limits?.workspace),
    ...(plain.limits?.team ? { team: plain.limits.team } : {}),
  };
  if (plain.team) policy.team = plain.team;
  if (plain.caching !== undefined) policy.caching = plain.caching;
  if (plain.workflows) policy.workflows = plain.workflows;
  if (plain.rules) policy.rules = plain.rules;
  if (plain.alerts?.thresholdsPct) policy.alerts.thresholdsPct = plain.alerts.thresholdsPct;
  if (plain.alerts?.webhookUrl !== undefined) policy.alerts.webhookUrl = plain.alerts.webhookUrl;
  if (plain.providers) policy.providers = plain.providers;
  if (plain.prices) policy.prices = plain.prices;
  if (plain.tools) {
    const allow = plain.tools.allow ?? policy.tools.allow;
    // Naming a tool in `allow` without writing `approve` moves it out of the default approve list; when both lists
    // are written and overlap, asking wins (checkPolicy warns about it).
    const approve = plain.tools.approve ?? policy.tools.approve.filter((t) => !allow.includes(t));
    policy.tools = {
      allow: allow.filter((t) => !approve.includes(t)),
      approve,
      costsUsd: plain.tools.costsUsd ?? {},
    };
  }
  if (plain.value) policy.value = { ...plain.value, workflows: plain.value.workflows ?? {} };
  // One hook or a list of them, as written; lists in force (their origin is the merge's to say).
  for (const event of HOOK_EVENTS) {
    const hooks = plain.hooks?.[event];
    if (hooks !== undefined) policy.hooks[event] = Array.isArray(hooks) ? hooks : [hooks];
  }
  if (plain.experiments) policy.experiments = plain.experiments;
  return policy;
}

// ---------------------------------------------------------------------------------------------------------------
// Checks JSON Schema cannot express. Each reads the raw value defensively (the schema may have failed too) and
// reports at the exact path; where both speak about one path, this message wins (it is the more precise).

type Segs = (string | number)[];

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function entries(v: unknown): [string, unknown][] {
  return isObject(v) ? Object.keys(v).map((k) => [k, v[k]]) : [];
}

function checkPolicy(doc: JsonDocument): PolicyIssue[] {
  const out: PolicyIssue[] = [];
  const error = (segs: Segs, message: string, at: 'value' | 'key' = 'value') =>
    out.push(doc.issueAt('error', segs, message, at));
  const warn = (segs: Segs, message: string, at: 'value' | 'key' = 'value') =>
    out.push(doc.issueAt('warning', segs, message, at));
  const v = doc.value;
  if (!isObject(v)) return out;

  if (typeof v.timeZone === 'string' && !isValidTimeZone(v.timeZone)) {
    const near = closest(v.timeZone, Intl.supportedValuesOf('timeZone'));
    error(
      ['timeZone'],
      `${show(v.timeZone)} is not a time zone; use an IANA name such as "Europe/Berlin" or "UTC"${near ? ` (did you mean "${near}"?)` : ''}`,
    );
  }

  // Soft ≤ hard, counting the defaults the file leaves in place.
  const limits = isObject(v.limits) ? v.limits : {};
  const task = checkSoftHard(
    error,
    ['limits', 'task'],
    limits.task,
    DEFAULT_POLICY.limits.task,
    'the built-in default',
  );
  const session = checkSoftHard(
    error,
    ['limits', 'session'],
    limits.session,
    DEFAULT_POLICY.limits.session,
    'the built-in default',
  );
  const taskUsd = checkSoftHardUsd(
    error,
    ['limits', 'task'],
    limits.task,
    DEFAULT_POLICY.limits.task,
    'the built-in default',
  );
  const sessionUsd = checkSoftHardUsd(
    error,
    ['limits', 'session'],
    limits.session,
    DEFAULT_POLICY.limits.session,
    'the built-in default',
  );

  for (const [id, wf] of entries(v.workflows)) {
    if (!isWorkflowId(id)) {
      error(['workflows', id], `"${id}" is not a workflow id: use ${WORKFLOW_ID_RULE}`, 'key');
    }
    if (!isObject(wf)) continue;
    const wfLimits = isObject(wf.limits) ? wf.limits : {};
    checkSoftHard(error, ['workflows', id, 'limits', 'task'], wfLimits.task, task, 'limits.task');
    checkSoftHard(error, ['workflows', id, 'limits', 'session'], wfLimits.session, session, 'limits.session');
    checkSoftHardUsd(error, ['workflows', id, 'limits', 'task'], wfLimits.task, taskUsd, 'limits.task');
    checkSoftHardUsd(error, ['workflows', id, 'limits', 'session'], wfLimits.session, sessionUsd, 'limits.session');
    if (isObject(wf.complexity) && wf.complexModel === undefined) {
      warn(['workflows', id, 'complexity'], 'has no effect without "complexModel" in this workflow');
    }
  }

  if (Array.isArray(v.rules)) {
    v.rules.forEach((rule, i) => {
      if (!isObject(rule) || !isObject(rule.when)) return;
      const when = rule.when;
      if (typeof when.scope === 'string') {
        const problem = scopeNameProblem(when.scope);
        if (problem) error(['rules', i, 'when', 'scope'], `${problem}`);
      }
      if (when.atLeastPct !== undefined && when.scope === undefined) {
        error(['rules', i, 'when', 'atLeastPct'], 'needs a "scope" to take the percentage of (e.g. "workspace.daily")');
      }
      if (typeof when.modelMatches === 'string') {
        const problem = modelMatchProblem(when.modelMatches);
        if (problem) error(['rules', i, 'when', 'modelMatches'], `${show(when.modelMatches)} ${problem}`);
      }
      if (typeof when.workflow === 'string' && !isWorkflowId(when.workflow)) {
        error(['rules', i, 'when', 'workflow'], `${show(when.workflow)} is not a workflow id: use ${WORKFLOW_ID_RULE}`);
      }
    });
  }

  const alerts = isObject(v.alerts) ? v.alerts : {};
  if (Array.isArray(alerts.thresholdsPct)) {
    const t = alerts.thresholdsPct;
    for (let i = 1; i < t.length; i++) {
      const [a, b] = [t[i - 1], t[i]];
      if (typeof a === 'number' && typeof b === 'number' && b <= a) {
        error(
          ['alerts', 'thresholdsPct', i],
          b === a
            ? `${b} is listed twice; thresholds must be in ascending order without repeats`
            : `${b} comes after ${a}; thresholds must be in ascending order without repeats`,
        );
      }
    }
  }
  if (typeof alerts.webhookUrl === 'string') checkUrl(error, ['alerts', 'webhookUrl'], alerts.webhookUrl);
  for (const [name, settings] of entries(v.providers)) {
    if (isObject(settings) && typeof settings.baseUrl === 'string') {
      checkUrl(error, ['providers', name, 'baseUrl'], settings.baseUrl);
    }
  }

  const tools = isObject(v.tools) ? v.tools : {};
  if (Array.isArray(tools.allow) && Array.isArray(tools.approve)) {
    tools.allow.forEach((name, i) => {
      if (isToolName(name) && (tools.approve as unknown[]).includes(name)) {
        warn(['tools', 'allow', i], `"${name}" is also in "approve"; it will ask before running`);
      }
    });
  }

  for (const p of degradeModelProblems(v)) error(p.path, p.message);
  out.push(...checkTeamSection(doc));

  out.push(...hookProblems(v.hooks, doc, (segs, url) => checkUrl(error, segs, url)));
  out.push(...experimentProblems(v.experiments, doc));

  for (const [id] of entries(isObject(v.value) ? v.value.workflows : undefined)) {
    if (!isWorkflowId(id))
      error(['value', 'workflows', id], `"${id}" is not a workflow id: use ${WORKFLOW_ID_RULE}`, 'key');
  }
  return out;
}

/**
 * softTokens ≤ hardTokens where `raw` sets at least one of them, comparing with the inherited value where it
 * sets only one. Returns the limits that result (for checking overrides further down).
 */
function checkSoftHard(
  error: (segs: Segs, message: string) => void,
  segs: Segs,
  raw: unknown,
  inherited: TokenLimits,
  inheritedFrom: string,
): TokenLimits {
  if (!isObject(raw)) return inherited;
  const soft = raw.softTokens;
  const hard = raw.hardTokens;
  const usable = (x: unknown) =>
    x === undefined || x === null || (typeof x === 'number' && Number.isInteger(x) && x >= 0);
  if (!usable(soft) || !usable(hard)) return inherited; // the schema reports those
  const over = { softTokens: soft as number | null | undefined, hardTokens: hard as number | null | undefined };
  const result = overrideLimits({ ...inherited }, over);
  if (typeof soft === 'number' && result.hardTokens !== undefined && soft > result.hardTokens) {
    const from = typeof hard === 'number' ? '' : ` (from ${inheritedFrom})`;
    error([...segs, 'softTokens'], `must not be above hardTokens: ${soft} > ${result.hardTokens}${from}`);
  }
  return result;
}

/** The same for `softUsd` ≤ `hardUsd` (dollars, any non-negative number). */
function checkSoftHardUsd(
  error: (segs: Segs, message: string) => void,
  segs: Segs,
  raw: unknown,
  inherited: UsdLimits,
  inheritedFrom: string,
): UsdLimits {
  if (!isObject(raw)) return inherited;
  const soft = raw.softUsd;
  const hard = raw.hardUsd;
  const usable = (x: unknown) =>
    x === undefined || x === null || (typeof x === 'number' && Number.isFinite(x) && x >= 0);
  if (!usable(soft) || !usable(hard)) return inherited;
  const result = overrideLimits(
    { ...inherited },
    {
      softUsd: soft as number | null | undefined,
      hardUsd: hard as number | null | undefined,
    },
  );
  if (typeof soft === 'number' && result.hardUsd !== undefined && soft > result.hardUsd) {
    const from = typeof hard === 'number' ? '' : ` (from ${inheritedFrom})`;
    error([...segs, 'softUsd'], `must not be above hardUsd: ${soft} > ${result.hardUsd}${from}`);
  }
  return result;
}

function checkUrl(error: (segs: Segs, message: string) => void, segs: Segs, url: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || !parsed.hostname) {
    error(segs, `must be an http:// or https:// URL, got ${show(url)}`);
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}

export type { ToolName };
