// One esbuild context per bundle: extension host (node/cjs, `vscode` external), CLI (node/cjs),
// webview (browser/iife), plus the integration-test entry that runs inside the extension host.
// Usage: node esbuild.mjs [--watch] [--production]
import * as esbuild from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

/** Prints errors as `file:line:col: error: text` so the `$esbuild-watch` problem matcher can read them. */
const problemMatcher = {
  name: 'problem-matcher',
  setup(build) {
    if (watch) build.onStart(() => console.log('[watch] build started'));
    build.onEnd((result) => {
      for (const { text, location } of result.errors) {
        console.error(`✘ [ERROR] ${text}`);
        if (location) console.error(`    ${location.file}:${location.line}:${location.column}:`);
      }
      if (watch) console.log('[watch] build finished');
    });
  },
};

const node = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: !production,
  sourcesContent: false,
  minify: production,
  logLevel: 'warning',
  external: ['vscode'],
  plugins: [problemMatcher],
};

/** @type {import('esbuild').BuildOptions[]} */
export const bundles = [
  { ...node, entryPoints: ['src/vscode/extension.ts'], outfile: 'dist/extension.js' },
  { ...node, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  {
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    sourcemap: !production,
    sourcesContent: false,
    minify: production,
    logLevel: 'warning',
    entryPoints: ['src/webview/main.ts'],
    outfile: 'dist/webview.js',
    plugins: [problemMatcher],
  },
];

async function copyAssets() {
  await mkdir('dist', { recursive: true });
  // sql.js loads its WebAssembly from beside the bundle (see src/core/store/sqlite.ts).
  await copyFile(require.resolve('sql.js/dist/sql-wasm.wasm'), path.join('dist', 'sql-wasm.wasm'));
  const codicons = path.dirname(require.resolve('@vscode/codicons/dist/codicon.css'));
  await copyFile(path.join(codicons, 'codicon.css'), path.join('dist', 'codicon.css'));
  await copyFile(path.join(codicons, 'codicon.ttf'), path.join('dist', 'codicon.ttf'));
}

async function main() {
  await copyAssets();
  const contexts = await Promise.all(bundles.map((options) => esbuild.context(options)));
  if (watch) {
    await Promise.all(contexts.map((context) => context.watch()));
    return;
  }
  try {
    const results = await Promise.all(contexts.map((context) => context.rebuild()));
    if (results.some((r) => r.errors.length > 0)) process.exitCode = 1;
  } catch {
    process.exitCode = 1;
  } finally {
    await Promise.all(contexts.map((context) => context.dispose()));
  }
}

await main();
