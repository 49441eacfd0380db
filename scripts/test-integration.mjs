// `npm run test:integration`: runs test/integration (mocha) inside the real VS Code extension host.
// code-server's VS Code server + web workbench in headless Chromium; the extension and the test entry are passed
// in the URL payload (the server ignores the CLI flags). See the README's "Tests" section
// Exit code: 0 only when the suite ran, had tests, and none failed or were skipped.
//   --no-build        use the existing dist/ and out/ (npm test builds once before all tiers)
//   --results <file>  where to keep mocha's JSON summary (default out/test-results/integration.json)
import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  ROOT,
  copyWorkspace,
  ensureCodeServer,
  isolatedUserConfig,
  launchBrowser,
  sleep,
  startServer,
  tempDir,
  waitForWorkbench,
} from './vscode-server.mjs';

const args = process.argv.slice(2);
const resultsFile = path.resolve(
  args.includes('--results')
    ? args[args.indexOf('--results') + 1]
    : path.join(ROOT, 'out', 'test-results', 'integration.json'),
);
const TESTS_ENTRY = path.join(ROOT, 'out', 'test', 'integration', 'index.js');
const TIMEOUT_MS = Number(process.env.INTEGRATION_TIMEOUT_MS || 5 * 60_000);
const HOST_LAUNCH_TIMEOUT_MS = 90_000;

const cleanups = [];
let cleaning;
/** Undoes what main() set up, newest first; one pass only, whether main, Ctrl+C or both ask for it. */
function cleanup() {
  cleaning ??= (async () => {
    while (cleanups.length) {
      try {
        await cleanups.pop()();
      } catch (error) {
        console.error('cleanup:', error.message);
      }
    }
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    console.error(`\n${signal}: stopping the server and the browser…`);
    await cleanup();
    process.exit(130);
  });
}

async function main() {
  const started = Date.now();
  if (!args.includes('--no-build')) {
    const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('npm run build failed');
  }
  if (!existsSync(TESTS_ENTRY)) throw new Error(`${path.relative(ROOT, TESTS_ENTRY)} is missing: run npm run build`);
  await ensureCodeServer();

  const tmp = await tempDir('agent-budget-integration');
  if (!process.env.KEEP_TMP) cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
  const workspace = copyWorkspace(tmp);
  const serverDataDir = path.join(tmp, 'server-data');
  const userDataDir = path.join(tmp, 'user-data');
  rmSync(resultsFile, { force: true });
  mkdirSync(path.dirname(resultsFile), { recursive: true }); // a fresh clone has no out/ yet
  const consoleLog = resultsFile.replace(/\.json$/, '') + '-console.log';
  const serverLogCopy = resultsFile.replace(/\.json$/, '') + '-server.log';
  writeFileSync(consoleLog, '');

  const server = await startServer({
    extensionDevelopmentPath: ROOT,
    serverDataDir,
    userDataDir,
    // VS Code refuses to show the trust dialog while extension tests run, so nobody could trust the folder:
    // run trusted, as desktop test runs do (the e2e tier covers Restricted Mode).
    workspaceTrust: false,
    // The extension host inherits the server's environment: this is how the suite learns where to write.
    env: {
      AGENT_BUDGET_TEST_RESULTS: resultsFile,
      AGENT_BUDGET_TEST_SCAN_DIRS: [serverDataDir, userDataDir, workspace].join(path.delimiter),
      // The user's own policy (user.json) of this run, in its temp dir: a developer's real one never changes a test.
      ...isolatedUserConfig(tmp),
    },
  });
  cleanups.push(async () => {
    await server.stop();
    copyFileSync(server.logFile, serverLogCopy); // the temp dir goes; keep the log beside the results
  });
  console.log(`VS Code server on port ${server.port} (log: ${path.relative(ROOT, serverLogCopy)} when done)`);

  const browser = await launchBrowser();
  cleanups.push(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  // A test index that throws while loading shows up only in the workbench's console: keep its errors for the report.
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    appendFileSync(consoleLog, `${message.type()}: ${message.text()}\n`);
    // Offline noise (no marketplace, no service worker in this server build) is not what went wrong.
    const noise =
      /Failed to load resource|Service Worker|ServiceWorker|ENOTFOUND|ERR_NAME_NOT_RESOLVED|bad HTTP response code/;
    if (message.type() === 'error' && !noise.test(message.text()))
      pageErrors.push(message.text().split('\n').slice(0, 6).join('\n    '));
  });
  await page.goto(server.url(workspace, [['extensionTestsPath', server.remoteUri(TESTS_ENTRY)]]));
  await waitForWorkbench(page).catch((error) => {
    throw new Error(`the workbench did not load: ${error.message}\nServer log:\n${server.logTail()}`);
  });

  const deadline = Date.now() + TIMEOUT_MS;
  const launchDeadline = Date.now() + HOST_LAUNCH_TIMEOUT_MS;
  let hostExited = false;
  let problem;
  while (!existsSync(resultsFile)) {
    const log = readFileSync(server.logFile, 'utf8');
    if (!/Launched Extension Host Process/.test(log) && Date.now() > launchDeadline) {
      problem = `the extension host did not start within ${HOST_LAUNCH_TIMEOUT_MS / 1000} s`;
      break;
    }
    if (/Extension Host Process exited with code/.test(log)) {
      // The host exits right after run() settles; give the results file a moment, then report what happened.
      if (hostExited) break;
      hostExited = true;
      await sleep(2000);
      continue;
    }
    if (Date.now() > deadline) break;
    await sleep(500);
  }
  if (!existsSync(resultsFile)) {
    throw new Error(
      (problem ??
        (hostExited
          ? 'the extension host exited without writing test results (the test index failed to load?)'
          : `no test results after ${TIMEOUT_MS / 1000} s: the suite never finished`)) +
        `\nLast errors in the workbench console (all of it: ${path.relative(ROOT, consoleLog)}):\n  ${pageErrors.slice(-4).join('\n  ') || 'none'}` +
        `\nLast lines of the server log (${server.logFile}):\n${server.logTail(60)}`,
    );
  }
  const results = JSON.parse(readFileSync(resultsFile, 'utf8'));
  printReport(results, Date.now() - started);
  if (results.failures > 0 || results.tests === 0 || results.pending > 0 || results.passes === 0) process.exitCode = 1;
}

function printReport(results, elapsedMs) {
  console.log(`\nIntegration (real extension host, VS Code 1.100.3 via code-server):`);
  const mark = { passed: '✓', failed: '✗', pending: '-' };
  for (const test of results.testDetails) console.log(`  ${mark[test.state]} ${test.title}`);
  for (const failure of results.failureDetails) {
    console.log(`\n  ✗ ${failure.title}\n      ${failure.message.split('\n').join('\n      ')}`);
  }
  console.log(
    `  ${results.passes} passing, ${results.failures} failing, ${results.pending} pending ` +
      `(mocha ${results.durationMs} ms, whole run ${Math.round(elapsedMs / 1000)} s)`,
  );
  if (results.tests === 0) console.log('  ✗ no tests ran');
  if (results.pending > 0) console.log('  ✗ skipped tests are failures here');
}

try {
  await main();
} catch (error) {
  console.error(`\nIntegration tests could not run: ${error.message}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
