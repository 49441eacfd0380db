import { readFile, readdir } from 'node:fs/promises';

/**
 * What the policy, workflow and inventory loaders need from a file system. Injected so tests hand in a map of
 * files and the VS Code side can read through `workspace.fs` if it wants to. A missing file or folder must reject
 * with an error whose `code` is `'ENOENT'` (as node:fs does).
 */
export interface PolicyFileSystem {
  /** The file's text (UTF-8). */
  readFile(path: string): Promise<string>;
  /** Names (not paths) of the entries of a folder. */
  readdir(path: string): Promise<string[]>;
}

export const nodePolicyFileSystem: PolicyFileSystem = {
  readFile: (path) => readFile(path, 'utf8'),
  readdir: (path) => readdir(path),
};

export function isNotFound(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
