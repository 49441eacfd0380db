/**
 * `rules[].when.modelMatches`: a case-insensitive regular expression searched in the model id ("opus" matches
 * "claude-opus-4-1"); `/pattern/flags` is accepted too, with its own flags (i, m, s, u). Compiled once per pattern.
 */

const cache = new Map<string, RegExp>();

/** Why the pattern cannot be used, in plain words; undefined when it compiles. */
export function modelMatchProblem(pattern: string): string | undefined {
  try {
    toRegExp(pattern);
    return undefined;
  } catch (err) {
    return `is not a valid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '')}`;
  }
}

function toRegExp(pattern: string): RegExp {
  const slashed = /^\/(.+)\/([a-z]*)$/s.exec(pattern);
  if (slashed) {
    const flags = slashed[2]!;
    const bad = flags.replace(/[imsu]/g, '');
    if (bad) throw new Error(`flag "${bad[0]}" is not allowed (use i, m, s or u)`);
    return new RegExp(slashed[1]!, flags);
  }
  return new RegExp(pattern, 'i');
}

/** Compiles (and caches) a modelMatches pattern. Throws for a pattern modelMatchProblem rejects. */
export function modelMatcher(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (!re) {
    re = toRegExp(pattern);
    cache.set(pattern, re);
  }
  return re;
}

/** True when `model` matches the rule's pattern. */
export function modelMatches(pattern: string, model: string): boolean {
  return modelMatcher(pattern).test(model);
}
