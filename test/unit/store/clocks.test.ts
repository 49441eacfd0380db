import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { BudgetEngine, policyDays } from '../../../src/core/budget/engine';
import { ManualClock } from '../../../src/core/clock';
import { defaultPolicy } from '../../../src/core/policy/load';
import { pidNamespace, processStart } from '../../../src/core/processIdentity';
import type { RunState, StoreRecord } from '../../../src/core/store/records';
import { WorkspaceStore } from '../../../src/core/store/store';

const DAY = 86_400_000;
const NOV1 = Date.UTC(2026, 10, 1, 12);

/** What the runner writes to claim a run for resuming (runner.ts resumeClaimed): compare-and-set on the revision. */
function claim(store: WorkspaceStore, seen: RunState): Promise<boolean> {
  return store
    .transact((q) => {
      if (q.getRun(seen.id)?.rev !== seen.rev) throw new Error('changed while resuming');
      const run: RunState = { ...seen, status: 'running', owner: store.ownerId, rev: store.nextRev() };
      return { records: [{ k: 'run', run }], result: true };
    })
    .catch(() => false);
}

function interrupted(id: string, clock: ManualClock): RunState {
  return {
    id,
    workflow: 'w',
    status: 'interrupted',
    title: id,
    createdAt: clock.now(),
    updatedAt: clock.now(),
    rev: Math.round(clock.now() * 1000), // what wall-clock revisions looked like
    owner: 'gone:1:x',
    parentRunId: null,
    variant: null,
    data: null,
  };
}

