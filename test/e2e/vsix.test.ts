// The packaged extension: `npm run package` makes a .vsix that installs into the real VS Code (the server's own
// --install-extension, as `code --install-extension` does), activates, and puts its commands in the palette.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ROOT, installExtension, newestMtime } from '../../scripts/vscode-server.mjs';
import { useWorkbench } from './workbench';

const VSIX = path.join(ROOT, 'agent-budget.vsix');
const version = () =>
  (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Packages when there is no .vsix or it is older than what goes into it. */
function ensureVsix(): void {
  const inputs = ['src', 'media', 'schemas', 'package.json', 'esbuild.mjs', '.vscodeignore', 'README.md', 'LICENSE'];
  if (existsSync(VSIX) && statSync(VSIX).mtimeMs >= newestMtime(inputs.map((p) => path.join(ROOT, p)))) return;
  const result = spawnSync('npm', ['run', 'package'], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0 || !existsSync(VSIX)) {
    throw new Error(
      `npm run package failed (exit ${result.status}):\n${result.stdout.slice(-2000)}\n${result.stderr.slice(-2000)}`,
    );
  }
}

describe('The packaged .vsix', function () {
  let installLog = '';
  let extensionsDir = '';
  const workbench = useWorkbench({
    developmentExtension: false,
    prepare: async (dirs) => {
      ensureVsix();
      installLog = await installExtension(VSIX, dirs);
      extensionsDir = path.join(dirs.serverDataDir, 'extensions');
    },
  });

  it('installs into the real VS Code', () => {
    assert.match(installLog, /successfully installed/i);
    const installed = JSON.parse(readFileSync(path.join(extensionsDir, 'extensions.json'), 'utf8')) as {
      identifier: { id: string };
      version: string;
    }[];
    assert.ok(
      installed.some((e) => e.identifier.id === 'agent-budget.agent-budget' && e.version === version()),
      `extensions.json: ${JSON.stringify(installed.map((e) => `${e.identifier.id}@${e.version}`))}`,
    );
  });

  it('activates from the installed copy: the meter shows, and no development host is involved', async () => {
    const wb = workbench();
    assert.ok(!(await wb.page.title()).includes('Extension Development Host'), await wb.page.title());
    await wb.statusBarItem('Agent Budget').waitFor({ state: 'visible' });
  });

  it('opens the budget panel from the installed copy, with its icons (dist/webview/, the team driver and the strings are in the package)', async () => {
    const wb = workbench();
    const webview = path.join(extensionsDir, `agent-budget.agent-budget-${version()}`, 'dist', 'webview');
    for (const file of ['webview.js', 'webview.css', 'run.js', 'run.css', 'codicon.css', 'codicon.ttf'])
      assert.ok(existsSync(path.join(webview, file)), `${file} is not in the .vsix`);
    // The team ledger's driver (loaded lazily) and the manifest's and extension's strings.
    const installed = path.dirname(path.dirname(webview));
    for (const file of ['dist/pgDriver.js', 'package.nls.json', 'l10n/bundle.l10n.json'])
      assert.ok(existsSync(path.join(installed, file)), `${file} is not in the .vsix`);
    await wb.runCommand('Agent Budget: Open Budget Panel');
    const frame = await wb.frameShowing('Budgets now');
    await wb.codiconFontLoaded(frame);
  });

  it('lists its commands in the command palette', async () => {
    const wb = workbench();
    await wb.openPalette();
    // Over twenty commands match "Agent Budget" and the list scrolls: look for each by its full title.
    for (const title of [
      'Agent Budget: Run Workflow…',
      'Agent Budget: Open Budget Panel',
      'Agent Budget: Clear API Key…',
      'Agent Budget: Set API Key…',
    ]) {
      await wb.quickInputBox.fill(`>${title}`);
      await wb.quickPickItem(title).waitFor({ state: 'visible' });
    }
    // The palette stays open for this test's screenshot; the suite ends here.
  });
});
