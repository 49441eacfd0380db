import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { userPolicyFile } from '../../../src/core/trust/userPolicyFile';

describe('trust: where user.json lives', () => {
  it('Linux: $XDG_CONFIG_HOME/agent-budget/user.json, else ~/.config/agent-budget/user.json', () => {
    const home = '/home/ada';
    assert.equal(
      userPolicyFile({ env: { XDG_CONFIG_HOME: '/cfg' }, platform: 'linux', home }),
      '/cfg/agent-budget/user.json',
    );
    assert.equal(userPolicyFile({ env: {}, platform: 'linux', home }), '/home/ada/.config/agent-budget/user.json');
    assert.equal(
      userPolicyFile({ env: { XDG_CONFIG_HOME: '' }, platform: 'linux', home }),
      '/home/ada/.config/agent-budget/user.json',
      'empty is unset',
    );
    assert.equal(
      userPolicyFile({ env: { XDG_CONFIG_HOME: 'relative/cfg' }, platform: 'linux', home }),
      '/home/ada/.config/agent-budget/user.json',
      'a relative XDG_CONFIG_HOME is ignored (XDG spec)',
    );
  });

  it('macOS: the same XDG-style path command-line tools there use (not ~/Library)', () => {
    assert.equal(
      userPolicyFile({ env: {}, platform: 'darwin', home: '/Users/ada' }),
      '/Users/ada/.config/agent-budget/user.json',
    );
    assert.equal(
      userPolicyFile({ env: { XDG_CONFIG_HOME: '/Users/ada/cfg' }, platform: 'darwin', home: '/Users/ada' }),
      '/Users/ada/cfg/agent-budget/user.json',
    );
  });

  it('Windows: %APPDATA%\\agent-budget\\user.json, else the usual roaming folder; XDG_CONFIG_HOME does not apply', () => {
    const home = 'C:\\Users\\Ada';
    assert.equal(
      userPolicyFile({
        env: { APPDATA: 'C:\\Users\\Ada\\AppData\\Roaming', XDG_CONFIG_HOME: 'C:\\cfg' },
        platform: 'win32',
        home,
      }),
      'C:\\Users\\Ada\\AppData\\Roaming\\agent-budget\\user.json',
    );
    assert.equal(
      userPolicyFile({ env: {}, platform: 'win32', home }),
      'C:\\Users\\Ada\\AppData\\Roaming\\agent-budget\\user.json',
    );
  });

  it('AGENT_BUDGET_USER_POLICY points elsewhere on every platform (a relative path from the current folder)', () => {
    for (const [platform, file] of [
      ['linux', '/srv/policies/ada.json'],
      ['darwin', '/Users/ada/p.json'],
      ['win32', 'D:\\policies\\ada.json'],
    ] as const) {
      assert.equal(
        userPolicyFile({
          env: { AGENT_BUDGET_USER_POLICY: file, XDG_CONFIG_HOME: '/x', APPDATA: 'C:\\x' },
          platform,
          home: '/h',
        }),
        file,
      );
    }
    assert.equal(
      userPolicyFile({ env: { AGENT_BUDGET_USER_POLICY: 'p.json' }, platform: process.platform, home: '/h' }),
      path.resolve('p.json'),
    );
  });

  it("the test run uses its own temporary file (test/support/isolatedUser.mjs), never the developer's", () => {
    const file = userPolicyFile();
    assert.equal(file, process.env.AGENT_BUDGET_USER_POLICY);
    assert.ok(file.startsWith(path.join(tmpdir(), 'ab-user-config-')), file);
  });
});