describe('clocks: ordering never comes from the wall clock', () => {
  let root: string;
  let dir: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'ab-clocks-'));
    dir = path.join(root, '.agent-budget');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const open = (clock: ManualClock, owner: string) => WorkspaceStore.open({ dir, pollMs: 0, clock, owner });

  for (const skew of [-DAY, DAY]) {
    const which = skew < 0 ? 'a day behind' : 'a day ahead';
    it(`a Cancel from a process whose clock is ${which} is never dropped`, async () => {
      const runnerClock = new ManualClock(NOV1);
      const runner = await open(runnerClock, 'host-a:1:runner');
      const canceller = await open(new ManualClock(NOV1 + skew), 'host-b:2:cli');
      const heard: string[] = [];
      runner.onDidApply((e) => {
        for (const r of e.records) if (e.origin === 'remote' && r.k === 'run') heard.push(r.run.status);
      });
      const run: RunState = { ...interrupted('r1', runnerClock), status: 'running', owner: runner.ownerId };
      for (let step = 0; step < 3; step++) {
        runnerClock.advance(1_000);
        await runner.commit([{ k: 'run', run: { ...run, updatedAt: runnerClock.now(), rev: runner.nextRev() } }]);
      }
      await canceller.refresh();
      const seen = canceller.queries.getRun('r1')!;
      const { costMicros: _c, estimatedMicros: _e, tokens: _t, calls: _n, ...state } = seen;
      await canceller.commit([{ k: 'run', run: { ...state, status: 'cancelled', rev: canceller.nextRev() } }]);
      await runner.refresh();
      assert.equal(runner.queries.getRun('r1')?.status, 'cancelled', 'the runner sees the Cancel');
      assert.deepEqual(heard, ['cancelled'], 'and hears it, to stop the stream in flight');
      assert.equal(canceller.queries.getRun('r1')?.status, 'cancelled');
      await runner.close();
      await canceller.close();
    });

    it(`two processes never both resume one run when one clock is ${which}`, async () => {
      const writer = await open(new ManualClock(NOV1), 'host-w:3:w');
      await writer.commit([{ k: 'run', run: interrupted('r2', new ManualClock(NOV1)) }]);
      await writer.close();
      const skewed = await open(new ManualClock(NOV1 + skew), 'host-a:1:a');
      const right = await open(new ManualClock(NOV1), 'host-b:2:b');
      // Both read the run before either claims it (two windows pressing Resume at once).
      const seenBySkewed = skewed.queries.getRun('r2')!;
      const seenByRight = right.queries.getRun('r2')!;
      const first = await claim(skewed, seenBySkewed);
      const second = await claim(right, seenByRight);
      assert.deepEqual([first, second], [true, false], 'the first claim wins; the second sees it changed');
      await right.refresh();
      assert.equal(right.queries.getRun('r2')?.owner, skewed.ownerId);
      await skewed.close();
      await right.close();
    });
  }

  it("a lock is never judged by its age on the wall clock: a clock moved a day does not break a live owner's lock", async () => {
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      await once(child, 'spawn');
      // A live process of this machine holds the lock since "yesterday", as a clock moved a day ahead sees it.
      const holder = `${hostname()}:${child.pid}:n:${processStart(child.pid!) ?? ''}:${pidNamespace() ?? ''}`;
      const store = await open(new ManualClock(NOV1 + DAY), 'host-c:4:c');
      writeFileSync(path.join(dir, 'store.lock'), JSON.stringify({ owner: holder, token: 't', ts: NOV1 - DAY }));
      const write = store.commit([{ k: 'alert', scope: 's', periodKey: 'p', pct: 50, ts: NOV1 }]);
      const outcome = await Promise.race([
        write.then(() => 'written'),
        new Promise((r) => setTimeout(() => r('waiting'), 300)),
      ]);
      assert.equal(outcome, 'waiting', 'the live holder keeps its lock');
      child.kill();
      await once(child, 'exit');
      await write; // its owner gone, the lock is broken at once
      assert.ok(store.queries.alertFired('s', 'p', 50));
      await store.close();
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill();
    }
  });

  it('a call in flight at midnight is charged to the day its reservation was held, also after a reopen and a time-zone change', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 1, 23, 59, 59, 900));
    const policy = defaultPolicy();
    policy.timeZone = 'UTC';
    policy.prices = {
      'test-model': { provider: 'openai', inputPerMTok: 2, outputPerMTok: 10, maxOutputTokens: 4_000 },
    };
    let store = await WorkspaceStore.open({ dir, pollMs: 0, clock, days: policyDays(policy) });
    let engine = new BudgetEngine(store, policy, clock);
    const admission = await engine.admit({
      workflow: 'w',
      runId: 'run-1',
      taskId: 'task-1',
      task: 'step',
      provider: 'openai',
      model: 'test-model',
      inputTokens: 1_000,
      maxOutputTokens: 1_000,
      tokenScopes: [],
      minOutputTokens: 1,
    });
    clock.set(Date.UTC(2026, 10, 2, 0, 0, 0, 300)); // the answer arrives after midnight
    const entry = await engine.settle(admission, {
      usage: { input: 1_000, output: 1_000, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
    });
    assert.equal(entry.heldAt, admission.reservation.ts);
    const daily = (e: BudgetEngine, at: number) => e.usdScopes('w', at).find((s) => s.scope === 'workspace.daily')!;
    const nov1 = Date.UTC(2026, 10, 1, 12);
    const nov2 = Date.UTC(2026, 10, 2, 12);
    assert.equal(daily(engine, nov1).used, entry.costMicros, 'counted on Nov 1, where it was admitted');
    assert.equal(daily(engine, nov2).used, 0, 'not on Nov 2');
    const byDay = () =>
      store.queries.breakdown('day', { fromDay: '2026-11-01', toDay: '2026-11-03' }).map((r) => [r.key, r.costMicros]);
    assert.deepEqual(byDay(), [['2026-11-01', entry.costMicros]]);
    engine.dispose();
    await store.close();

    store = await WorkspaceStore.open({ dir, pollMs: 0, clock, days: policyDays(policy) });
    engine = new BudgetEngine(store, policy, clock);
    assert.equal(daily(engine, nov1).used, entry.costMicros, 'the same after a reopen (counters from the rollups)');
    assert.equal(daily(engine, nov2).used, 0);
    assert.equal(store.queries.ledgerEntry(entry.id)?.heldAt, admission.reservation.ts);
    engine.dispose();
    await store.close();

    // A zone whose midnight falls between the two as well (0.1 s west of UTC): the row is re-filed by when it was
    // held (Nov 1 there), not by when it was written (Nov 2 there).
    const west = { zone: 'Test/West', key: (ms: number) => new Date(ms - 100).toISOString().slice(0, 10) };
    store = await WorkspaceStore.open({ dir, pollMs: 0, clock, days: west });
    assert.deepEqual(byDay(), [['2026-11-01', entry.costMicros]]);
    await store.close();
  });

  it('keeps revisions increasing across processes and reopenings without reading a clock', async () => {
    const a = await open(new ManualClock(NOV1 + DAY), 'host-a:1:a');
    const records: StoreRecord[] = [];
    for (let i = 0; i < 3; i++)
      records.push({ k: 'run', run: { ...interrupted(`r${i}`, new ManualClock(NOV1)), rev: a.nextRev() } });
    await a.commit(records);
    const revs = records.map((r) => (r.k === 'run' ? a.queries.getRun(r.run.id)!.rev : 0));
    await a.close();
    const b = await open(new ManualClock(NOV1 - DAY), 'host-b:2:b');
    await b.commit([{ k: 'run', run: { ...interrupted('r0', new ManualClock(NOV1 - DAY)), rev: b.nextRev() } }]);
    const later = b.queries.getRun('r0')!.rev;
    assert.ok(later > Math.max(...revs), `a later write (${later}) outranks every earlier one (${revs.join(', ')})`);
    assert.deepEqual(
      revs,
      [...revs].sort((x, y) => x - y),
    );
    await b.close();
  });
});
