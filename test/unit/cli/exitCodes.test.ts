// The CLI's one mapping of failures to exit codes (exitCodeFor in src/cli/context.ts), by error kind, as docs/cli.md
// promises: 1 usage, configuration or input · 2 blocked by a budget · 3 run failed or interrupted · 4 provider or auth.
import assert from 'node:assert/strict';
import { ExitCode, exitCodeFor } from '../../../src/cli/context';
import { exitCodeOf } from '../../../src/cli/runSupport';
import type { ErrorKind } from '../../../src/core/errors';
import type { RunOutcome } from '../../../src/core/runner/runner';

describe('exit codes', () => {
  const byKind: Record<ErrorKind, ExitCode> = {
    budget: 2,
    rateLimit: 4,
    auth: 4,
    provider: 4,
    missingKey: 1,
    config: 1,
    input: 1,
    notFound: 1,
    conflict: 1,
    crash: 3,
    cancelled: 3,
    store: 3,
    internal: 3,
  };
  for (const [kind, code] of Object.entries(byKind)) {
    it(`${kind} → ${code}`, () => assert.equal(exitCodeFor(kind as ErrorKind), code));
  }

  it('a run’s outcome: completed 0, blocked 2, otherwise by the kind that stopped it, 3 with none recorded', () => {
    const outcome = (status: RunOutcome['status'], errorKind?: ErrorKind): RunOutcome => ({
      runId: 'r',
      workflow: 'w',
      status,
      costMicros: 0,
      tokens: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 },
      steps: [],
      ...(errorKind ? { errorKind } : {}),
    });
    assert.equal(exitCodeOf(outcome('completed')), ExitCode.ok);
    assert.equal(exitCodeOf(outcome('blocked', 'budget')), ExitCode.blocked);
    assert.equal(exitCodeOf(outcome('paused', 'rateLimit')), ExitCode.provider);
    assert.equal(exitCodeOf(outcome('failed', 'auth')), ExitCode.provider);
    assert.equal(exitCodeOf(outcome('failed', 'missingKey')), ExitCode.usage);
    assert.equal(exitCodeOf(outcome('failed', 'config')), ExitCode.usage, 'a run recorded before missingKey existed');
    assert.equal(exitCodeOf(outcome('failed', 'crash')), ExitCode.runFailed);
    assert.equal(exitCodeOf(outcome('cancelled', 'cancelled')), ExitCode.runFailed);
    assert.equal(exitCodeOf(outcome('interrupted')), ExitCode.runFailed);
  });
});
