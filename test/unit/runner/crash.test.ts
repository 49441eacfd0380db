import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startFakeAnthropic, type FakeAnthropic, type FakeUsage, type Running } from '../../fakes';
import { priceCall } from '../../../src/core/pricing/cost';
import { readCheckpoint } from '../../../src/core/runner/checkpoint';
import { ZERO_USAGE } from '../../../src/core/usage';
import { bundleChild } from '../../support/childBundle';
import { collectEvents, CHAIN_WORKFLOW, fakeAccess, ledgerOf, openRunner, tempWorkspace, writePolicy } from './helpers';

interface Child {
  proc: ChildProcess;
  runId: Promise<string>;
  exited: Promise<number | null>;
  output: () => string;
}

function startChild(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(process.execPath, [script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  let resolveRun: (id: string) => void;
  const runId = new Promise<string>((r) => (resolveRun = r));
  proc.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    const m = /^run (\S+)$/m.exec(out);
    if (m) resolveRun(m[1]!);
  });
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, runId, exited, output: () => out };
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Kills the child once the fake server has streamed part of its `n`-th generation request (1-based). */
async function killDuringCall(fake: FakeAnthropic, child: Child, n: number): Promise<void> {
  await until(`generation request ${n}`, () => fake.generationRequests.length >= n);
  await new Promise((r) => setTimeout(r, 150)); // the hung stream has sent message_start and a text block start
  child.proc.kill('SIGKILL');
  await child.exited;
}

const STEP_PROMPTS = ['Step one about', 'Step two after', 'Step three after'];
const USAGE: Array<Partial<FakeUsage>> = [
  { input: 110, output: 30 },
  { input: 150, output: 45, cacheRead: 20 },
  { input: 190, output: 60 },
];

function billedMicros(u: Partial<FakeUsage>): number {
  return priceCall({ provider: 'anthropic', model: 'claude-haiku-4-5', usage: { ...ZERO_USAGE, ...u } }).costMicros;
}

