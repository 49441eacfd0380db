import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main';

/**
 * Runs the CLI in-process with captured streams, as a terminal or CI job would see it. `env` is the whole
 * environment the CLI sees, plus the test run's temporary state root (test/support/isolatedUser.mjs) unless `env` names one.
 */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  // The user's policy file and state root of this test run (test/support/isolatedUser.mjs),
  // never the developer's own.
  const isolated = {
    AGENT_BUDGET_USER_POLICY: process.env.AGENT_BUDGET_USER_POLICY,
    AGENT_BUDGET_STATE_HOME: process.env.AGENT_BUDGET_STATE_HOME,
  };
  const code = await main(args, { stdout, stderr, env: { ...isolated, ...env } });
  return { code, stdout: out, stderr: err };
}
