// The real VS Code on machines without internet: VS Code's server and web workbench from the `code-server`
// npm package, driven by Debian's Chromium through playwright-core. Every harness (npm start, the integration
// tier, the e2e tier) goes through this file. Recipe and gotchas: the README's "Tests" section
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** code-server 4.100.3 = VS Code 1.100.3, the last line that runs on Node 20 (later ones need Node 22+). */
export const CODE_SERVER_VERSION = '4.100.3';
/** The @vscode/ripgrep version inside that code-server; its postinstall looks for a cached tarball named after it. */
const RIPGREP_PACKAGE_VERSION = '1.15.11';
const RIPGREP_TARBALL = 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz';

export const CODE_SERVER_DIR = path.join(ROOT, '.vscode-test', 'code-server');
const MARKER = path.join(CODE_SERVER_DIR, `.installed-${CODE_SERVER_VERSION}`);
const INSTALL_LOG = path.join(CODE_SERVER_DIR, 'install.log');
export const SERVER_MAIN = path.join(
  CODE_SERVER_DIR,
  'node_modules',
  'code-server',
  'lib',
  'vscode',
  'out',
  'server-main.js',
);
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const log = (message) => process.stderr.write(`[vscode-server] ${message}\n`);

function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function which(command) {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/** Path of the server's entry point, installing code-server first if it is not there yet. Idempotent. */
export async function ensureCodeServer() {
  if (existsSync(MARKER) && existsSync(SERVER_MAIN)) return SERVER_MAIN;
  mkdirSync(CODE_SERVER_DIR, { recursive: true });
  const release = await lock(path.join(CODE_SERVER_DIR, '.install.lock'));
  try {
    if (existsSync(MARKER) && existsSync(SERVER_MAIN)) return SERVER_MAIN; // another process finished it meanwhile
    installCodeServer();
    return SERVER_MAIN;
  } finally {
    release();
  }
}

function installCodeServer() {
  const started = Date.now();
  log(
    `installing code-server ${CODE_SERVER_VERSION} into ${path.relative(ROOT, CODE_SERVER_DIR)} (first run only, 1–3 minutes)…`,
  );
  const rg = which('rg');
  if (!rg) {
    throw new Error(
      'code-server needs ripgrep, and its installer cannot download it here. Install it first: apt-get install -y ripgrep',
    );
  }
  if (!existsSync('/usr/include/node/node.h') && !process.env.npm_config_nodedir) {
    log('warning: no Node headers in /usr/include/node; node-pty may fail to build (npm config nodedir)');
  }
  // @vscode/ripgrep's postinstall downloads rg from GitHub unless it finds this tarball in $TMPDIR first.
  const tmp = path.join(CODE_SERVER_DIR, 'tmp');
  const cache = path.join(tmp, `vscode-ripgrep-cache-${RIPGREP_PACKAGE_VERSION}`);
  mkdirSync(cache, { recursive: true });
  const tar = spawnSync('tar', ['-czf', path.join(cache, RIPGREP_TARBALL), '-C', path.dirname(rg), path.basename(rg)]);
  if (tar.status !== 0) throw new Error(`could not pack ${rg} for @vscode/ripgrep: ${tar.stderr}`);

  writeFileSync(path.join(CODE_SERVER_DIR, 'package.json'), JSON.stringify({ name: 'cs-cache', private: true }) + '\n');
  const out = openSync(INSTALL_LOG, 'w');
  const npm = spawnSync(
    'npm',
    ['install', '--no-audit', '--no-fund', '--save-exact', `code-server@${CODE_SERVER_VERSION}`],
    {
      cwd: CODE_SERVER_DIR,
      stdio: ['ignore', out, out],
      env: {
        ...process.env,
        TMPDIR: tmp,
        // code-server's postinstall runs `npm install` in lib/vscode, whose node-pty builds with `npx node-gyp`:
        // allow the install scripts (npm 11 blocks them by default), answer npx's prompt, and run them as root.
        npm_config_yes: 'true',
        npm_config_dangerously_allow_all_scripts: 'true',
        npm_config_unsafe_perm: 'true',
        // Build native addons against the machine's Node headers; node-gyp cannot download them here.
        ...(existsSync('/usr/include/node/node.h') && !process.env.npm_config_nodedir
          ? { npm_config_nodedir: '/usr' }
          : {}),
      },
    },
  );
  closeSync(out);
  const pty = path.join(
    CODE_SERVER_DIR,
    'node_modules',
    'code-server',
    'lib',
    'vscode',
    'node_modules',
    'node-pty',
    'build',
    'Release',
    'pty.node',
  );
  if (npm.status !== 0 || !existsSync(SERVER_MAIN) || !existsSync(pty)) {
    throw new Error(
      `installing code-server ${CODE_SERVER_VERSION} failed (npm exit ${npm.status}` +
        `${existsSync(SERVER_MAIN) ? '' : ', no server-main.js'}${existsSync(pty) ? '' : ', node-pty not built'}).\n` +
        `Needs: Node 20, the npm registry, and the Debian packages libkrb5-dev pkg-config build-essential ripgrep.\n` +
        `Last lines of ${INSTALL_LOG}:\n${tail(INSTALL_LOG)}`,
    );
  }
  rmSync(tmp, { recursive: true, force: true });
  writeFileSync(MARKER, `${new Date().toISOString()}\n`);
  log(`code-server installed in ${Math.round((Date.now() - started) / 1000)} s`);
}

/** A lock directory, so two harnesses started at once don't install into the same folder together. */
async function lock(dir) {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'pid'), String(process.pid));
      return () => rmSync(dir, { recursive: true, force: true });
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      let holder = NaN;
      try {
        holder = Number(readFileSync(path.join(dir, 'pid'), 'utf8'));
      } catch {}
      if (Number.isFinite(holder) && !alive(holder)) rmSync(dir, { recursive: true, force: true });
      else if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${dir} (held by pid ${holder})`, { cause: error });
      else await sleep(1000);
    }
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/** `unref`: a timer that does not keep the process alive (for timeouts raced against something else). */
export const sleep = (ms, { unref = false } = {}) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (unref) timer.unref();
  });

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function answers(port) {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/', timeout: 2000 }, (response) => {
      response.resume();
      resolve(response.statusCode !== undefined && response.statusCode < 500);
    });
    request.on('error', () => resolve(false));
    request.on('timeout', () => {
      request.destroy();
      resolve(false);
    });
  });
}

/**
 * The environment that gives a test server its own user config folder, so the extension reads user.json (the
 * user's own budget policy) from `<dir>/user-config/agent-budget/user.json` and never the developer's real one.
 * (npm start does not use it: there the developer's own policy is the point.)
 */
export function isolatedUserConfig(dir) {
  const config = path.join(dir, 'user-config');
  return {
    XDG_CONFIG_HOME: config,
    APPDATA: config,
    AGENT_BUDGET_USER_POLICY: path.join(config, 'agent-budget', 'user.json'),
  };
}

/** Servers this process started; killed synchronously if the process exits without stopping them. */
const running = new Set();
process.on('exit', () => {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
});

/**
 * Starts VS Code's server (not code-server's CLI, which rejects the extension-development flags).
 * The server ignores --extensionDevelopmentPath; the workbench takes it from the URL payload (see `url`).
 * The extension host inherits the server's environment, so `env` reaches the code under test. Agent Budget's
 * per-user state root (AGENT_BUDGET_STATE_HOME) is `<serverDataDir>/agent-budget-state` unless `env` names one:
 * a harness never reads or writes the developer's real state.
 *
 * @param {{ extensionDevelopmentPath?: string, serverDataDir: string, userDataDir: string,
 *           env?: Record<string, string>, port?: number, logFile?: string, timeoutMs?: number,
 *           workspaceTrust?: boolean }} options  workspaceTrust false = every folder is trusted, no dialog
 */
export async function startServer(options) {
  const serverMain = await ensureCodeServer();
  const {
    extensionDevelopmentPath,
    serverDataDir,
    userDataDir,
    env = {},
    timeoutMs = 60_000,
    workspaceTrust = true,
  } = options;
  const port = options.port ?? (await freePort());
  mkdirSync(serverDataDir, { recursive: true });
  mkdirSync(userDataDir, { recursive: true });
  const logFile = options.logFile ?? path.join(serverDataDir, 'server.log');
  const out = openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    [
      serverMain,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--without-connection-token',
      '--accept-server-license-terms',
      '--server-data-dir',
      serverDataDir,
      '--user-data-dir',
      userDataDir,
      // A test run cannot answer the trust dialog (VS Code refuses dialogs while extension tests run), so a
      // fresh folder would stay in Restricted Mode; the integration tier turns trust off like desktop test runs do.
      ...(workspaceTrust ? [] : ['--disable-workspace-trust']),
    ],
    // Its own process group, so stop() also ends the extension host and the pty/file-watcher helpers it forks.
    {
      detached: true,
      stdio: ['ignore', out, out],
      env: { ...process.env, AGENT_BUDGET_STATE_HOME: path.join(serverDataDir, 'agent-budget-state'), ...env },
    },
  );
  closeSync(out);
  running.add(child.pid);
  let exited = null;
  const exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exited = { code, signal }))));

  const stop = async () => {
    if (!running.has(child.pid)) return;
    running.delete(child.pid);
    const group = (signal) => {
      try {
        process.kill(-child.pid, signal);
      } catch {}
    };
    group('SIGTERM');
    const done = await Promise.race([exit.then(() => true), sleep(5000, { unref: true }).then(() => false)]);
    if (!done) group('SIGKILL');
    await sleep(200);
    group('SIGKILL'); // children that outlived the server's own shutdown
  };

  const deadline = Date.now() + timeoutMs;
  while (!(await answers(port))) {
    if (exited) {
      running.delete(child.pid);
      throw new Error(
        `VS Code server exited (${JSON.stringify(exited)}) before answering. Last lines of ${logFile}:\n${tail(logFile)}`,
      );
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `VS Code server did not answer on port ${port} within ${timeoutMs / 1000} s. Last lines of ${logFile}:\n${tail(logFile)}`,
      );
    }
    await sleep(250);
  }

  /** A path on the server as the workbench addresses it. The authority must match the page's host:port. */
  const remoteUri = (absolutePath) => `vscode-remote://127.0.0.1:${port}${absolutePath}`;
  return {
    port,
    logFile,
    remoteUri,
    /** Tail of the server log (the extension host's errors end up there too). */
    logTail: (lines = 40) => tail(logFile, lines),
    /**
     * The workbench URL for `folder`, with the extension under development and any extra payload entries,
     * e.g. `[['extensionTestsPath', remoteUri('/abs/index.js')]]`.
     * @param {string} folder @param {[string, string][]} [payload]
     */
    url(folder, payload = []) {
      const entries = [
        ...(extensionDevelopmentPath ? [['extensionDevelopmentPath', remoteUri(extensionDevelopmentPath)]] : []),
        ...payload,
      ];
      const query =
        `folder=${encodeURIComponent(folder).replaceAll('%2F', '/')}` +
        (entries.length ? `&payload=${encodeURIComponent(JSON.stringify(entries))}` : '');
      return `http://127.0.0.1:${port}/?${query}`;
    },
    /** Resolves when the server process exits by itself. */
    exited: exit,
    stop,
  };
}

