import assert from 'node:assert/strict';
import { commandEnvironment, commandMaySee } from '../../../src/core/trust/commandEnv';
import { foldName, isSkippedFolder, protectedPathReason } from '../../../src/core/trust/protectedPaths';

// The Windows and macOS naming rules, checked on any machine with path strings as those systems spell them
// (the tools.test.ts suite exercises the same rules on this machine's real file system).
describe('trust/protectedPaths: names agents may not use, as each file system compares them', () => {
  const refusedWrite = (p: string, platform: NodeJS.Platform, why = /./) =>
    assert.match(protectedPathReason(p, 'write', platform) ?? '(allowed)', why, `${platform} ${p}`);
  const allowedWrite = (p: string, platform: NodeJS.Platform) =>
    assert.equal(protectedPathReason(p, 'write', platform), undefined, `${platform} ${p}`);

  it('Windows: backslashes, case, trailing dots and spaces all name the same protected folder', () => {
    for (const p of [
      '.git\\config',
      '.GIT\\hooks\\pre-commit',
      '.git.\\config',
      '.git \\config',
      '.git...\\config',
      'src\\..\\.Git\\config',
      '.vscode\\tasks.json',
      '.VSCODE.\\settings.json',
      '.github\\workflows\\ci.yml',
      '.GITHUB\\Workflows\\ci.yml',
      '.husky\\pre-commit',
      '.envrc',
      'pkg\\.ENVRC.',
      '.git-credentials',
      '.agent-budget\\budget.json',
      'sub/.git/config',
    ])
      refusedWrite(p, 'win32', /which agents may not change/);
  });

  it('Windows: device names (CON, aux.ts), alternate data streams and 8.3 short names are refused, reading too', () => {
    for (const p of ['CON', 'con', 'aux.ts', 'src\\nul.txt', 'COM1', 'lpt9.log', 'PRN.', 'CON .txt', 'conin$', 'com¹'])
      for (const purpose of ['read', 'write'] as const)
        assert.match(protectedPathReason(p, purpose, 'win32') ?? '', /Windows device name/, p);
    for (const p of ['notes.txt:hidden', '.git::$INDEX_ALLOCATION\\config', 'src\\C:\\x', 'C:\\a\\b:c'])
      assert.match(protectedPathReason(p, 'read', 'win32') ?? '', /alternate data stream or a drive/, p);
    for (const p of ['GIT~1\\config', 'git~1\\hooks\\x', 'PROGRA~1\\x', 'src\\ABCDEF~12.TXT'])
      assert.match(protectedPathReason(p, 'write', 'win32') ?? '', /short \(8\.3\) name/, p);
    for (const p of [
      'console.ts',
      'auxiliary.ts',
      'src\\connect.ts',
      'com10.txt',
      'backup~old.txt',
      'a~b\\c',
      'C:\\work\\src\\app.ts',
    ])
      allowedWrite(p, 'win32');
  });

  it('macOS and Linux: the same names without case, with NFD and invisible characters folded; no Windows rules', () => {
    for (const platform of ['darwin', 'linux'] as const) {
      for (const p of [
        '.GIT/config',
        '.git./config',
        '.g\u200cit/config',
        '.git\ufeff/x',
        '.Vscode/x',
        '.github/WORKFLOWS/a',
      ])
        refusedWrite(p, platform, /which agents may not change/);
      // On POSIX a backslash is an ordinary character, and device names are ordinary names.
      for (const p of ['aux.ts', 'CON', 'GIT~1/x', 'a\\.git']) allowedWrite(p, platform);
    }
    // "é" as NFC and NFD fold to one name.
    assert.equal(foldName('Caf\u00e9'), foldName('cafe\u0301'));
  });

  it('reads: .git and .git-credentials only; the rest of the dot-folders stay readable', () => {
    for (const platform of ['win32', 'darwin', 'linux'] as const) {
      assert.match(protectedPathReason('.GIT/config', 'read', platform) ?? '', /may hold credentials/);
      assert.match(protectedPathReason('a/.Git-Credentials', 'read', platform) ?? '', /may hold credentials/);
      for (const p of ['.vscode/settings.json', '.github/workflows/ci.yml', '.envrc', '.agent-budget/budget.json'])
        assert.equal(protectedPathReason(p, 'read', platform), undefined, p);
    }
  });

  it('the walkers skip .git, node_modules and .agent-budget however they are spelled', () => {
    for (const name of ['.git', '.GIT', '.git.', 'Node_Modules', '.Agent-Budget'])
      assert.ok(isSkippedFolder(name), name);
    assert.ok(!isSkippedFolder('.github') && !isSkippedFolder('src'));
  });
});

describe('trust/commandEnv: what a command an agent runs may see', () => {
  it('an allow-list by name, without case (Windows spells Path, SystemRoot, ComSpec)', () => {
    const env = commandEnvironment({
      Path: 'C:\\Windows',
      SystemRoot: 'C:\\Windows',
      ComSpec: 'C:\\Windows\\system32\\cmd.exe',
      PATHEXT: '.COM;.EXE',
      USERPROFILE: 'C:\\Users\\ada',
      TEMP: 'C:\\Temp',
      LC_CTYPE: 'C',
      OPENAI_API_KEY: 'sk-x',
      GH_TOKEN: 'x',
      AWS_PROFILE: 'prod',
      AZURE_TENANT_ID: 't',
      GOOGLE_APPLICATION_CREDENTIALS: 'c.json',
      AGENT_BUDGET_STATE_HOME: '/s',
      AGENT_BUDGET_TRUST_POLICY: '1',
      NODE_OPTIONS: '--require ./evil.js',
      SSH_AUTH_SOCK: '/tmp/agent',
      UNDEFINED: undefined,
    });
    assert.deepEqual(Object.keys(env).sort(), [
      'ComSpec',
      'LC_CTYPE',
      'PATHEXT',
      'Path',
      'SystemRoot',
      'TEMP',
      'USERPROFILE',
    ]);
    for (const name of [
      'HOME',
      'PATH',
      'LANG',
      'TMPDIR',
      'TERM',
      'SHELL',
      'USER',
      'USERNAME',
      'WINDIR',
      'NODE_SKIP_PLATFORM_CHECK',
    ])
      assert.ok(commandMaySee(name), name);
    for (const name of ['ANTHROPIC_API_KEY', 'GITHUB_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'NPM_CONFIG__AUTH', 'HTTP_PROXY'])
      assert.ok(!commandMaySee(name), name);
  });
});
