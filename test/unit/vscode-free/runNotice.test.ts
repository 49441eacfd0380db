// What the editor says when a run cannot start or ends, and which buttons it offers (src/vscode/runNotice.ts):
// decided by the run's status and the error's kind, never by the words of the message.
import assert from 'node:assert/strict';
import type { ErrorKind } from '../../../src/core/errors';
import type { RunOutcome } from '../../../src/core/runner/runner';
import { Commands } from '../../../src/vscode/ids';
import { runNotice, type RunNotice } from '../../../src/vscode/runNotice';

function outcome(status: RunOutcome['status'], more: Partial<RunOutcome> = {}): RunOutcome {
  return {
    runId: 'run-1',
    workflow: 'code-review',
    status,
    costMicros: 1_250_000,
    tokens: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 },
    steps: [],
    ...more,
  };
}

const buttons = (n: RunNotice) => n.actions.map((a) => [a.title, a.command, ...a.args]);

describe('runNotice', () => {
  it('a run that could not start: its message, and the button that fixes its kind', () => {
    const refused = (errorKind: ErrorKind, message: string) =>
      runNotice({ refused: { errorKind, message, provider: 'openai' }, workflow: 'explain' });
    const missing = refused('missingKey', 'No OpenAI API key is set.');
    assert.equal(missing.severity, 'error');
    assert.equal(missing.message, 'Agent Budget: explain could not run: No OpenAI API key is set.');
    assert.deepEqual(buttons(missing), [['Set API Key…', Commands.setApiKey, 'openai']]);
    assert.deepEqual(buttons(refused('auth', 'OpenAI rejected the key (401).')), [
      ['Set API Key…', Commands.setApiKey, 'openai'],
    ]);
    assert.deepEqual(buttons(refused('config', 'No price for model "x".')), [
      ['Open budget.json', Commands.editPolicy],
    ]);
    assert.deepEqual(buttons(refused('notFound', 'There is no workflow "x".')), []);
    // A provider failure before any run exists has nothing to resume.
    assert.deepEqual(buttons(refused('provider', 'Could not reach OpenAI.')), []);
  });

  it('the words of a message never pick the buttons', () => {
    const n = runNotice({ refused: { errorKind: 'input', message: 'Your API key is fine; the file is missing.' } });
    assert.deepEqual(n.actions, []);
    assert.equal(n.message, 'Agent Budget: Your API key is fine; the file is missing.');
    const failed = runNotice({ outcome: outcome('failed', { error: 'API key rejected', errorKind: 'internal' }) });
    assert.deepEqual(buttons(failed), [['Open Run', Commands.openRunOutput, 'run-1']]);
  });

  it('a run that ended: by its status, and for a failure by its kind', () => {
    const done = runNotice({ outcome: outcome('completed') });
    assert.deepEqual([done.severity, done.message], ['information', 'Agent Budget: code-review completed — $1.25.']);
    assert.deepEqual(buttons(done), [['Open Run', Commands.openRunOutput, 'run-1']]);

    // A blocked run: the cap by name, the reset in local time with how far off it is, and Resume.
    const now = new Date(2026, 10, 24, 21, 0).getTime();
    const midnight = new Date(2026, 10, 25, 0, 0).getTime();
    const blocked = runNotice(
      {
        outcome: outcome('blocked', {
          error: 'workspace.daily cap reached. It resets 2026-11-25T00:00:00.000Z.',
          errorKind: 'budget',
          blockedScope: 'workspace.daily',
          resumeAfter: midnight,
        }),
      },
      now,
    );
    assert.equal(blocked.severity, 'warning');
    const local = new Date(midnight).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
    assert.ok(
      blocked.message.includes(`paused at the workspace daily cap after $1.25. It resets at ${local} (in 3 h)`),
      blocked.message,
    );
    assert.doesNotMatch(blocked.message, /T00:00:00|Z\b/, 'no ISO UTC timestamp');
    assert.deepEqual(buttons(blocked), [
      ['Resume', Commands.resumeRun, 'run-1'],
      ['Open budget.json', Commands.editPolicy],
    ]);
    // Part of the cost estimated (a call cut short): said so.
    const cut = runNotice({ outcome: outcome('cancelled', { costMicros: 2100, estimatedMicros: 400 }) });
    assert.match(cut.message, /cancelled after \$0\.0021 \(\$0\.0004 of it estimated\)/);

    for (const status of ['paused', 'interrupted'] as const) {
      const stopped = runNotice({
        outcome: outcome(status, { errorKind: status === 'paused' ? 'rateLimit' : undefined }),
      });
      assert.equal(stopped.severity, 'warning');
      assert.deepEqual(buttons(stopped), [['Resume', Commands.resumeRun, 'run-1']], status);
    }

    const cancelled = runNotice({ outcome: outcome('cancelled', { errorKind: 'cancelled', error: 'Cancelled.' }) });
    assert.deepEqual([cancelled.message, cancelled.actions], ['Agent Budget: code-review cancelled after $1.25.', []]);

    const failed = (errorKind: ErrorKind) =>
      buttons(runNotice({ outcome: outcome('failed', { errorKind, error: 'x' }) }));
    const open = ['Open Run', Commands.openRunOutput, 'run-1'];
    // A recorded run that stopped on a key resumes once the key is set.
    const resume = ['Resume', Commands.resumeRun, 'run-1'];
    assert.deepEqual(failed('auth'), [['Set API Key…', Commands.setApiKey], resume, open]);
    assert.deepEqual(failed('missingKey'), [['Set API Key…', Commands.setApiKey], resume, open]);
    assert.deepEqual(failed('config'), [['Open budget.json', Commands.editPolicy], open]);
    assert.deepEqual(failed('provider'), [['Resume', Commands.resumeRun, 'run-1'], open]);
    assert.deepEqual(failed('crash'), [['Resume', Commands.resumeRun, 'run-1'], open]);
    assert.deepEqual(failed('internal'), [open]);
  });
});
