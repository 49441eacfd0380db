import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../../support/cli';
import {
  normaliseWindowsPath,
  StateLocationError,
  stateRoot,
  workspaceStateDir,
  workspaceStateKey,
  type StateSystem,
} from '../../../src/core/statePaths';
import { Workspace } from '../../../src/core/workspace';

/** A platform as the code sees it; `links` maps a spelling to what realpath returns for it. */
function system(
  platform: NodeJS.Platform,
  env: Record<string, string> = {},
  links: Record<string, string> = {},
  home = platform === 'win32' ? 'C:\\Users\\ada' : platform === 'darwin' ? '/Users/ada' : '/home/ada',
): StateSystem {
  return { platform, env, homedir: () => home, realpath: (p) => links[p] ?? p };
}

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$/i;

describe('statePaths: where machine state lives', () => {
  describe('the per-user root', () => {
    it('is AGENT_BUDGET_STATE_HOME when set, on every platform', () => {
      assert.equal(stateRoot(system('linux', { AGENT_BUDGET_STATE_HOME: '/srv/ab' })), '/srv/ab');
      assert.equal(stateRoot(system('darwin', { AGENT_BUDGET_STATE_HOME: '/Volumes/x/ab/' })), '/Volumes/x/ab/');
      assert.equal(stateRoot(system('win32', { AGENT_BUDGET_STATE_HOME: 'D:/ab' })), 'D:\\ab');
    });

    it('refuses a relative AGENT_BUDGET_STATE_HOME with a message saying what to set', () => {
      assert.throws(
        () => stateRoot(system('linux', { AGENT_BUDGET_STATE_HOME: 'state' })),
        (e: unknown) => e instanceof StateLocationError && /must be an absolute path \(got "state"\)/.test(e.message),
      );
    });

    it('is %LOCALAPPDATA%\\agent-budget\\state on Windows, else under the profile', () => {
      assert.equal(
        stateRoot(system('win32', { LOCALAPPDATA: 'C:\\Users\\ada\\AppData\\Local' })),
        'C:\\Users\\ada\\AppData\\Local\\agent-budget\\state',
      );
      assert.equal(stateRoot(system('win32')), 'C:\\Users\\ada\\AppData\\Local\\agent-budget\\state');
    });

    it('is ~/Library/Application Support/agent-budget/state on macOS (XDG_STATE_HOME is not a macOS convention)', () => {
      assert.equal(
        stateRoot(system('darwin', { XDG_STATE_HOME: '/tmp/x' })),
        '/Users/ada/Library/Application Support/agent-budget/state',
      );
    });

    it('is $XDG_STATE_HOME/agent-budget elsewhere, default ~/.local/state, ignoring a relative XDG_STATE_HOME', () => {
      assert.equal(stateRoot(system('linux', { XDG_STATE_HOME: '/home/ada/.st' })), '/home/ada/.st/agent-budget');
      assert.equal(stateRoot(system('linux')), '/home/ada/.local/state/agent-budget');
      assert.equal(stateRoot(system('linux', { XDG_STATE_HOME: 'rel' })), '/home/ada/.local/state/agent-budget');
      assert.equal(stateRoot(system('freebsd')), '/home/ada/.local/state/agent-budget');
    });
  });

  describe('the workspace folder', () => {
    it('is <root>/workspaces/<name>-<16 hex of sha256(normalised real path)>', () => {
      const sys = system('linux', { AGENT_BUDGET_STATE_HOME: '/st' });
      const dir = workspaceStateDir('/home/ada/src/my app', sys);
      assert.match(dir, /^\/st\/workspaces\/my_app-[0-9a-f]{16}$/);
      const key = workspaceStateKey('/home/ada/src/my app', sys);
      assert.equal(key.normalised, '/home/ada/src/my app');
      assert.equal(path.posix.basename(dir), key.id);
    });

    it('Linux: follows symbolic links, keeps case (ext4 is case-sensitive), ignores a trailing slash', () => {
      const sys = system('linux', {}, { '/home/ada/link': '/data/proj' });
      const id = (p: string) => workspaceStateKey(p, sys).id;
      assert.equal(id('/home/ada/link'), id('/data/proj'));
      assert.equal(id('/data/proj/'), id('/data/proj'));
      assert.equal(id('/data/proj/./sub/..'), id('/data/proj'));
      assert.notEqual(id('/data/Proj'), id('/data/proj'));
    });

    it('macOS: case and Unicode normalisation are folded (APFS and HFS+ ignore both)', () => {
      const sys = system('darwin');
      const id = (p: string) => workspaceStateKey(p, sys).id.split('-').pop();
      assert.equal(id('/Users/ada/Proj'), id('/users/ADA/proj'));
      // "é" precomposed (NFC) and decomposed (NFD, as HFS+ stores names) are one folder.
      assert.equal(id('/Users/ada/caf\u00e9'), id('/Users/ada/cafe\u0301'));
      assert.notEqual(id('/Users/ada/proj-a'), id('/Users/ada/proj-b'));
    });

    it('Windows: drive letters, separators, case, trailing dots and \\\\?\\ prefixes are one folder', () => {
      const sys = system('win32', { LOCALAPPDATA: 'C:\\Users\\ada\\AppData\\Local' });
      const id = (p: string) => workspaceStateKey(p, sys).id.split('-').pop();
      const expected = id('C:\\Work\\Proj');
      for (const spelling of [
        'c:\\work\\proj',
        'C:/Work/Proj',
        'C:\\Work\\Proj\\',
        'C:\\WORK\\PROJ.',
        'C:\\Work\\Proj ',
        '\\\\?\\C:\\Work\\Proj',
        'c:\\Work\\.\\x\\..\\Proj',
      ])
        assert.equal(id(spelling), expected, spelling);
      assert.notEqual(id('D:\\Work\\Proj'), expected);
      const dir = workspaceStateDir('C:/Work/Proj', sys);
      assert.match(dir, /^C:\\Users\\ada\\AppData\\Local\\agent-budget\\state\\workspaces\\Proj-[0-9a-f]{16}$/);
    });

    it('Windows: UNC paths, with or without the \\\\?\\UNC\\ prefix, and junctions through realpath', () => {
      const sys = system('win32', {}, { 'C:\\Users\\ada\\proj': '\\\\fs01\\team\\proj' });
      const id = (p: string) => workspaceStateKey(p, sys).id.split('-').pop();
      assert.equal(id('\\\\FS01\\Team\\Proj'), id('\\\\fs01\\team\\proj'));
      assert.equal(id('\\\\?\\UNC\\fs01\\team\\proj'), id('\\\\fs01\\team\\proj'));
      assert.equal(id('//fs01/team/proj/'), id('\\\\fs01\\team\\proj'));
      assert.equal(id('C:\\Users\\ada\\proj'), id('\\\\fs01\\team\\proj'));
      assert.notEqual(id('\\\\fs01\\team\\other'), id('\\\\fs01\\team\\proj'));
      assert.equal(normaliseWindowsPath('\\\\?\\UNC\\fs01\\team\\proj\\'), '\\\\fs01\\team\\proj');
      assert.equal(normaliseWindowsPath('c:/'), 'C:\\');
    });

    it('names are safe on every file system: no device names, separators, dots or odd characters', () => {
      for (const platform of ['win32', 'linux'] as const) {
        const sys = system(platform);
        const sep = platform === 'win32' ? '\\' : '/';
        for (const base of [
          'CON',
          'aux.ts',
          'nul',
          'COM1.txt',
          'LPT9',
          'a:b',
          'x<y>|z?',
          '...',
          ' ',
          'Ünïcødé',
          'a'.repeat(90),
        ]) {
          const folder = platform === 'win32' ? `C:\\w\\${base}` : `/w/${base}`;
          const id = workspaceStateKey(folder, sys).id;
          assert.match(id, /^[A-Za-z0-9_-]{1,40}-[0-9a-f]{16}$/, `${platform} ${base} → ${id}`);
          assert.doesNotMatch(id, WINDOWS_RESERVED);
          assert.ok(!id.includes(sep) && !id.includes('.'));
        }
      }
      assert.match(workspaceStateKey('/', system('linux')).id, /^workspace-[0-9a-f]{16}$/);
    });
  });

  describe('on this machine', () => {
    let base: string;
    before(() => (base = realpathSync(mkdtempSync(path.join(tmpdir(), 'ab-statepaths-')))));
    after(() => rmSync(base, { recursive: true, force: true }));

    it('the extension (Workspace.open) and the CLI open the same folder, through a symlink too, outside the repository', async () => {
      const folder = path.join(base, 'repo');
      mkdirSync(folder);
      symlinkSync(folder, path.join(base, 'alias'));
      const home = path.join(base, 'state-home');
      const env = { AGENT_BUDGET_STATE_HOME: home };

      const cli = await runCli(['status', '--json', '--workspace', path.join(base, 'alias')], env);
      assert.equal(cli.code, 0, cli.stderr);
      const expected = path.join(home, 'workspaces', workspaceStateKey(folder, system('linux', env, {})).id);
      const ws = await Workspace.open(folder, { pollMs: 0, env });
      try {
        assert.equal(ws.store.dir, expected);
        assert.ok(ws.store.dir.startsWith(home + path.sep));
        assert.match(ws.installId, /^[0-9a-f]{32}$/);
      } finally {
        await ws.close();
      }
      // The CLI made that folder (and named it for humans); nothing was written into the repository.
      const named = JSON.parse(readFileSync(path.join(expected, 'workspace.json'), 'utf8')) as { workspace: string };
      assert.equal(named.workspace, folder);
      assert.deepEqual(readdirSync(folder), []);
    });

    it('one install id per state root, shared by every process of the user', async () => {
      const home = path.join(base, 'ids');
      const a = await Workspace.open(path.join(base), { pollMs: 0, env: { AGENT_BUDGET_STATE_HOME: home } });
      const b = await Workspace.open(path.join(base, 'repo'), { pollMs: 0, env: { AGENT_BUDGET_STATE_HOME: home } });
      const c = await Workspace.open(path.join(base), { pollMs: 0, env: { AGENT_BUDGET_STATE_HOME: `${home}-other` } });
      try {
        assert.equal(a.installId, b.installId);
        assert.notEqual(a.installId, c.installId);
      } finally {
        await Promise.all([a.close(), b.close(), c.close()]);
      }
    });
  });
});
