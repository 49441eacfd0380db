import { applyEdits, findNodeAtLocation, modify, parseTree } from 'jsonc-parser/lib/esm/main.js'; // see jsonDocument.ts

/**
 * Promote Variant as a text edit of the policy file that holds the experiment: the winner goes into the workflow's
 * routing (`workflows.<id>.model`, `workflows.<id>.promptVersion`) and the experiment is ended (`experiments.<id>`
 * removed, and `experiments` when it was the last), keeping the file's comments — the same edit a person would
 * make, shown to them and undoable. Only the object that gains a key is laid out anew (jsonc-parser formats what it
 * inserts); removals leave the rest of the file as written.
 */
export function promoteText(
  text: string,
  workflow: string,
  variant: { model?: string; promptVersion?: string },
): string {
  const options = { formattingOptions: { insertSpaces: true, tabSize: 2, eol: text.includes('\r\n') ? '\r\n' : '\n' } };
  let out = text;
  const set = (path: (string | number)[], value: unknown) => (out = applyEdits(out, modify(out, path, value, options)));
  // Removed without formatting: jsonc-parser would reflow the previous sibling too.
  const remove = (path: (string | number)[]) => (out = applyEdits(out, modify(out, path, undefined, {})));
  if (variant.model !== undefined) set(['workflows', workflow, 'model'], variant.model);
  if (variant.promptVersion !== undefined) set(['workflows', workflow, 'promptVersion'], variant.promptVersion);
  remove(['experiments', workflow]);
  const experiments = findNodeAtLocation(parseTree(out)!, ['experiments']);
  if (experiments && experiments.type === 'object' && (experiments.children?.length ?? 0) === 0)
    remove(['experiments']);
  return out;
}

/** The one edit that turns `before` into `after`: the stretch between their common start and end. */
export function minimalEdit(before: string, after: string): { offset: number; length: number; text: string } {
  let start = 0;
  while (start < before.length && start < after.length && before[start] === after[start]) start++;
  let end = 0;
  while (
    end < before.length - start &&
    end < after.length - start &&
    before[before.length - 1 - end] === after[after.length - 1 - end]
  )
    end++;
  return { offset: start, length: before.length - start - end, text: after.slice(start, after.length - end) };
}
