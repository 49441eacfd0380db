import { join } from 'node:path';
import { isNotFound, nodePolicyFileSystem, type PolicyFileSystem } from './fileSystem';
import { PolicyError, type PolicyIssue } from './issues';
import { JsonDocument, preferSemantic, show, sortIssues } from './jsonDocument';
import { validateWorkflowFile } from './schemas';
import { closest } from './scopes';
import { TEMPLATE_VARIABLES, templateReferences } from './templates';
import { isWorkflowId, WORKFLOW_ID_RULE, type WorkflowDefinition, type WorkflowStep } from './workflowTypes';

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
  return { workflow, issues };
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
  const ids = steps.map((s) => (isObject(s) && typeof s.id === 'string' ? s.id : undefined));
  steps.forEach((step, i) => {
    if (!isObject(step)) return;
    const id = ids[i];
    if (id !== undefined && ids.indexOf(id) < i) {
      out.push(doc.issueAt('error', ['steps', i, 'id'], `"${id}" is already the id of steps[${ids.indexOf(id)}]`));
    }
    const earlier = new Set(ids.slice(0, i).filter((x): x is string => x !== undefined));
    for (const key of ['prompt', 'system'] as const) {
      if (typeof step[key] === 'string') out.push(...checkTemplates(doc, ['steps', i, key], earlier, ids, i));
    }
    const limits = isObject(step.limits) ? step.limits : {};
    const { softTokens: soft, hardTokens: hard } = limits;
    if (typeof soft === 'number' && typeof hard === 'number' && soft > hard) {
      out.push(
        doc.issueAt('error', ['steps', i, 'limits', 'softTokens'], `must not be above hardTokens: ${soft} > ${hard}`),
      );
    }
  });
  // The workflow-wide system prompt runs with every step, so it may only use the run's inputs.
  if (typeof v.system === 'string') out.push(...checkTemplates(doc, ['system'], new Set(), ids, 0));
  return out;
}

/** Every `{{…}}` in the string at `segs` must be a known variable or the output of an earlier step. */
function checkTemplates(
  doc: JsonDocument,
  segs: (string | number)[],
  earlier: Set<string>,
  allIds: (string | undefined)[],
  index: number,
): PolicyIssue[] {
  const out: PolicyIssue[] = [];
  const raw = doc.rawString(segs);
  if (raw === undefined) return out;
  // Template markers contain no characters JSON escapes, so positions in the raw text are exact.
  for (const ref of templateReferences(raw)) {
    const at = (message: string) => out.push(doc.issueInString('error', segs, ref.index, ref.length, message));
    const written = raw.slice(ref.index, ref.index + ref.length);
    if (ref.kind === 'unknown') {
      const near = closest(ref.text, [...TEMPLATE_VARIABLES]);
      at(
        `${written} is not a template variable; use {{input}}, {{file}}, {{fileContent}}, {{selection}} or {{steps.<id>.output}}${near ? ` (did you mean {{${near}}}?)` : ''}`,
      );
    } else if (ref.kind === 'stepOutput' && !earlier.has(ref.stepId)) {
      const later = allIds.indexOf(ref.stepId);
      if (later === index && segs[0] === 'steps')
        at(`${written} refers to this step itself; only earlier steps have output`);
      else if (later >= 0) at(`${written} refers to steps[${later}], which runs later; only earlier steps have output`);
      else {
        const near = closest(ref.stepId, [...earlier]);
        at(`${written} refers to no step; there is no step "${ref.stepId}"${near ? ` (did you mean "${near}"?)` : ''}`);
      }
    }
  }
  return out;
}

export type { WorkflowDefinition, WorkflowStep };
