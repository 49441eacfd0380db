import { join } from 'node:path';
import { isNotFound, nodePolicyFileSystem, type PolicyFileSystem } from './fileSystem';
import { globToRegExp } from '../runner/glob';
import { formatJsonPath, PolicyError, type PolicyIssue } from './issues';
import { JsonDocument, preferSemantic, show, sortIssues } from './jsonDocument';
import { validateWorkflowFile } from './schemas';
import { closest } from './scopes';
import { SUB_AGENT_VARIABLES, TEMPLATE_VARIABLES, templateReferences } from './templates';
import {
  isWorkflowId,
  MAX_SUB_AGENT_DEPTH,
  WORKFLOW_ID_RULE,
  type WorkflowDefinition,
  type WorkflowStep,
} from './workflowTypes';

/** Where workspace workflows live, relative to the workspace folder: `<id>.json` each. */
export const WORKFLOWS_DIR = '.agent-budget/workflows';

export function workflowsDir(workspaceDir: string): string {
  return join(workspaceDir, '.agent-budget', 'workflows');
}

export interface LoadedWorkflows {
  /** The valid workflows, sorted by id. */
  workflows: WorkflowDefinition[];
  /** One PolicyError per invalid file (its `issues` locate each problem); the other files still load. */
  errors: PolicyError[];
  /** Warnings of the files that loaded. */
  warnings: PolicyIssue[];
}

/**
 * Loads every `.agent-budget/workflows/*.json`. A missing folder means no workspace workflows. A bad file never
 * hides the good ones: it is reported in `errors` and the rest load.
 */
export async function loadWorkflows(
  workspaceDir: string,
  fs: PolicyFileSystem = nodePolicyFileSystem,
): Promise<LoadedWorkflows> {
  const dir = workflowsDir(workspaceDir);
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (isNotFound(err)) return { workflows: [], errors: [], warnings: [] };
    throw err;
  }
  const result: LoadedWorkflows = { workflows: [], errors: [], warnings: [] };
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const file = join(dir, name);
    let text: string;
    try {
      text = await fs.readFile(file);
    } catch (err) {
      if (isNotFound(err)) continue; // a folder named *.json, or deleted meanwhile
      throw err;
    }
    const { workflow, issues } = parseWorkflowText(text, file, name.slice(0, -'.json'.length));
    const errors = issues.filter((i) => i.severity === 'error');
    const warnings = issues.filter((i) => i.severity === 'warning');
    if (workflow) {
      result.workflows.push(workflow);
      result.warnings.push(...warnings);
    } else {
      result.errors.push(new PolicyError(file, errors, warnings));
    }
  }
  return result;
}

/**
 * Loads `.agent-budget/workflows/<id>.json`. undefined when there is no such file (or `id` is not a workflow id,
 * so nothing outside the folder is ever read); throws PolicyError when the file is invalid.
 */
