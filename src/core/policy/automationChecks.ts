import type { JsonDocument } from './jsonDocument';
import type { PolicyIssue } from './issues';
import { isWorkflowId, WORKFLOW_ID_RULE } from './workflowTypes';

/**
 * Checks JSON Schema cannot express for the policy keys that act on runs rather than limit them: `hooks` (one hook
 * or a list; a command or a URL, never both) and `experiments` (ids, one share per variant adding up to 100,
 * distinct variants). Each reports at the exact path (load.ts merges them with the schema's issues).
 */

type Segs = (string | number)[];

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function entries(v: unknown): [string, unknown][] {
  return isObject(v) ? Object.keys(v).map((k) => [k, v[k]]) : [];
}

export function hookProblems(
  hooks: unknown,
  doc: JsonDocument,
  checkUrl: (segs: Segs, url: string) => void,
): PolicyIssue[] {
  const out: PolicyIssue[] = [];
  const error = (segs: Segs, message: string) => out.push(doc.issueAt('error', segs, message));
  for (const [event, written] of entries(hooks)) {
    const list = Array.isArray(written)
      ? written.map((h, i) => [[event, i], h] as const)
      : [[[event], written] as const];
    for (const [segs, hook] of list) {
      if (!isObject(hook)) continue;
      const at = ['hooks', ...segs];
      if (hook.command === undefined && hook.url === undefined)
        error(at, 'needs a "command" (run with the event on its stdin) or a "url" (a webhook)');
      if (hook.command !== undefined && hook.url !== undefined)
        error(at, 'has both "command" and "url"; a hook is one or the other (write two hooks in a list)');
      if (hook.url === undefined || hook.command !== undefined) {
        if (typeof hook.command === 'string' && hook.command.trim() === '')
          error([...at, 'command'], 'must be a command to run, got an empty string');
      } else if (hook.timeoutSeconds !== undefined) {
        error([...at, 'timeoutSeconds'], 'applies to a command; a webhook is retried like budget alerts');
      }
      if (typeof hook.url === 'string') checkUrl([...at, 'url'], hook.url);
    }
  }
  return out;
}

/** Experiments: ids, a split per variant summing to 100, distinct variants. */
export function experimentProblems(experiments: unknown, doc: JsonDocument): PolicyIssue[] {
  const out: PolicyIssue[] = [];
  const error = (segs: Segs, message: string, at: 'value' | 'key' = 'value') =>
    out.push(doc.issueAt('error', segs, message, at));
  for (const [id, exp] of entries(experiments)) {
    if (!isWorkflowId(id)) error(['experiments', id], `"${id}" is not a workflow id: use ${WORKFLOW_ID_RULE}`, 'key');
    if (!isObject(exp) || !Array.isArray(exp.variants)) continue;
    const variants = exp.variants as unknown[];
    const keys = variants.map((x) => (isObject(x) ? `${String(x.model ?? '')}@${String(x.promptVersion ?? '')}` : ''));
    keys.forEach((key, i) => {
      const first = keys.indexOf(key);
      if (first < i) error(['experiments', id, 'variants', i], `is the same variant as variants[${first}]`);
    });
    variants.forEach((x, i) => {
      if (isObject(x) && x.model === undefined && x.promptVersion === undefined)
        error(['experiments', id, 'variants', i], 'needs a "model", a "promptVersion", or both');
    });
    if (Array.isArray(exp.split)) {
      const split = exp.split as unknown[];
      if (split.length !== variants.length)
        error(
          ['experiments', id, 'split'],
          `has ${split.length} shares for ${variants.length} variants; give one per variant`,
        );
      else if (split.every((x) => typeof x === 'number')) {
        const sum = (split as number[]).reduce((a, b) => a + b, 0);
        if (Math.abs(sum - 100) > 1e-9)
          error(['experiments', id, 'split'], `must add up to 100 (percent of runs), got ${sum}`);
      }
    }
  }
  return out;
}
