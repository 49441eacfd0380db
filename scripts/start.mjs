// `npm start`: build, then serve the real VS Code (code-server's VS Code server + web workbench) with this
// extension loaded for development, on demo/, and print the URL to open. Ctrl+C stops the server.
//   PORT=9000 npm start     another port (default 8080)
//   npm start -- <folder>   another workspace folder instead of demo/
//   npm start -- --fake-providers
//                           local fake Anthropic, OpenAI and Gemini servers (test/fakes, the real wire formats)
//                           instead of the real APIs: every workflow runs with any key, offline, for free
// Settings, secrets and Agent Budget's state (spend, runs: .vscode-test/start/state, the per-user state root of this
// server) persist under .vscode-test/start/ between runs (delete it for a fresh start).
// Edit code and reload the browser tab after `npm run build` (or run `npm run watch` beside it).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { ensureDependencies, npmRun, ROOT } from './project.mjs';
import { ensureCodeServer, startServer, writeEndpointSettings } from './vscode-server.mjs';

await ensureDependencies();
// Imported only now: on a fresh clone node_modules appears in ensureDependencies.
const { default: jsonc } = await import('jsonc-parser');
if (npmRun('build') !== 0) {
  console.error('npm run build failed');
  process.exit(1);
}
await ensureCodeServer();

const port = Number(process.env.PORT || 8080);
const args = process.argv.slice(2);
const fakeProviders = args.includes('--fake-providers');
const unknown = args.filter((a) => a.startsWith('--') && a !== '--fake-providers');
if (unknown.length) {
  console.error(`npm start: unknown option ${unknown.join(' ')} (options: --fake-providers, or a folder to open)`);
  process.exit(1);
}
const folder = path.resolve(args.find((a) => !a.startsWith('--')) ?? path.join(ROOT, 'demo'));
const data = path.join(ROOT, '.vscode-test', 'start');
// First run only: open the demo's README instead of VS Code's walkthrough, and don't offer to open the parent repo.
const settings = path.join(data, 'user-data', 'User', 'settings.json');
if (!existsSync(settings)) {
  mkdirSync(path.dirname(settings), { recursive: true });
  writeFileSync(
    settings,
    JSON.stringify(
      {
        'workbench.startupEditor': 'readme',
        'git.openRepositoryInParentFolders': 'never',
        'telemetry.telemetryLevel': 'off',
      },
      null,
      2,
    ),
  );
}

const fakes = fakeProviders ? await startFakes() : undefined;
// The endpoint settings point at the fakes for this run only: a later plain `npm start` talks to the real APIs.
writeEndpointSettings(path.join(data, 'user-data'), fakes?.urls, jsonc);

let server;
try {
  server = await startServer({
    extensionDevelopmentPath: ROOT,
    serverDataDir: path.join(data, 'server-data'),
    userDataDir: path.join(data, 'user-data'),
    port,
    logFile: path.join(data, 'server.log'),
    env: { AGENT_BUDGET_STATE_HOME: path.join(data, 'state') },
  });
} catch (error) {
  console.error(
    `Could not start VS Code on port ${port}: ${error.message}\n(Is the port taken? Try PORT=8081 npm start.)`,
  );
  fakes?.child.kill();
  process.exit(1);
}

console.log(`
Agent Budget is running in VS Code 1.100.3 (from code-server) on ${path.relative(ROOT, folder) || folder}.
Open this URL in a browser:

  ${server.url(folder)}

Server log: ${path.relative(ROOT, server.logFile)}. Press Ctrl+C to stop.`);
if (fakes) {
  console.log(`
Fake providers (no real API is called; replies are canned and usage is made up): ${fakes.urls.anthropic.replace(/\/anthropic$/, '')}
Set any key with "Agent Budget: Set API Key…" (e.g. sk-ant-demo-0000000000000000), then run a workflow.`);
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping VS Code…');
    fakes?.child.kill();
    await server.stop();
    process.exit(0);
  });
}
const exit = await server.exited;
fakes?.child.kill();
if (!stopping) {
  console.error(
    `VS Code server exited by itself (${JSON.stringify(exit)}). Last lines of its log:\n${server.logTail()}`,
  );
  process.exit(1);
}

/** Starts test/fakes/serve.ts and reads the base URLs it prints. */
async function startFakes() {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'fakes', 'serve.ts')], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const first = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the fake providers exited (${code}) before they listened`)));
  });
  return { child, urls: JSON.parse(first) };
}
