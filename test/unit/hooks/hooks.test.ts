import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { BudgetHooks, type HookApprover } from '../../../src/core/hooks/hooks';
import { parsePolicyText } from '../../../src/core/policy/load';
import type { HookEvent } from '../../../src/core/hooks/events';
import { startFakeAnthropic, type FakeAnthropic, type Running } from '../../fakes';
import { itWhere, processTrees } from '../../support/platform';
import { prose } from '../../support/prose';
import { removeUserPolicy, writeUserPolicy } from '../../support/userPolicy';
import { CHAIN_WORKFLOW, fakeAccess, openRunner, tempWorkspace, writePolicy } from '../runner/helpers';

/** A hook script: appends the JSON it reads on stdin as one line to `out`, then does what `then` says. */
function hookScript(folder: string, name: string, then = ''): string {
  const file = path.join(folder, `${name}.js`);
  writeFileSync(
    file,
    `let s='';process.stdin.on('data',c=>s+=c).on('end',()=>{require('fs').appendFileSync(process.argv[2],s.trim()+'\\n');${then}});`,
  );
  return file;
}

/** Whether `pid` is a live process (a zombie no one has reaped yet is not: it was killed). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

/** Step one's long answer: step two's prompt alone is bigger than the task limit (in the provider's count too). */
const LONG_ANSWER = prose(400, 'long');

const command = (script: string, out: string) => `"${process.execPath}" "${script}" "${out}"`;

function events(out: string): HookEvent[] {
  return existsSync(out)
    ? readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as HookEvent)
    : [];
}

