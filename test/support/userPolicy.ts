import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The user's own policy (user.json) of this test run: the temporary file test/support/isolatedUser.mjs points
 * AGENT_BUDGET_USER_POLICY at. Every test that writes it removes it afterwards (removeUserPolicy in afterEach), so
 * the next test starts from the built-in defaults again.
 */
export function userPolicyPath(): string {
  const file = process.env.AGENT_BUDGET_USER_POLICY;
  if (!file) throw new Error('AGENT_BUDGET_USER_POLICY is not set: run mocha from the repository root (.mocharc.json)');
  return file;
}

export function writeUserPolicy(policy: object | string): string {
  const file = userPolicyPath();
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, typeof policy === 'string' ? policy : JSON.stringify(policy, null, 2));
  return file;
}

export function removeUserPolicy(): void {
  rmSync(userPolicyPath(), { force: true });
}
