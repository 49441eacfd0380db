// Loaded by mocha before any test file (.mocharc.json "require"): every test process, and every CLI or child
// process it starts, reads the user's policy from a fresh temporary folder, so a developer's own
// ~/.config/agent-budget/user.json (or %APPDATA%\agent-budget\user.json) never changes what a test sees.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const home = mkdtempSync(path.join(tmpdir(), 'ab-user-config-'));
process.env.XDG_CONFIG_HOME = home;
process.env.APPDATA = home;
process.env.AGENT_BUDGET_USER_POLICY = path.join(home, 'agent-budget', 'user.json');
delete process.env.AGENT_BUDGET_TRUST_POLICY;

export const mochaHooks = {
  afterAll() {
    rmSync(home, { recursive: true, force: true });
  },
};