describe('hooks on budget events', function () {
  this.timeout(30_000);
  let fake: Running<FakeAnthropic>;
  let ws: ReturnType<typeof tempWorkspace>;
  beforeEach(async () => {
    fake = await startFakeAnthropic();
    ws = tempWorkspace({ '.agent-budget/workflows/chain.json': CHAIN_WORKFLOW });
  });
  afterEach(async () => {
    removeUserPolicy();
    fake.destroyOpen();
    await fake.close();
    ws.cleanup();
  });

  async function open(options: { approver?: HookApprover; trustPolicy?: boolean } = {}) {
    const opened = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }), undefined, {
      trustPolicy: options.trustPolicy,
    });
    const log: string[] = [];
    const hooks = new BudgetHooks(opened.workspace, { approver: options.approver, log: (l) => log.push(l) });
    return {
      ...opened,
      hooks,
      log,
      close: async () => {
        await hooks.flush();
        hooks.dispose();
        await opened.close();
      },
    };
  }

  it('a warning, a block and the run’s end reach the user’s hooks as JSON on stdin: scope, figures, run, workflow, no prompt', async () => {
    const out = path.join(ws.folder, 'events.jsonl');
    const script = hookScript(ws.folder, 'hook');
    writeUserPolicy({
      hooks: {
        onWarn: { command: command(script, out) },
        onBlock: { command: command(script, out) },
        onRunFinished: [{ command: command(script, out) }],
      },
    });
    writePolicy(ws.folder, { limits: { task: { softTokens: 50, hardTokens: 250 } } });
    fake.enqueue({ text: LONG_ANSWER, usage: { input: 20, output: 200 } });
    const { runner, close, hooks } = await open();
    try {
      const outcome = await runner.start('chain', { input: 'secret question' });
      assert.equal(outcome.status, 'blocked');
      await hooks.flush();
      // Each hook is its own process: they finish in any order.
      const order = ['onWarn', 'onBlock', 'onRunFinished'];
      const got = events(out).sort((a, b) => order.indexOf(a.event) - order.indexOf(b.event));
      assert.deepEqual(
        got.map((e) => e.event),
        order,
        'the warning once (it repeats on every call), the block, the end',
      );
      const [warn, block, finished] = got as [HookEvent, HookEvent, HookEvent];
      assert.equal(warn.scope, 'task');
      assert.equal(warn.unit, 'tokens');
      assert.equal(warn.limit, 250);
      assert.match(warn.messages.join(' '), /soft limit/);
      assert.deepEqual(
        [block.type, block.runId, block.workflow, block.task, block.scope, block.unit, block.limit, block.status],
        ['agent-budget.hook', outcome.runId, 'chain', 'two', 'task', 'tokens', 250, 'blocked'],
      );
      // Step two's own scope had used nothing: its prompt alone (step one's long answer) did not fit.
      assert.deepEqual([block.used, block.reserved, block.pct], [0, 0, 0]);
      assert.equal(block.messages[0], outcome.error);
      assert.equal(block.period, null);
      assert.equal(block.workspace, path.basename(ws.folder));
      assert.deepEqual([finished.status, finished.costMicros], ['blocked', outcome.costMicros]);
      const raw = readFileSync(out, 'utf8');
      for (const secret of ['secret question', 'Step one about', LONG_ANSWER.slice(0, 40), 'test-key'])
        assert.ok(!raw.includes(secret), `no prompt, output or key in the events (${secret})`);
    } finally {
      await close();
    }
  });

  itWhere(
    processTrees,
    'a failing or hanging hook never opens the gate: the block stays a block, and resume is blocked again',
    async () => {
      const script = hookScript(
        ws.folder,
        'slow',
        'require("fs").writeFileSync(process.argv[2]+".pid",String(process.pid));setTimeout(()=>{},60000)',
      );
      const out = path.join(ws.folder, 'slow.jsonl');
      writeUserPolicy({
        hooks: {
          onBlock: [
            { command: `"${process.execPath}" -e "process.stdout.write('allow'); process.exit(1)"` },
            { command: command(script, out), timeoutSeconds: 2 },
            { command: 'this-command-does-not-exist-anywhere' },
          ],
        },
      });
      writePolicy(ws.folder, { limits: { task: { hardTokens: 250 } } });
      fake.enqueue({ text: LONG_ANSWER, usage: { input: 20, output: 200 } });
      const { runner, close, hooks, log, workspace } = await open();
      try {
        const blocked = await runner.start('chain', { input: 'x' });
        assert.equal(blocked.status, 'blocked');
        await hooks.flush();
        assert.ok(
          log.some((l) => /hook onBlock `.*` exited with 1: allow\. The budget's decision stands\./.test(l)),
          log.join('\n'),
        );
        assert.ok(
          log.some((l) => /was stopped after 2 s/.test(l)),
          log.join('\n'),
        );
        assert.ok(
          log.some((l) => /this-command-does-not-exist-anywhere` exited with (127|1)/.test(l)),
          log.join('\n'),
        );
        assert.equal(events(out).length, 1, 'the slow hook got its event');
        const again = await runner.resume(blocked.runId);
        assert.equal(again.status, 'blocked', 'nothing a hook did loosened the budget');
        assert.equal(again.blockedScope, 'task');
        assert.equal(fake.generationRequests.length, 1, 'the blocked call was never made');
        assert.equal(workspace.store.queries.openReservations().length, 0);
        await hooks.flush();
        const pid = Number(readFileSync(`${out}.pid`, 'utf8'));
        // SIGKILL is delivered asynchronously: give a loaded machine a moment (the hook itself would live 60 s).
        for (let i = 0; i < 50 && running(pid); i++) await new Promise((r) => setTimeout(r, 100));
        assert.ok(!running(pid), 'the timed-out hook was stopped, not left running');
      } finally {
        await close();
      }
    },
  );

  it("a repository's hooks: ignored without consent; with it, commands ask first (runCommand's rule), webhooks post", async () => {
    const received: HookEvent[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req
        .on('data', (c) => (body += c))
        .on('end', () => {
          received.push(JSON.parse(body) as HookEvent);
          res.end('ok');
        });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const out = path.join(ws.folder, 'repo.jsonl');
    const script = hookScript(ws.folder, 'repo');
    const repoPolicy = {
      hooks: { onRunFinished: [{ command: command(script, out) }, { url }] },
    };
    const asked: string[] = [];
    const approver = (answer: boolean): HookApprover => ({
      approve: async (r) => {
        asked.push(r.command);
        return answer;
      },
    });
    try {
      writePolicy(ws.folder, repoPolicy);
      {
        const { runner, close, hooks } = await open({ approver: approver(true) });
        await runner.start('chain', { input: 'x' });
        await hooks.flush();
        await close();
      }
      assert.deepEqual([events(out).length, received.length, asked.length], [0, 0, 0], 'no consent: nothing runs');

      {
        const { runner, close, hooks, log } = await open({ approver: approver(false), trustPolicy: true });
        await runner.start('chain', { input: 'x' });
        await runner.start('chain', { input: 'y' });
        await hooks.flush();
        await close();
        assert.deepEqual(asked, [command(script, out)], 'asked once per command in a session');
        assert.equal(events(out).length, 0, 'declined: not run');
        assert.ok(log.some((l) => /was not approved/.test(l)));
        assert.deepEqual(
          received.map((e) => [e.event, e.status]),
          [
            ['onRunFinished', 'completed'],
            ['onRunFinished', 'completed'],
          ],
          'the webhook needs only the consent',
        );
      }

      writePolicy(ws.folder, { ...repoPolicy, tools: { allow: ['readFile', 'runCommand'], approve: [] } });
      asked.length = 0;
      const { runner, close, hooks } = await open({ approver: approver(false), trustPolicy: true });
      await runner.start('chain', { input: 'z' });
      await hooks.flush();
      await close();
      assert.deepEqual(asked, [], 'runCommand allowed: no question');
      assert.deepEqual(
        events(out).map((e) => e.event),
        ['onRunFinished'],
      );
    } finally {
      server.close();
    }
  });

  it('degrades and alerts: the rule’s degrade and a USD threshold reach their hooks with the period', async () => {
    const out = path.join(ws.folder, 'more.jsonl');
    const script = hookScript(ws.folder, 'more');
    writeUserPolicy({
      timeZone: 'UTC',
      hooks: { onDegrade: { command: command(script, out) }, onAlert: { command: command(script, out) } },
    });
    writePolicy(ws.folder, {
      limits: { workspace: { dailyUsd: 0.001 } },
      alerts: { thresholdsPct: [1] },
      rules: [{ when: { workflow: 'chain' }, action: 'degrade' }],
      workflows: { chain: { degradeModel: 'claude-3-5-haiku-latest' } },
    });
    fake.enqueue({ text: 'one', usage: { input: 20, output: 20 } });
    const { runner, close, hooks } = await open();
    try {
      await runner.start('chain', { input: 'x' });
      await hooks.flush();
      const got = events(out);
      const degrade = got.find((e) => e.event === 'onDegrade');
      assert.ok(degrade, JSON.stringify(got));
      assert.match(degrade.messages.join(' '), /Degraded from claude-haiku-4-5 to claude-3-5-haiku-latest/);
      assert.equal(degrade.model, 'claude-haiku-4-5');
      const alert = got.find((e) => e.event === 'onAlert');
      assert.ok(alert, JSON.stringify(got));
      assert.equal(alert.scope, 'workspace.daily');
      assert.match(alert.period!, /^\d{4}-\d{2}-\d{2}$/);
      assert.equal(alert.unit, 'usd');
      assert.equal(alert.limit, 1000);
    } finally {
      await close();
    }
  });
});

describe('hooks in budget.json: validation', () => {
  const problems = (hooks: unknown) =>
    parsePolicyText(JSON.stringify({ hooks }), 'budget.json').issues.map(
      (i) => `${i.severity} ${i.path}: ${i.message}`,
    );

  it('one hook or a list; a command or a url, each checked where it is written', () => {
    assert.deepEqual(
      problems({
        onBlock: { command: 'notify' },
        onWarn: [{ command: 'a', timeoutSeconds: 3 }, { url: 'https://x.invalid/' }],
      }),
      [],
    );
    assert.deepEqual(problems({ onBlock: { cmd: 'x' } }), [
      'error hooks.onBlock: needs a "command" (run with the event on its stdin) or a "url" (a webhook)',
      'warning hooks.onBlock.cmd: unknown key "cmd" is ignored',
    ]);
    assert.deepEqual(problems({ onBlock: [{ url: 'ftp://x' }] }), [
      'error hooks.onBlock[0].url: must be an http:// or https:// URL, got "ftp://x"',
    ]);
    assert.deepEqual(problems({ onBlock: { command: 'a', url: 'https://x.invalid/' } }), [
      'error hooks.onBlock: has both "command" and "url"; a hook is one or the other (write two hooks in a list)',
    ]);
    assert.deepEqual(problems({ onBlock: { url: 'https://x.invalid/', timeoutSeconds: 3 } }), [
      'error hooks.onBlock.timeoutSeconds: applies to a command; a webhook is retried like budget alerts',
    ]);
    assert.deepEqual(problems({ onBlock: 'echo' }), ['error hooks.onBlock: must be an object or a list, got "echo"']);
    assert.deepEqual(problems({ onBlok: { command: 'x' } }), [
      'warning hooks.onBlok: unknown key "onBlok" is ignored (did you mean "onBlock"?)',
    ]);
    assert.deepEqual(problems({ onBlock: { command: 'x', timeoutSeconds: 601 } }).length, 1);
  });
});
