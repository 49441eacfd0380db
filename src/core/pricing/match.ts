/** How a served model id finds its price entry: exact ids and aliases, dated snapshots, and the ids that must not. */

/**
 * What may follow a table id in a served model id and still be the same model: a dated snapshot
 * (`-20250929`, `-2024-08-06`), `-latest`, a Bedrock-style `-v1:0`, a Vertex `@20250929`, a `-001` revision or
 * a `-preview-05-20` date. Anything else (`-pro`, `-mini`, `-5`) is a different model with a different price,
 * so `gpt-5-pro` never silently bills as `gpt-5` and a future `claude-opus-4-9` never bills as `claude-opus-4`.
 */
const SNAPSHOT_SUFFIX =
  /^(?:[-@](?:\d{8}|\d{4}-\d{2}-\d{2}|latest|v\d+(?::\d+)?|\d{3}|preview(?:-\d{2}-\d{2}(?:-\d{4})?|-\d{2}-\d{4})?|exp(?:-\d{4}(?:-\d{2}-\d{2})?)?))+$/;

/**
 * Served ids that look like a snapshot of a table id but bill at other rates: the snapshot rule never prices them
 * as that id (an exact table or `prices` entry still does). Each says why, for the UnknownModelError.
 */
export const SNAPSHOTS_PRICED_APART: ReadonlyArray<{ pattern: RegExp; why: string }> = [
  {
    pattern: /^gemini-2\.5-flash-preview-/,
    why: 'the deprecated Gemini 2.5 Flash previews billed at their own preview rates (thinking output priced apart), not as gemini-2.5-flash',
  },
];

/** Aliases a provider repoints to newer models: what they cost changes without their name changing. */
export const MOVING_ALIASES: ReadonlyArray<{ pattern: RegExp; why: string }> = [
  {
    pattern: /^gemini-(?:flash|flash-lite|pro)-latest$/,
    why:
      'Google moves this alias to each new model without notice, so its price changes under the same name; use the ' +
      'model id it serves today (e.g. gemini-3.5-flash, gemini-3.1-pro-preview)',
  },
];

/** True when `model` is `id` or a dated snapshot / alias of it. */
export function isSnapshotOf(model: string, id: string): boolean {
  if (model === id) return true;
  return model.startsWith(id) && SNAPSHOT_SUFFIX.test(model.slice(id.length));
}

/**
 * Finds the entry for a served model id among `entries` (built-ins merged with overrides): an exact id or alias
 * first, else the longest id of which `model` is a snapshot. Case-insensitive, since people type model names.
 */
export function matchModel<T>(
  model: string,
  entries: Readonly<Record<string, T & { aliases?: string[] }>>,
): { key: string; entry: T } | undefined {
  const wanted = model.trim().toLowerCase();
  const pricedApart = SNAPSHOTS_PRICED_APART.some((s) => s.pattern.test(wanted));
  let best: { key: string; entry: T; length: number } | undefined;
  for (const [key, entry] of Object.entries(entries)) {
    for (const id of [key, ...(entry.aliases ?? [])]) {
      const lower = id.toLowerCase();
      if (lower === wanted) return { key, entry };
      if (isSnapshotOf(wanted, lower) && !pricedApart && (!best || lower.length > best.length)) {
        best = { key, entry, length: lower.length };
      }
    }
  }
  return best && { key: best.key, entry: best.entry };
}
