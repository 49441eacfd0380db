import { join } from 'node:path';
import { isNotFound, nodePolicyFileSystem, type PolicyFileSystem } from '../policy/fileSystem';
import { workflowsDir } from '../policy/workflowFile';
import { BUILTIN_WORKFLOWS } from '../runner/builtins';
import { contentHash } from './effectivePolicy';

/** A workspace file that takes a built-in workflow's id, so the built-in's commands run the repository's steps. */
export interface WorkflowReplacement {
  /** The built-in's id (`code-review`). */
  id: string;
  /** `<folder>/.agent-budget/workflows/<id>.json`. */
  file: string;
  /** sha256 of its content: the one-time notice is per content. */
  hash: string;
}

/**
 * Which built-in workflows this folder's `.agent-budget/workflows/` replaces (a file with the built-in's id, valid
 * or not: an invalid one stops the built-in's command just the same). Read where the runner reads them
 * (`loadWorkflow`), so a file the runner would use is one this finds, on case-insensitive file systems too.
 */
export async function workflowReplacements(
  folder: string,
  fs: PolicyFileSystem = nodePolicyFileSystem,
): Promise<WorkflowReplacement[]> {
  const found: WorkflowReplacement[] = [];
  for (const { id } of BUILTIN_WORKFLOWS) {
    const file = join(workflowsDir(folder), `${id}.json`);
    try {
      found.push({ id, file, hash: contentHash(await fs.readFile(file)) });
    } catch (err) {
      // No file; or one that cannot be read, which the runner reports when the command runs.
      if (!isNotFound(err)) continue;
    }
  }
  return found;
}
