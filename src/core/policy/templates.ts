/**
 * Prompt templates of workflow steps (docs/policy.md): `{{input}}`, `{{file}}`, `{{fileContent}}`, `{{selection}}` and
 * `{{steps.<id>.output}}`, and inside sub-agents `{{item}}` and `{{itemContent}}`. Spaces inside the braces are
 * allowed (`{{ input }}`). The workflow-file check and the runner share this one reader so a template that
 * validates is one that renders.
 */

export const TEMPLATE_VARIABLES = ['input', 'file', 'fileContent', 'selection'] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

/** A sub-agent's own variables: its item, and the item's text when it fans out over files. */
export const SUB_AGENT_VARIABLES = ['item', 'itemContent'] as const;
export type SubAgentVariable = (typeof SUB_AGENT_VARIABLES)[number];

const TEMPLATE = /\{\{\s*([^{}]*?)\s*\}\}/g;
const STEP_OUTPUT = /^steps\.([^.\s]+)\.output$/;

export type TemplateReference =
  | { kind: 'variable'; name: TemplateVariable; index: number; length: number }
  | { kind: 'subAgent'; name: SubAgentVariable; index: number; length: number }
  | { kind: 'stepOutput'; stepId: string; index: number; length: number }
  | { kind: 'unknown'; text: string; index: number; length: number };

/** Every `{{…}}` in `text`, with its index and length in `text`. */
export function templateReferences(text: string): TemplateReference[] {
  const refs: TemplateReference[] = [];
  for (const m of text.matchAll(TEMPLATE)) {
    const inner = m[1] ?? '';
    const index = m.index ?? 0;
    const length = m[0].length;
    const step = STEP_OUTPUT.exec(inner);
    if (step) refs.push({ kind: 'stepOutput', stepId: step[1]!, index, length });
    else if ((TEMPLATE_VARIABLES as readonly string[]).includes(inner))
      refs.push({ kind: 'variable', name: inner as TemplateVariable, index, length });
    else if ((SUB_AGENT_VARIABLES as readonly string[]).includes(inner))
      refs.push({ kind: 'subAgent', name: inner as SubAgentVariable, index, length });
    else refs.push({ kind: 'unknown', text: inner, index, length });
  }
  return refs;
}

export interface TemplateValues {
  input?: string;
  file?: string;
  fileContent?: string;
  selection?: string;
  /** Outputs of finished steps by step id. */
  stepOutputs?: Record<string, string>;
  /** A sub-agent's item and (files) its text; undefined outside sub-agents, where the markers stay as written. */
  item?: string;
  itemContent?: string;
}

/**
 * Fills a template. Missing values render as the empty string; an unknown `{{…}}` is left as written (workflow
 * files are validated before they run, so that only happens for built-ins under development).
 */
export function renderTemplate(text: string, values: TemplateValues): string {
  return text.replace(TEMPLATE, (whole, inner: string) => {
    const step = STEP_OUTPUT.exec(inner);
    if (step) return values.stepOutputs?.[step[1]!] ?? '';
    if ((TEMPLATE_VARIABLES as readonly string[]).includes(inner)) return values[inner as TemplateVariable] ?? '';
    if (inner === 'item' && values.item !== undefined) return values.item;
    if (inner === 'itemContent' && values.item !== undefined) return values.itemContent ?? '';
    return whole;
  });
}