describe('Runner: SIGKILL during each step, then resume', function () {
  this.timeout(60_000);
  let script: string;
  let fake: Running<FakeAnthropic>;
  let ws: ReturnType<typeof tempWorkspace>;
  before(async () => {
    script = await bundleChild('test/unit/runner/runChild.ts');
  });
  beforeEach(async () => {
    fake = await startFakeAnthropic();
    ws = tempWorkspace({ '.agent-budget/workflows/chain.json': CHAIN_WORKFLOW });
  });
  afterEach(async () => {
    fake.destroyOpen();
    await fake.close();
    ws.cleanup();
  });

  for (const killed of [0, 1, 2]) {
    it(`killed in step ${killed + 1}: resume finishes with every completed call made once and the killed one charged as estimated`, async () => {
      // Steps before the killed one answer; the killed step's stream hangs after a few events.
      for (let i = 0; i < killed; i++) fake.enqueue({ text: `OUT${i + 1}`, usage: USAGE[i] });
      fake.enqueue({ text: 'never finished', usage: USAGE[killed], hangAfterEvents: 3 });
      const child = startChild(script, [ws.folder, fake.baseUrl, 'start', 'chain', 'crashes']);
      const runId = await child.runId;
      await killDuringCall(fake, child, killed + 1);

      // The retry of the killed call and the steps after it answer normally.
      for (let i = killed; i < 3; i++) fake.enqueue({ text: `OUT${i + 1}`, usage: USAGE[i] });
      const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
      try {
        assert.equal(workspace.store.queries.getRun(runId)?.status, 'interrupted', 'found interrupted on open');
        const marker = readCheckpoint(workspace.store.queries.checkpoint(runId)!.state).steps[killed]!.inFlight;
        assert.deepEqual(marker, { attempt: 1 }, 'the checkpoint says the call was in flight');
        const { events, onEvent } = collectEvents();
        const outcome = await runner.resume(runId.slice(0, 12), { onEvent });
        assert.equal(outcome.status, 'completed', outcome.error);
        assert.deepEqual(
          outcome.steps.map((s) => s.output),
          ['OUT1', 'OUT2', 'OUT3'],
        );
        assert.ok(
          events.some((e) => e.type === 'warning' && /Retrying/.test(e.message)),
          'the retry is announced',
        );

        // The server's log: every completed call exactly once; the killed call twice, the same request both times.
        const bodies = fake.generationRequests.map((r) => JSON.stringify((r.body as { messages: unknown }).messages));
        assert.equal(bodies.length, 4);
        STEP_PROMPTS.forEach((prompt, i) => {
          const made = bodies.filter((b) => b.includes(prompt));
          assert.equal(made.length, i === killed ? 2 : 1, `step ${i + 1} was requested ${made.length} times`);
          if (i === killed) assert.equal(made[0], made[1], 'the retry sends the same conversation');
        });

        // The ledger: what the server billed for the three answers, plus the reservation of the killed call.
        const rows = ledgerOf(workspace, runId);
        const exact = rows.filter((r) => !r.estimated);
        const estimated = rows.filter((r) => r.estimated);
        assert.equal(exact.length, 3);
        assert.equal(estimated.length, 1);
        assert.deepEqual(
          exact.map((r) => r.costMicros),
          USAGE.map(billedMicros),
        );
        const est = estimated[0]!;
        assert.equal(est.task, ['one', 'two', 'three'][killed]);
        assert.equal(est.costMicros, est.reservedMicros);
        assert.ok(est.costMicros > 0);
        assert.equal(est.id, `est-${est.reservationId}`);
        const billed = USAGE.reduce((s, u) => s + billedMicros(u), 0);
        assert.equal(outcome.costMicros, billed + est.costMicros);
        assert.equal(workspace.store.queries.openReservations().length, 0);
      } finally {
        await close();
      }
    });
  }

  it('a second crash on the same call fails the run with a clear message; resuming again retries it', async () => {
    fake.enqueue({ text: 'OUT1', usage: USAGE[0] }, { text: 'hang', hangAfterEvents: 3 });
    const first = startChild(script, [ws.folder, fake.baseUrl, 'start', 'chain', 'twice']);
    const runId = await first.runId;
    await killDuringCall(fake, first, 2);

    fake.enqueue({ text: 'hang again', hangAfterEvents: 3 });
    const second = startChild(script, [ws.folder, fake.baseUrl, 'resume', runId]);
    await killDuringCall(fake, second, 3);

    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const failed = await runner.resume(runId);
      assert.equal(failed.status, 'failed');
      assert.equal(failed.errorKind, 'crash');
      assert.match(failed.error!, /stopped twice while step "two" was waiting/);
      assert.equal(fake.generationRequests.length, 3, 'no third attempt on its own');
      assert.equal(ledgerOf(workspace, runId).filter((r) => r.estimated).length, 2, 'both lost attempts are charged');
      assert.equal(failed.steps[0]!.status, 'completed');

      fake.enqueue({ text: 'OUT2', usage: USAGE[1] }, { text: 'OUT3', usage: USAGE[2] });
      const done = await runner.resume(runId);
      assert.equal(done.status, 'completed', done.error);
      assert.equal(fake.generationRequests.length, 5);
      assert.equal(fake.generationRequests.filter((r) => JSON.stringify(r.body).includes('Step one about')).length, 1);
    } finally {
      await close();
    }
  });

  it("killed right after a tool's fixed cost was charged: resume runs the tool without charging it again", async () => {
    writePolicy(ws.folder, { tools: { costsUsd: { listFiles: 0.02 } } });
    mkdirSync(path.join(ws.folder, '.agent-budget', 'workflows'), { recursive: true });
    writeFileSync(
      path.join(ws.folder, '.agent-budget', 'workflows', 'look.json'),
      JSON.stringify({
        model: 'claude-haiku-4-5',
        steps: [{ id: 'look', prompt: 'Look at {{input}}', tools: ['listFiles'] }],
      }),
    );
    writeFileSync(path.join(ws.folder, 'notes.md'), '# Notes\n');
    fake.enqueue({ toolCalls: [{ name: 'listFiles', input: { pattern: '*.md' } }], usage: { input: 50, output: 20 } });
    const child = startChild(script, [ws.folder, fake.baseUrl, 'start', 'look', 'it'], {
      AB_DIE_AFTER_TOOL_CHARGE: '1',
    });
    const runId = await child.runId;
    await child.exited;

    fake.enqueue({ text: 'Found the notes.', usage: { input: 90, output: 10 } });
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      assert.equal(workspace.store.queries.getRun(runId)?.status, 'interrupted', child.output());
      assert.equal(
        ledgerOf(workspace, runId).filter((r) => r.provider === 'tool').length,
        1,
        'the dead process charged the tool',
      );
      const outcome = await runner.resume(runId);
      assert.equal(outcome.status, 'completed', outcome.error);
      assert.deepEqual(
        ledgerOf(workspace, runId)
          .filter((r) => r.provider === 'tool')
          .map((r) => r.costMicros),
        [20_000],
        'charged once',
      );
      assert.match(
        JSON.stringify(fake.generationRequests[1]!.body),
        /notes\.md/,
        'the tool ran on resume and its result went back',
      );
    } finally {
      await close();
    }
  });

  it('killed while a writing tool runs: resume never runs it again and tells the model its effect is unknown', async () => {
    writePolicy(ws.folder, { tools: { allow: ['runCommand'] } });
    mkdirSync(path.join(ws.folder, '.agent-budget', 'workflows'), { recursive: true });
    writeFileSync(
      path.join(ws.folder, '.agent-budget', 'workflows', 'shell.json'),
      JSON.stringify({
        model: 'claude-haiku-4-5',
        steps: [{ id: 'work', prompt: 'Do {{input}}', tools: ['runCommand'] }],
      }),
    );
    // The command notes its pid, logs that it started and waits. Through sh its pid leads its own process group;
    // cmd.exe has none, so there the node script is the process to stop.
    const command =
      process.platform === 'win32'
        ? `"${process.execPath}" -e "const fs = require('fs'); fs.writeFileSync('pid.txt', String(process.pid)); fs.appendFileSync('log.txt', 'started\\n'); setTimeout(() => {}, 30000)"`
        : 'echo $$ > pid.txt; echo started >> log.txt; sleep 30';
    fake.enqueue({ toolCalls: [{ name: 'runCommand', input: { command } }], usage: { input: 50, output: 20 } });
    const child = startChild(script, [ws.folder, fake.baseUrl, 'start', 'shell', 'it']);
    const runId = await child.runId;
    const log = path.join(ws.folder, 'log.txt');
    await until('the command to start', () => existsSync(log) && existsSync(path.join(ws.folder, 'pid.txt')));
    child.proc.kill('SIGKILL');
    await child.exited;
    const pid = Number(readFileSync(path.join(ws.folder, 'pid.txt'), 'utf8'));
    try {
      // The command outlives the runner that started it: its process group on POSIX, the process on Windows.
      process.kill(process.platform === 'win32' ? pid : -pid, 'SIGKILL');
    } catch {
      // already gone
    }

    fake.enqueue({ text: 'I could not confirm the command finished.', usage: { input: 90, output: 10 } });
    const { runner, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }), undefined, {
      trustPolicy: true,
    });
    try {
      const outcome = await runner.resume(runId);
      assert.equal(outcome.status, 'completed', outcome.error);
      assert.equal(readFileSync(log, 'utf8'), 'started\n', 'the command ran once');
      assert.equal(fake.generationRequests.length, 2, 'the call that asked for the command was not repeated');
      assert.match(
        JSON.stringify(fake.generationRequests[1]!.body),
        /interrupted \(the process stopped while it ran\), so its effect is unknown/,
      );
    } finally {
      await close();
    }
  });
});
