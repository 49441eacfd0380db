import { isNotFound, nodePolicyFileSystem, type PolicyFileSystem } from './fileSystem';
import { PolicyError, type PolicyIssue } from './issues';
import { JsonDocument, preferSemantic, sortIssues } from './jsonDocument';
import { validateInventoryFile } from './schemas';
import type { ProviderId } from '../usage';

/**
 * The workflow inventory of `agent-budget estimate --inventory <file>` (docs/policy.md): the workflows you plan to run,
 * each as runs per month × tokens per run, or × turns per run × tokens per turn.
 */
export interface InventoryWorkflow {
  id: string;
  model: string;
  provider?: ProviderId;
  runsPerMonth: number;
  inputTokensPerRun?: number;
  outputTokensPerRun?: number;
  turnsPerRun?: number;
  inputTokensPerTurn?: number;
  outputTokensPerTurn?: number;
}

export interface Inventory {
  workflows: InventoryWorkflow[];
}

/** Input and output tokens of one run of an inventory entry (turn-based entries multiply out). */
export function tokensPerRun(w: InventoryWorkflow): { input: number; output: number } {
  if (w.turnsPerRun !== undefined) {
    return { input: w.turnsPerRun * (w.inputTokensPerTurn ?? 0), output: w.turnsPerRun * (w.outputTokensPerTurn ?? 0) };
  }
  return { input: w.inputTokensPerRun ?? 0, output: w.outputTokensPerRun ?? 0 };
}

/** Reads and validates an inventory file; throws PolicyError (located issues) when it is invalid or missing. */
export async function loadInventory(
  file: string,
  fs: PolicyFileSystem = nodePolicyFileSystem,
): Promise<{ inventory: Inventory; warnings: PolicyIssue[] }> {
  let text: string;
  try {
    text = await fs.readFile(file);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    const missing: PolicyIssue = {
      severity: 'error',
      file,
      path: '',
      line: 1,
      column: 1,
      offset: 0,
      length: 0,
      message: 'the file does not exist',
    };
    throw new PolicyError(file, [missing]);
  }
  const { inventory, issues } = parseInventoryText(text, file);
  const warnings = issues.filter((i) => i.severity === 'warning');
  if (!inventory)
    throw new PolicyError(
      file,
      issues.filter((i) => i.severity === 'error'),
      warnings,
    );
  return { inventory, warnings };
}

export function parseInventoryText(text: string, file: string): { inventory?: Inventory; issues: PolicyIssue[] } {
  const doc = new JsonDocument(file, text);
  if (doc.syntaxIssues.length) return { issues: doc.syntaxIssues };
  const semantic: PolicyIssue[] = [];
  const v = doc.value as { workflows?: unknown };
  if (v && Array.isArray(v.workflows)) {
    v.workflows.forEach((w: unknown, i: number) => {
      if (w === null || typeof w !== 'object') return;
      const e = w as Record<string, unknown>;
      const perRun = e.inputTokensPerRun !== undefined || e.outputTokensPerRun !== undefined;
      const perTurn =
        e.turnsPerRun !== undefined || e.inputTokensPerTurn !== undefined || e.outputTokensPerTurn !== undefined;
      if (perRun && perTurn) {
        semantic.push(
          doc.issueAt(
            'error',
            ['workflows', i],
            'give either inputTokensPerRun/outputTokensPerRun or turnsPerRun with inputTokensPerTurn/outputTokensPerTurn, not both',
          ),
        );
      } else if (perTurn && e.turnsPerRun === undefined) {
        semantic.push(
          doc.issueAt(
            'error',
            ['workflows', i],
            'missing "turnsPerRun" (needed with inputTokensPerTurn/outputTokensPerTurn)',
          ),
        );
      } else if (!perRun && !perTurn) {
        semantic.push(
          doc.issueAt(
            'error',
            ['workflows', i],
            'missing token counts: give inputTokensPerRun and outputTokensPerRun, or turnsPerRun with inputTokensPerTurn and outputTokensPerTurn',
          ),
        );
      }
    });
  }
  const issues = sortIssues([
    ...preferSemantic(doc.schemaIssues(validateInventoryFile()), semantic),
    ...doc.duplicateKeyWarnings(),
  ]);
  if (issues.some((i) => i.severity === 'error')) return { issues };
  const raw = JSON.parse(JSON.stringify(doc.value)) as Inventory & { $schema?: string };
  return { inventory: { workflows: raw.workflows }, issues };
}