export async function loadWorkflow(
  workspaceDir: string,
  id: string,
  fs: PolicyFileSystem = nodePolicyFileSystem,
): Promise<{ workflow: WorkflowDefinition; warnings: PolicyIssue[] } | undefined> {
  if (!isWorkflowId(id)) return undefined;
  const file = join(workflowsDir(workspaceDir), `${id}.json`);
  let text: string;
  try {
    text = await fs.readFile(file);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  const { workflow, issues } = parseWorkflowText(text, file, id);
  const warnings = issues.filter((i) => i.severity === 'warning');
  if (!workflow)
    throw new PolicyError(
      file,
      issues.filter((i) => i.severity === 'error'),
      warnings,
    );
  return { workflow, warnings };
}

/**
 * Validates a workflow file's text. `fileId` is the file name without `.json`: the file's `id` must equal it
 * (and defaults to it when omitted). `workflow` is set exactly when there is no error.
 */
export function parseWorkflowText(
  text: string,
  file: string,
  fileId: string,
): { workflow?: WorkflowDefinition; issues: PolicyIssue[] } {
  const doc = new JsonDocument(file, text);
  if (doc.syntaxIssues.length) return { issues: doc.syntaxIssues };
  const semantic = checkWorkflow(doc, fileId);
  const issues = sortIssues([
    ...preferSemantic(doc.schemaIssues(validateWorkflowFile()), semantic),
    ...doc.duplicateKeyWarnings(),
  ]);
  if (issues.some((i) => i.severity === 'error')) return { issues };
  const raw = JSON.parse(JSON.stringify(doc.value)) as Omit<WorkflowDefinition, 'title' | 'id'> & {
    id?: string;
    title?: string;
    $schema?: string;
  };
  const { $schema: _schema, ...rest } = raw;
  const workflow: WorkflowDefinition = { ...rest, id: raw.id ?? fileId, title: raw.title ?? raw.id ?? fileId, file };
  withEmptyFanOutPrompts(workflow.steps);
  return { workflow, issues };
}

/** A fan-out whose sub-agents run their own steps has no prompt of its own: '' keeps `prompt` a string downstream. */
function withEmptyFanOutPrompts(steps: WorkflowStep[]): void {
  for (const step of steps) {
    if (step.prompt === undefined) step.prompt = '';
    if (step.subAgents?.steps) withEmptyFanOutPrompts(step.subAgents.steps);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function checkWorkflow(doc: JsonDocument, fileId: string): PolicyIssue[] {
  const out: PolicyIssue[] = [];
  const v = doc.value;
  if (!isObject(v)) return out;

  if (!isWorkflowId(fileId)) {
    out.push(
      doc.issueAtOffset(
        'error',
        '',
        0,
        0,
        `the file name "${fileId}.json" is not a workflow id: use ${WORKFLOW_ID_RULE}`,
      ),
    );
  } else if (typeof v.id === 'string' && v.id !== fileId) {
    out.push(doc.issueAt('error', ['id'], `must equal the file name "${fileId}", got ${show(v.id)}`));
  }

  const steps = Array.isArray(v.steps) ? v.steps : [];
  const top = stepIds(steps);
  checkSteps(doc, out, ['steps'], steps, { outer: new Set(), depth: 0 });
  // The workflow-wide system prompt runs with every step, so it may only use the run's inputs.
  if (typeof v.system === 'string') out.push(...checkTemplates(doc, ['system'], new Set(), top, 0, undefined));
  checkVersions(doc, out, v.versions, steps);
  return out;
}

/** Where a list of steps runs: the earlier steps of enclosing lists, how deep in sub-agents, and their item. */
interface StepContext {
  /** Ids of steps of the enclosing lists that finished before this list runs. */
  outer: Set<string>;
  /** How many fan-outs enclose this list (0 at the top). */
  depth: number;
  /** Inside a sub-agent: whether its item is a file (then `{{itemContent}}` is its text). */
  item?: { files: boolean };
}

function stepIds(steps: unknown[]): (string | undefined)[] {
  return steps.map((s) => (isObject(s) && typeof s.id === 'string' ? s.id : undefined));
}

function checkSteps(doc: JsonDocument, out: PolicyIssue[], segs: Segs, steps: unknown[], ctx: StepContext): void {
  const ids = stepIds(steps);
  steps.forEach((step, i) => {
    if (!isObject(step)) return;
    const at = [...segs, i];
    const id = ids[i];
    if (id !== undefined && ids.indexOf(id) < i) {
      out.push(
        doc.issueAt(
          'error',
          [...at, 'id'],
          `"${id}" is already the id of ${formatJsonPath([...segs, ids.indexOf(id)])}`,
        ),
      );
    }
    const earlier = new Set([...ctx.outer, ...ids.slice(0, i).filter((x): x is string => x !== undefined)]);
    const plan = isObject(step.subAgents) ? step.subAgents : undefined;
    const childSteps = plan && Array.isArray(plan.steps) ? plan.steps : undefined;
    // A fan-out's own prompt is what each sub-agent runs, so it sees the sub-agent's item.
    const promptItem = plan ? { files: typeof plan.files === 'string' } : ctx.item;
    if (childSteps) {
      for (const key of ['prompt', 'system', 'tools'] as const) {
        if (step[key] !== undefined)
          out.push(
            doc.issueAt('error', [...at, key], 'has no effect: each sub-agent runs subAgents.steps; move it there'),
          );
      }
    } else if (step.prompt === undefined) {
      out.push(doc.issueAt('error', at, 'needs a "prompt" (or "subAgents" with their own "steps")'));
    }
    for (const key of ['prompt', 'system'] as const) {
      if (typeof step[key] === 'string')
        out.push(...checkTemplates(doc, [...at, key], earlier, ids, i, promptItem, segs));
    }
    const limits = isObject(step.limits) ? step.limits : {};
    const { softTokens: soft, hardTokens: hard } = limits;
    if (typeof soft === 'number' && typeof hard === 'number' && soft > hard) {
      out.push(
        doc.issueAt('error', [...at, 'limits', 'softTokens'], `must not be above hardTokens: ${soft} > ${hard}`),
      );
    }
    if (plan) checkSubAgents(doc, out, [...at, 'subAgents'], plan, { ...ctx, outer: earlier }, ids, i);
  });
}

function checkSubAgents(
  doc: JsonDocument,
  out: PolicyIssue[],
  at: Segs,
  plan: Record<string, unknown>,
  ctx: StepContext,
  ids: (string | undefined)[],
  index: number,
): void {
  const error = (segs: Segs, message: string) => out.push(doc.issueAt('error', segs, message));
  if (ctx.depth + 1 > MAX_SUB_AGENT_DEPTH) {
    error(at, `sub-agents nest at most ${MAX_SUB_AGENT_DEPTH} levels deep; this would be level ${ctx.depth + 1}`);
    return;
  }
  const source = ['itemsFrom', 'files'].filter((k) => plan[k] !== undefined);
  if (source.length !== 1) {
    error(
      at,
      source.length === 0
        ? 'needs "itemsFrom" (an earlier step whose output lists the items) or "files" (a glob of workspace files)'
        : 'has both "itemsFrom" and "files"; use one',
    );
  }
  if (typeof plan.itemsFrom === 'string' && !ctx.outer.has(plan.itemsFrom)) {
    const later = ids.indexOf(plan.itemsFrom);
    error(
      [...at, 'itemsFrom'],
      later === index
        ? 'is this step itself; the items come from an earlier step'
        : later > index
          ? `is a step that runs later ("${plan.itemsFrom}"); the items come from an earlier step`
          : `refers to no earlier step "${plan.itemsFrom}"${nearHint(plan.itemsFrom, [...ctx.outer])}`,
    );
  }
  if (typeof plan.files === 'string') {
    const problem = filesPatternProblem(plan.files);
    if (problem) error([...at, 'files'], problem);
  }
  const budget = isObject(plan.budget) ? plan.budget : {};
  if (budget.share !== undefined && budget.pool !== undefined)
    error([...at, 'budget'], 'has both "share" and "pool"; a fan-out budgets its sub-agents one way');
  if (Array.isArray(plan.steps)) {
    const item = { files: typeof plan.files === 'string' };
    checkSteps(doc, out, [...at, 'steps'], plan.steps, { outer: ctx.outer, depth: ctx.depth + 1, item });
  }
}

/** Why a `files` glob cannot be used, or undefined: it must stay inside the folder and compile. */
function filesPatternProblem(pattern: string): string | undefined {
  const p = pattern.trim().replace(/\\/g, '/');
  if (p === '') return 'must be a glob such as "src/**/*.ts"';
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p) || p.split('/').includes('..'))
    return `${show(pattern)} leaves the workspace folder; use a pattern relative to it, such as "src/**/*.ts"`;
  try {
    globToRegExp(p);
  } catch (err) {
    return `${show(pattern)} is not a glob: ${(err as Error).message}`;
  }
  return undefined;
}

/** `versions.<name>.steps.<id>` names a top-level step; its templates follow that step's rules. */
function checkVersions(doc: JsonDocument, out: PolicyIssue[], versions: unknown, steps: unknown[]): void {
  if (!isObject(versions)) return;
  const ids = stepIds(steps);
  for (const name of Object.keys(versions)) {
    const version = versions[name];
    if (!isObject(version)) continue;
    if (typeof version.system === 'string')
      out.push(...checkTemplates(doc, ['versions', name, 'system'], new Set(), ids, 0, undefined));
    const byStep = isObject(version.steps) ? version.steps : {};
    for (const stepId of Object.keys(byStep)) {
      const i = ids.indexOf(stepId);
      const segs = ['versions', name, 'steps', stepId];
      if (i < 0) {
        out.push(
          doc.issueAt(
            'error',
            segs,
            `there is no top-level step "${stepId}"${nearHint(
              stepId,
              ids.filter((x): x is string => !!x),
            )}`,
            'key',
          ),
        );
        continue;
      }
      const step = steps[i] as Record<string, unknown>;
      const plan = isObject(step.subAgents) ? step.subAgents : undefined;
      const item = plan ? { files: typeof plan.files === 'string' } : undefined;
      const earlier = new Set(ids.slice(0, i).filter((x): x is string => x !== undefined));
      const entry = isObject(byStep[stepId]) ? byStep[stepId] : {};
      for (const key of ['prompt', 'system'] as const) {
        if (typeof entry[key] === 'string') out.push(...checkTemplates(doc, [...segs, key], earlier, ids, i, item));
      }
    }
  }
}

function nearHint(name: string, candidates: string[]): string {
  const near = closest(name, candidates);
  return near ? ` (did you mean "${near}"?)` : '';
}

/**
 * Every `{{…}}` in the string at `segs` must be a known variable, the output of an earlier step, or — inside a
 * sub-agent (`item`) — its item.
 */
function checkTemplates(
  doc: JsonDocument,
  segs: Segs,
  earlier: Set<string>,
  allIds: (string | undefined)[],
  index: number,
  item: StepContext['item'],
  listSegs: Segs = ['steps'],
): PolicyIssue[] {
  const out: PolicyIssue[] = [];
  const raw = doc.rawString(segs);
  if (raw === undefined) return out;
  // Template markers contain no characters JSON escapes, so positions in the raw text are exact.
  for (const ref of templateReferences(raw)) {
    const at = (message: string) => out.push(doc.issueInString('error', segs, ref.index, ref.length, message));
    const written = raw.slice(ref.index, ref.index + ref.length);
    if (ref.kind === 'unknown') {
      const near = closest(ref.text, [...TEMPLATE_VARIABLES, ...(item ? SUB_AGENT_VARIABLES : [])]);
      at(
        `${written} is not a template variable; use {{input}}, {{file}}, {{fileContent}}, {{selection}} or {{steps.<id>.output}}${item ? ' (in sub-agents also {{item}} and {{itemContent}})' : ''}${near ? ` (did you mean {{${near}}}?)` : ''}`,
      );
    } else if (ref.kind === 'subAgent') {
      if (!item) at(`${written} is a sub-agent's item; it exists only in a step with "subAgents" and in their steps`);
      else if (ref.name === 'itemContent' && !item.files)
        at(`${written} is the text of a file; it exists only in sub-agents that fan out over "files"`);
    } else if (ref.kind === 'stepOutput' && !earlier.has(ref.stepId)) {
      const later = allIds.indexOf(ref.stepId);
      const name = formatJsonPath([...listSegs, later]);
      if (later === index && segs[listSegs.length] === index)
        at(`${written} refers to this step itself; only earlier steps have output`);
      else if (later >= 0) at(`${written} refers to ${name}, which runs later; only earlier steps have output`);
      else {
        const near = closest(ref.stepId, [...earlier]);
        at(`${written} refers to no step; there is no step "${ref.stepId}"${near ? ` (did you mean "${near}"?)` : ''}`);
      }
    }
  }
  return out;
}

type Segs = (string | number)[];

export type { WorkflowDefinition, WorkflowStep };
