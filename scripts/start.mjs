// `npm start`: build, then serve the real VS Code (code-server's VS Code server + web workbench) with this
// extension loaded for development, on demo/, and print the URL to open. Ctrl+C stops the server.
//   PORT=9000 npm start     another port (default 8080)
//   npm start -- <folder>   another workspace folder instead of demo/
// Settings, state and secrets persist under .vscode-test/start/ between runs (delete it for a fresh start).
// Edit code and reload the browser tab after `npm run build` (or run `npm run watch` beside it).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureDependencies, npmRun, ROOT } from './project.mjs';
import { ensureCodeServer, startServer } from './vscode-server.mjs';

await ensureDependencies();
if (npmRun('build') !== 0) {
  console.error('npm run build failed');
  process.exit(1);
}
await ensureCodeServer();

const port = Number(process.env.PORT || 8080);
const folder = path.resolve(process.argv[2] ?? path.join(ROOT, 'demo'));
const data = path.join(ROOT, '.vscode-test', 'start');
// First run only: open the demo's README instead of VS Code's walkthrough, and don't offer to open the parent repo.
const settings = path.join(data, 'user-data', 'User', 'settings.json');
if (!existsSync(settings)) {
  mkdirSync(path.dirname(settings), { recursive: true });
  writeFileSync(
    settings,
    JSON.stringify({ 'workbench.startupEditor': 'readme', 'git.openRepositoryInParentFolders': 'never', 'telemetry.telemetryLevel': 'off' }, null, 2),
  );
}
let server;
try {
  server = await startServer({
    extensionDevelopmentPath: ROOT,
    serverDataDir: path.join(data, 'server-data'),
    userDataDir: path.join(data, 'user-data'),
    port,
    logFile: path.join(data, 'server.log'),
  });
} catch (error) {
  console.error(`Could not start VS Code on port ${port}: ${error.message}\n(Is the port taken? Try PORT=8081 npm start.)`);
  process.exit(1);
}

console.log(`
Agent Budget is running in VS Code 1.100.3 (from code-server) on ${path.relative(ROOT, folder) || folder}.
Open this URL in a browser:

  ${server.url(folder)}

Server log: ${path.relative(ROOT, server.logFile)}. Press Ctrl+C to stop.`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping VS Code…');
    await server.stop();
    process.exit(0);
  });
}
const exit = await server.exited;
if (!stopping) {
  console.error(`VS Code server exited by itself (${JSON.stringify(exit)}). Last lines of its log:\n${server.logTail()}`);
  process.exit(1);
}
