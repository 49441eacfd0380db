import { existsSync } from 'node:fs';
import path from 'node:path';
import initSqlJs, { type SqlJsStatic } from 'sql.js';

let engine: Promise<SqlJsStatic> | undefined;

/**
 * Where sql.js's WebAssembly lives: beside the bundle in dist/ (esbuild.mjs copies it there, and .vscodeignore keeps
 * it), or in node_modules when core runs from source (unit tests).
 */
function wasmPath(): string {
  const besideBundle = path.join(__dirname, 'sql-wasm.wasm');
  if (existsSync(besideBundle)) return besideBundle;
  // Not a literal, so bundlers leave this lookup to run time (it only runs from source).
  const fromSource = ['sql.js', 'dist', 'sql-wasm.wasm'].join('/');
  return require.resolve(fromSource);
}

/** The sql.js engine, loaded once per process. */
export function loadSqlite(): Promise<SqlJsStatic> {
  engine ??= initSqlJs({ locateFile: () => wasmPath() }).catch((err: unknown) => {
    engine = undefined;
    throw new Error(`Could not load SQLite (sql.js WebAssembly at ${wasmPath()}): ${(err as Error).message}`);
  });
  return engine;
}

export type { Database, SqlJsStatic, SqlValue, Statement } from 'sql.js';
