// Loaded by mocha before any test file (.mocharc.json "require"; plain JS so node.exe under the windows tier loads it
// too): every test process, and every CLI or child process it starts, gets a fresh temporary user policy folder and
// per-user state root, so a developer's own ~/.config/agent-budget/user.json (or %APPDATA%\agent-budget\user.json),
// ~/.local/state/agent-budget and install id never change what a test sees and are never written.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const home = mkdtempSync(path.join(tmpdir(), 'ab-user-config-'));
process.env.XDG_CONFIG_HOME = home;
process.env.APPDATA = home;
process.env.AGENT_BUDGET_USER_POLICY = path.join(home, 'agent-budget', 'user.json');
delete process.env.AGENT_BUDGET_TRUST_POLICY;

const stateHome = mkdtempSync(path.join(tmpdir(), 'agent-budget-state-home-'));
process.env.AGENT_BUDGET_STATE_HOME = stateHome;

export const mochaHooks = {
  afterAll() {
    rmSync(home, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    rmSync(stateHome, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  },
};
