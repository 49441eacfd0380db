// What `npm start` and `npm test` do before anything else: make sure this clone has its npm packages and the
// machine has what the real VS Code needs. Uses only Node's built-ins, so it runs on a fresh clone.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Debian packages the tests need: code-server's native modules, its search and the browser (the real-VS Code tiers),
 * and PostgreSQL's server binaries (the team-ledger tests start their own server, test/support/postgres.ts).
 */
export const DEBIAN_PACKAGES = 'libkrb5-dev pkg-config build-essential ripgrep chromium postgresql';

/** Runs `npm run <script> [-- args]` in the repository, output to this terminal; returns the exit code. */
export function npmRun(script, args = []) {
  const result = spawnSync('npm', ['run', '--silent', script, ...(args.length ? ['--', ...args] : [])], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  return result.status ?? 1;
}

/**
 * `npm ci` when this clone has no node_modules yet (a fresh clone). An existing node_modules is left alone:
 * other work may be installing into it, and `npm ci` would delete it first.
 */
export async function ensureDependencies() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major !== 20) {
    // code-server 4.100.x (VS Code 1.100, our test host) refuses other Node majors in its postinstall.
    console.warn(`warning: Node ${process.versions.node}; the real-VS Code tiers need Node 20 (code-server 4.100.3).`);
  }
  if (!existsSync(path.join(ROOT, 'node_modules', '.package-lock.json'))) {
    console.log('No node_modules yet: npm ci');
    const ci = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: ROOT, stdio: 'inherit' });
    if (ci.status !== 0) throw new Error('npm ci failed');
  }
  ensureDebianPackages(DEBIAN_PACKAGES.split(' '), ['rg', 'chromium']);
}

/**
 * Debian packages, installed with apt-get when some are missing and we are root (a fresh CI machine or container);
 * otherwise a clear message with the command to run. Outside Debian, it checks for the commands the tiers run
 * (`commands`) and leaves the rest to the user.
 */
export function ensureDebianPackages(packages, commands) {
  const hasDpkg = spawnSync('sh', ['-c', 'command -v dpkg-query']).status === 0;
  const missing = hasDpkg
    ? packages.filter(
        (p) =>
          !/install ok installed/.test(
            spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' }).stdout ?? '',
          ),
      )
    : commands.filter((command) => spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0);
  if (missing.length === 0) return;
  const canInstall = hasDpkg && process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v apt-get']).status === 0;
  if (!canInstall) {
    throw new Error(`missing ${missing.join(', ')}. Install them first: sudo apt-get install -y ${packages.join(' ')}`);
  }
  console.log(`Installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
  const install =
    update.status === 0 && spawnSync('apt-get', ['install', '-y', '-q', ...missing], { stdio: 'inherit', env });
  if (!install || install.status !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed`);
}
