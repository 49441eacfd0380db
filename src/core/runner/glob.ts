/**
 * Glob patterns for the `listFiles` and `searchText` tools, matched against workspace-relative paths with `/`
 * separators. A small matcher of our own rather than a dependency: Node 20 has no fs.glob (path.matchesGlob is
 * experimental there and absent from older extension hosts), and the tools need only this much:
 *
 * - `*` any characters but `/`; `?` one character but `/`; `**` as a whole segment any number of segments;
 * - `{a,b,c}` alternatives (not nested); `[abc]`, `[a-z]`, `[!abc]` character classes;
 * - a pattern without `/` matches the file name at any depth (`*.ts` = `**\/*.ts`), as models expect.
 */
export function globToRegExp(pattern: string): RegExp {
  let p = pattern.trim().replace(/\\/g, '/').replace(/^\.\//, '');
  if (p === '') p = '**';
  if (!p.includes('/')) p = `**/${p}`;
  let re = '';
  let i = 0;
  let inGroup = false;
  while (i < p.length) {
    const c = p[i]!;
    if (c === '*') {
      if (p[i + 1] === '*') {
        const atStart = i === 0 || p[i - 1] === '/';
        const atEnd = i + 2 === p.length || p[i + 2] === '/';
        if (atStart && atEnd) {
          // `**/` matches zero or more whole segments; a trailing `**` matches everything below.
          if (i + 2 === p.length) re += '.*';
          else re += '(?:[^/]*/)*';
          i += 3;
          continue;
        }
        re += '[^/]*';
        i += 2;
        continue;
      }
      re += '[^/]*';
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '{' && !inGroup) {
      inGroup = true;
      re += '(?:';
    } else if (c === '}' && inGroup) {
      inGroup = false;
      re += ')';
    } else if (c === ',' && inGroup) {
      re += '|';
    } else if (c === '[') {
      const close = p.indexOf(']', i + 2);
      if (close < 0) {
        re += '\\[';
      } else {
        let body = p.slice(i + 1, close);
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close + 1;
        continue;
      }
    } else {
      re += c.replace(/[.+^$()|\\]/g, '\\$&');
    }
    i += 1;
  }
  if (inGroup) throw new Error(`unclosed "{" in the pattern "${pattern}"`);
  return new RegExp(`^${re}$`);
}

export function matchesGlob(relativePath: string, pattern: string): boolean {
  return globToRegExp(pattern).test(relativePath);
}