/**
 * Installs a .vsix into the given server data dir with the server's own CLI (as `code --install-extension`).
 * @param {string} vsix @param {{ serverDataDir: string, userDataDir: string }} dirs
 */
export async function installExtension(vsix, { serverDataDir, userDataDir }) {
  const serverMain = await ensureCodeServer();
  const result = spawnSync(
    process.execPath,
    [
      serverMain,
      '--accept-server-license-terms',
      '--server-data-dir',
      serverDataDir,
      '--user-data-dir',
      userDataDir,
      '--install-extension',
      vsix,
      '--force',
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  if (result.status !== 0)
    throw new Error(`installing ${vsix} failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** Headless Debian Chromium. The flags keep it off the closed network; playwright gives it a fresh profile. */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Playwright's own Ctrl+C handler would exit the process before our cleanup stops the server; the
    // harnesses close the browser themselves (and playwright still kills it if the process exits).
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

/** Waits until the workbench has rendered its status bar. */
export async function waitForWorkbench(page, timeoutMs = 60_000) {
  await page.locator('.monaco-workbench .part.statusbar').waitFor({ state: 'visible', timeout: timeoutMs });
}

/**
 * A fresh folder opens in Restricted Mode and asks for trust a second or two after the status bar appears.
 * Polls for that dialog and clicks exactly "Yes, I trust the authors" (a loose match would also hit
 * "No, I don't trust the authors"). Returns whether the dialog was there. `signal` stops the polling early.
 */
export async function trustWorkspace(page, timeoutMs = 15_000, signal) {
  const yes = page.getByRole('button', { name: 'Yes, I trust the authors', exact: true });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !page.isClosed() && !signal?.aborted) {
    if (await yes.isVisible().catch(() => false)) {
      await yes.click();
      await yes.waitFor({ state: 'hidden', timeout: 10_000 });
      return true;
    }
    await sleep(250);
  }
  return false;
}

/** A throw-away folder under the OS temp dir. */
export async function tempDir(prefix) {
  return mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
}

/**
 * Copies a workspace (by default demo/) into `parent/<name>` so the tests never write into the repository. Only
 * what a clone has: a store an older version left in demo/.agent-budget/ stays behind, so every suite starts from
 * the demo as committed.
 */
export function copyWorkspace(parent, source = path.join(ROOT, 'demo'), name = path.basename(source)) {
  const target = path.join(parent, name);
  const state = path.join(source, '.agent-budget');
  const committed = (p) => {
    const rel = path.relative(state, p);
    if (rel.startsWith('..') || rel === '') return true; // outside the state folder, or the folder itself
    return (
      rel === 'budget.json' || rel === '.gitignore' || rel === 'workflows' || rel.startsWith(`workflows${path.sep}`)
    );
  };
  cpSync(source, target, { recursive: true, filter: committed });
  return target;
}

/** Newest modification time of any file under the given paths (for "is the build / .vsix stale?"). */
export function newestMtime(paths) {
  let newest = 0;
  const visit = (p) => {
    let s;
    try {
      s = statSync(p);
    } catch {
      return;
    }
    if (s.isDirectory()) {
      for (const entry of readdirNames(p)) visit(path.join(p, entry));
    } else newest = Math.max(newest, s.mtimeMs);
  };
  for (const p of paths) visit(p);
  return newest;
}

function readdirNames(dir) {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Points the extension's provider endpoints at `urls` ({ anthropic, openai, gemini }; undefined clears them) in the
 * server's User settings (`<user-data-dir>/User/settings.json`). The endpoints are `application`-scoped — only the
 * user's own settings choose where a key goes — so a window reads them from there and from nowhere else. Removes
 * them from the Machine settings, where an earlier `npm start` wrote them (the window ignores them there).
 */
export function writeEndpointSettings(userDataDir, urls, jsonc) {
  const files = [path.join(userDataDir, 'User', 'settings.json'), path.join(userDataDir, 'Machine', 'settings.json')];
  for (const [i, file] of files.entries()) {
    if (i > 0 && !existsSync(file)) continue;
    mkdirSync(path.dirname(file), { recursive: true });
    let text = existsSync(file) ? readFileSync(file, 'utf8') : '{}';
    for (const provider of ['anthropic', 'openai', 'gemini']) {
      const value = i === 0 ? urls?.[provider] : undefined;
      const edits = jsonc.modify(text, [`agentBudget.${provider}.baseUrl`], value, {
        formattingOptions: { insertSpaces: true, tabSize: 2 },
      });
      text = jsonc.applyEdits(text, edits);
    }
    writeFileSync(file, text);
  }
}
