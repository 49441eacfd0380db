import { AgentBudgetError } from '../errors';

/**
 * Problems found in a workspace file (budget policy, workflow, inventory). Each names the file, the path inside it
 * (`limits.task.hardTokens`, `rules[1].when.scope`), the 1-based line and column, and what is wrong in plain words.
 * The VS Code side turns them into diagnostics (offset/length); the CLI prints them with formatIssue.
 */
export interface PolicyIssue {
  severity: 'error' | 'warning';
  /** The file as the loader was given it (workspace dir joined with `.agent-budget/…`). */
  file: string;
  /** Path inside the file in dotted form; '' for the whole document. */
  path: string;
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units like VS Code's columns. */
  column: number;
  /** Character offset and length of the offending text, for editors. */
  offset: number;
  length: number;
  /** What is wrong, in plain words: `must be a whole number ≥ 0, got "12k"`. */
  message: string;
}

/** `file:line:column: path: message` — the shape terminals and VS Code's problem matchers link. */
export function formatIssue(issue: PolicyIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.column}`;
  const warn = issue.severity === 'warning' ? 'warning: ' : '';
  return `${where}: ${warn}${issue.path ? `${issue.path}: ` : ''}${issue.message}`;
}

/**
 * A workspace file that cannot be used. Runs refuse to start on it rather than run without limits.
 * `issues` holds the errors (each with file, path, line, column); `warnings` what would only have been warned about.
 */
export class PolicyError extends AgentBudgetError {
  override readonly name = 'PolicyError';
  constructor(
    readonly file: string,
    readonly issues: PolicyIssue[],
    readonly warnings: PolicyIssue[] = [],
  ) {
    const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
    super('config', `${file} is not valid (${count}):\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`);
  }
}

/** Dotted path of JSON path segments: `workflows.code-review.limits`, `rules[1].when`, `prices["a.b"]`. */
export function formatJsonPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}
