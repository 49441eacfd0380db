import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LedgerEntry, StoreRecord, TaskState } from '../../../src/core/store/records';
import { WorkspaceStore } from '../../../src/core/store/store';
import { ZERO_USAGE, type TokenUsage } from '../../../src/core/usage';

// The two queries the runner added to StoreQueries: taskTreeTotals (sub-agent budgets on resume) and runUsage.
describe('StoreQueries for the runner', () => {
  let dir: string;
  let store: WorkspaceStore;
  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ab-queries-'));
    store = await WorkspaceStore.open({ dir, pollMs: 0 });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const task = (id: string, runId: string, parent: string | null): StoreRecord => {
    const t: TaskState = {
      id,
      runId,
      name: 'step',
      parentTaskId: parent,
      status: 'running',
      createdAt: 1,
      updatedAt: 1,
      rev: 1,
      data: {},
    };
    return { k: 'task', task: t };
  };
  let n = 0;
  const charge = (
    runId: string,
    taskId: string,
    ts: number,
    usage: Partial<TokenUsage>,
    costMicros: number,
  ): StoreRecord => {
    const entry: LedgerEntry = {
      id: `row-${++n}`,
      ts,
      provider: 'anthropic',
      model: 'claude-haiku-4-5',
      workflow: 'w',
      runId,
      taskId,
      task: 'step',
      tool: null,
      variant: null,
      usage: { ...ZERO_USAGE, ...usage },
      costMicros,
      estimated: false,
      requestId: null,
      latencyMs: null,
      reservationId: null,
      reservedMicros: null,
      estimatedInputTokens: null,
    };
    return { k: 'ledger', entry };
  };

  it('taskTreeTotals sums a task and all its descendants in its run, and nothing else', async () => {
    await store.commit([
      task('P', 'r1', null),
      task('C1', 'r1', 'P'),
      task('C2', 'r1', 'P'),
      task('G1', 'r1', 'C1'),
      task('S', 'r1', null), // a sibling step
      task('X', 'r2', 'P'), // another run's task naming the same parent id is not part of the tree
      charge('r1', 'P', 1000, { input: 10, output: 5 }, 100),
      charge('r1', 'C1', 1001, { input: 20, output: 10 }, 200),
      charge('r1', 'C2', 1002, { input: 30, cacheRead: 7 }, 300),
      charge('r1', 'G1', 1003, { output: 40, reasoning: 3 }, 400),
      charge('r1', 'S', 1004, { input: 1000 }, 5000),
      charge('r2', 'X', 1005, { input: 2000 }, 7000),
    ]);
    assert.deepEqual(store.queries.taskTreeTotals('P'), { calls: 4, tokens: 15 + 30 + 37 + 43, costMicros: 1000 });
    assert.deepEqual(store.queries.taskTreeTotals('C1'), { calls: 2, tokens: 30 + 43, costMicros: 600 });
    assert.deepEqual(store.queries.taskTreeTotals('G1'), { calls: 1, tokens: 43, costMicros: 400 });
    assert.deepEqual(store.queries.taskTreeTotals('nobody'), { calls: 0, tokens: 0, costMicros: 0 });
  });

  it('runUsage sums each token kind of one run since a time', async () => {
    await store.commit([
      charge('r1', 'a', 500, { input: 999 }, 1), // before the run started (the bound is inclusive from `sinceMs`)
      charge(
        'r1',
        'a',
        1000,
        { input: 10, output: 5, cacheRead: 3, cacheWrite5m: 2, cacheWrite1h: 1, reasoning: 4 },
        10,
      ),
      charge('r1', 'b', 2000, { input: 20, output: 6 }, 20),
      charge('r2', 'c', 1500, { input: 77 }, 30),
    ]);
    assert.deepEqual(store.queries.runUsage('r1', 1000), {
      input: 30,
      output: 11,
      cacheRead: 3,
      cacheWrite5m: 2,
      cacheWrite1h: 1,
      reasoning: 4,
    });
    assert.deepEqual(store.queries.runUsage('r3', 0), ZERO_USAGE);
  });
});
