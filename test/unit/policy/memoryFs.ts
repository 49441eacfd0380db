import { readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { PolicyFileSystem } from '../../../src/core/policy/fileSystem';

/** An in-memory file system: paths → text. Folders are implied by the paths. Missing paths reject with ENOENT. */
export function memoryFs(files: Record<string, string>): PolicyFileSystem & { reads: string[] } {
  const reads: string[] = [];
  const notFound = (path: string) => Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return {
    reads,
    async readFile(path) {
      reads.push(path);
      if (!Object.hasOwn(files, path)) throw notFound(path);
      return files[path]!;
    },
    async readdir(path) {
      // The loaders join paths with the platform's separator (a backslash on Windows), and so do the tests' keys.
      const prefix = path.endsWith(sep) ? path : `${path}${sep}`;
      const names = new Set<string>();
      for (const p of Object.keys(files)) if (p.startsWith(prefix)) names.add(p.slice(prefix.length).split(sep)[0]!);
      if (names.size === 0) throw notFound(path);
      return [...names];
    },
  };
}

export function fixture(name: string): string {
  return readFileSync(join(__dirname, 'fixtures', name), 'utf8');
}

/** 1-based line and column of the first occurrence of `needle` in `text` (to state expected locations plainly). */
export function lineColOf(text: string, needle: string, nth = 0): { line: number; column: number } {
  let at = -1;
  for (let i = 0; i <= nth; i++) {
    at = text.indexOf(needle, at + 1);
    if (at < 0) throw new Error(`"${needle}" not found`);
  }
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  return { line, column: at - before.lastIndexOf('\n') };
}
