// One esbuild context per bundle: extension host (node/cjs, `vscode` external), CLI (node/cjs),
// webview (browser/iife), plus the integration-test entry that runs inside the extension host.
// Usage: node esbuild.mjs [--watch] [--production]
import * as esbuild from 'esbuild';
import { copyFile, mkdir, readdir } from 'node:fs/promises';
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

/**
 * `import testFiles from 'virtual:integration-tests'` in test/integration/index.ts: every *.test.ts under
 * test/integration as [path, () => require(path)]. The requires are lazy because mocha must put `describe`/`it`
 * on the global object before a test file runs; a new test file needs no edit to the index.
 */
const integrationTests = {
  name: 'integration-tests',
  setup(build) {
    const dir = path.resolve('test/integration');
    build.onResolve({ filter: /^virtual:integration-tests$/ }, () => ({ path: dir, namespace: 'integration-tests' }));
    build.onLoad({ filter: /.*/, namespace: 'integration-tests' }, async () => {
      const files = (await readdir(dir, { recursive: true }))
        .filter((f) => f.endsWith('.test.ts'))
        .map((f) => f.split(path.sep).join('/'))
        .sort();
      const entries = files.map((f) => `  [${JSON.stringify(f)}, () => require(${JSON.stringify('./' + f)})],`);
      return {
        contents: `module.exports = [\n${entries.join('\n')}\n];\n`,
        resolveDir: dir,
        loader: 'js',
        watchDirs: [dir],
      };
    });
  },
};

/** @type {import('esbuild').BuildOptions[]} */
export const bundles = [
  { ...node, entryPoints: ['src/vscode/extension.ts'], outfile: 'dist/extension.js' },
  { ...node, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  // OpenAI's o200k tokenizer (~2 MB of ranks) is its own file, required lazily beside the bundle that needs it
  // (src/core/providers/estimate.ts), so activation never loads it.
  { ...node, entryPoints: ['src/core/providers/o200k.ts'], outfile: 'dist/o200k.js' },
  // The second price source (@pydantic/genai-prices, ~480 KB of data) likewise, required only for a model the
  // built-in table lacks (src/core/pricing/secondSource.ts).
  { ...node, entryPoints: ['src/core/pricing/genaiPrices.ts'], outfile: 'dist/genaiPrices.js' },
  // node-postgres for the team ledger, likewise required lazily (src/core/team/postgresLedger.ts) and only when a
  // team ledger is configured. Its optional native and Cloudflare back ends are never loaded.
  {
    ...node,
    entryPoints: ['src/core/team/pgDriver.ts'],
    outfile: 'dist/pgDriver.js',
    external: ['vscode', 'pg-native', 'pg-cloudflare'],
  },
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
    // dist/webview/ holds everything the page loads (its stylesheet lands beside it) and nothing else: it is the
    // panel's only localResourceRoot (src/vscode/budgetPanel.ts).
    outfile: 'dist/webview/webview.js',
    plugins: [problemMatcher],
  },
  {
    // The run view's page (src/vscode/runView.ts): its own bundle, so the budget panel does not load markdown-it
    // and DOMPurify, nor the run view the panel's charts. Its stylesheet lands beside it as run.css.
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    sourcemap: !production,
    sourcesContent: false,
    minify: production,
    logLevel: 'warning',
    entryPoints: { run: 'src/webview/run/main.ts' },
    outdir: 'dist/webview',
    plugins: [problemMatcher],
  },
  {
    ...node,
    entryPoints: ['test/integration/index.ts'],
    outfile: 'out/test/integration/index.js',
    // mocha stays a runtime require from node_modules: its reporters and loaders do not survive bundling.
    external: ['vscode', 'mocha'],
    plugins: [integrationTests, problemMatcher],
  },
];

async function copyAssets() {
  await mkdir('dist/webview', { recursive: true });
  // sql.js loads its WebAssembly from beside the bundle (see src/core/store/sqlite.ts).
  await copyFile(require.resolve('sql.js/dist/sql-wasm.wasm'), path.join('dist', 'sql-wasm.wasm'));
  // The codicon stylesheet finds its font beside it (`url("./codicon.ttf")`): both go to the page's folder.
  const codicons = path.dirname(require.resolve('@vscode/codicons/dist/codicon.css'));
  await copyFile(path.join(codicons, 'codicon.css'), path.join('dist', 'webview', 'codicon.css'));
  await copyFile(path.join(codicons, 'codicon.ttf'), path.join('dist', 'webview', 'codicon.ttf'));
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
