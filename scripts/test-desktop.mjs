// `npm run test:desktop`: the same integration suite (out/test/integration/index.js) in desktop VS Code through
// @vscode/test-electron, for machines that can download VS Code (or have one: VSCODE_EXECUTABLE=/path/to/code).
// On machines without internet it fails with a clear message instead of hanging; use `npm run test:integration`.
//   VSCODE_VERSION=1.100.3   which VS Code to download (default: the offline test host's version)
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { downloadAndUnzipVSCode, runTests } from '@vscode/test-electron';
import { isolatedUserConfig } from './vscode-server.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DOWNLOAD_TIMEOUT_MS = 120_000;

async function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function main() {
  if (spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' }).status !== 0)
    throw new Error('npm run build failed');

  let vscodeExecutablePath = process.env.VSCODE_EXECUTABLE;
  if (!vscodeExecutablePath) {
    const version = process.env.VSCODE_VERSION || '1.100.3';
    try {
      vscodeExecutablePath = await withTimeout(
        downloadAndUnzipVSCode({ version, cachePath: path.join(ROOT, '.vscode-test'), timeout: 30_000 }),
        DOWNLOAD_TIMEOUT_MS,
        'downloading VS Code',
      );
    } catch (error) {
      throw new Error(
        `could not download VS Code ${version} (${error.message}).\n` +
          'This machine probably has no internet. Either point VSCODE_EXECUTABLE at an installed VS Code binary,\n' +
          'or run the same suite in the real VS Code from the npm registry: npm run test:integration',
        { cause: error },
      );
    }
  }

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'agent-budget-desktop-'));
  try {
    const workspace = path.join(tmp, 'demo');
    cpSync(path.join(ROOT, 'demo'), workspace, { recursive: true });
    const userDataDir = path.join(tmp, 'user-data');
    const results = path.join(ROOT, 'out', 'test-results', 'desktop.json');
    rmSync(results, { force: true });
    const exit = await runTests({
      vscodeExecutablePath,
      extensionDevelopmentPath: ROOT,
      extensionTestsPath: path.join(ROOT, 'out', 'test', 'integration', 'index.js'),
      launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust', '--user-data-dir', userDataDir],
      extensionTestsEnv: {
        AGENT_BUDGET_TEST_RESULTS: results,
        AGENT_BUDGET_TEST_SCAN_DIRS: [userDataDir, workspace].join(path.delimiter),
        ...isolatedUserConfig(tmp), // the user's own policy (user.json) of this run, never the developer's
      },
    });
    if (!existsSync(results)) throw new Error(`VS Code exited (${exit}) without writing test results`);
    const summary = JSON.parse(readFileSync(results, 'utf8'));
    console.log(
      `\nDesktop integration: ${summary.passes} passing, ${summary.failures} failing, ${summary.pending} pending`,
    );
    if (exit !== 0 || summary.failures > 0 || summary.pending > 0 || summary.tests === 0) process.exitCode = 1;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  console.error(`\nDesktop tests could not run: ${error.message}`);
  process.exitCode = 1;
}
