import { promises as fs } from 'node:fs';
import type { PolicyError } from '../policy/issues';
import { templateReferences, TEMPLATE_VARIABLES, type TemplateVariable } from '../policy/templates';
import { loadWorkflow, loadWorkflows } from '../policy/workflowFile';
import type { WorkflowDefinition } from '../policy/workflowTypes';
import type { RunInput } from './api';
import type { RunnerWorkflow } from './builtins';
import type { RunCheckpointState } from './checkpoint';
import { RunInputError, WorkflowNotFoundError } from './errors';
import type { WorkspaceTools } from './tools';

/** The workflows a workspace can run (built in, and its own files) and the input a run of one starts from. */
export class WorkflowCatalog {
  constructor(
    private readonly folder: string,
    private readonly builtins: readonly RunnerWorkflow[],
    private readonly tools: WorkspaceTools,
  ) {}

  /** Built-in workflows (replaced by a workspace file with the same id) and the workspace's own, with broken files as errors. */
  async list(): Promise<{ workflows: WorkflowDefinition[]; errors: PolicyError[] }> {
    const loaded = await loadWorkflows(this.folder);
    const byId = new Map(loaded.workflows.map((w) => [w.id, w]));
    const builtinIds = new Set(this.builtins.map((b) => b.id));
    const workflows: WorkflowDefinition[] = this.builtins.map((b) => byId.get(b.id) ?? b);
    for (const w of loaded.workflows) if (!builtinIds.has(w.id)) workflows.push(w);
    return { workflows, errors: loaded.errors };
  }

  /** The workflow `id`: a workspace file (PolicyError when invalid), else a built-in; WorkflowNotFoundError else. */
  async find(id: string): Promise<RunnerWorkflow> {
    const file = await loadWorkflow(this.folder, id);
    if (file) return file.workflow as RunnerWorkflow;
    const builtin = this.builtins.find((b) => b.id === id);
    if (builtin) return structuredClone(builtin);
    const { workflows } = await this.list();
    throw new WorkflowNotFoundError(
      id,
      workflows.map((w) => w.id),
    );
  }

  /** Reads the file when only its path is given; with no selection, a workflow that uses one gets the whole file. */
  async prepareInput(workflow: RunnerWorkflow, input: RunInput): Promise<RunCheckpointState['input']> {
    const out: RunCheckpointState['input'] = {};
    for (const key of ['input', 'file', 'fileContent', 'selection', 'model'] as const) {
      if (typeof input[key] === 'string' && input[key] !== '') out[key] = input[key];
    }
    if (input.complex !== undefined) out.complex = input.complex;
    if (out.file !== undefined) {
      let resolved;
      try {
        resolved = await this.tools.resolve(out.file, 'read');
      } catch (err) {
        throw new RunInputError(`Cannot use the file "${out.file}": ${(err as Error).message}`);
      }
      if (out.fileContent === undefined) {
        try {
          out.fileContent = await fs.readFile(resolved.real, 'utf8');
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw new RunInputError(
            `Cannot read the file "${out.file}": ${code === 'ENOENT' ? 'it does not exist' : code === 'EISDIR' ? 'it is a folder' : code}.`,
          );
        }
      }
      out.file = resolved.relative;
    }
    const used = usedVariables(workflow);
    if (out.selection === undefined && out.fileContent !== undefined && used.has('selection'))
      out.selection = out.fileContent;
    const inputs = [...used];
    if (inputs.length > 0 && !inputs.some((v) => (out[v] ?? '').trim() !== '')) {
      throw new RunInputError(
        `The workflow "${workflow.id}" needs input: ${describeInputs(used)}. ` +
          '(CLI: --input "text" or --file path; VS Code: open a file or select code.)',
      );
    }
    return out;
  }
}

/** The run-input variables a workflow's prompts use (its sub-agents' steps included). */
function usedVariables(workflow: WorkflowDefinition): Set<TemplateVariable> {
  const used = new Set<TemplateVariable>();
  const prompts = (steps: RunnerWorkflow['steps']): string[] =>
    steps.flatMap((s) => [s.context ?? '', s.prompt, s.system ?? '', ...prompts(s.subAgents?.steps ?? [])]);
  const texts = [workflow.system ?? '', ...prompts(workflow.steps as RunnerWorkflow['steps'])];
  for (const text of texts) {
    for (const ref of templateReferences(text)) if (ref.kind === 'variable') used.add(ref.name);
  }
  return used;
}

function describeInputs(used: Set<TemplateVariable>): string {
  const words: Record<TemplateVariable, string> = {
    input: 'text',
    file: 'a file',
    fileContent: 'a file',
    selection: 'a selection',
  };
  return [...new Set(TEMPLATE_VARIABLES.filter((v) => used.has(v)).map((v) => words[v]))].join(' or ');
}
