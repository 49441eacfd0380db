// Loaded by mocha before any test file (.mocharc.json `require`): every test run gets a temporary per-user state
// root, so no test reads or writes the developer's real `~/.local/state/agent-budget` (or its install id). Child
// processes the tests start inherit it through the environment.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = mkdtempSync(path.join(tmpdir(), 'agent-budget-state-home-'));
process.env.AGENT_BUDGET_STATE_HOME = root;

export const mochaHooks = {
  afterAll(): void {
    rmSync(root, { recursive: true, force: true });
  },
};
