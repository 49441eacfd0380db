import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { OutcomeRecord, RunState, StoreRecord } from '../../../src/core/store/records';
import { WorkspaceStore } from '../../../src/core/store/store';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';

function run(id: string, workflow: string, createdAt: number, extra: Partial<RunState> = {}): StoreRecord {
  return {
    k: 'run',
    run: {
      id,
      workflow,
      status: 'completed',
      title: id,
      createdAt,
      updatedAt: createdAt,
      rev: 1,
      owner: 'h:1:x',
      parentRunId: null,
      variant: null,
      data: null,
      ...extra,
    },
  };
}

describe('store: marked results and run statistics (schema 5)', () => {
  let root: string;
  let store: WorkspaceStore;
  beforeEach(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'ab-outcomes-'));
    store = await WorkspaceStore.open({ dir: path.join(root, '.agent-budget'), pollMs: 0 });
  });
  afterEach(async () => {
    await store.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('keeps the latest mark of a run whatever order the marks are applied in, and survives a reopen', async () => {
    const marks: OutcomeRecord[] = [
      { k: 'outcome', runId: 'r1', result: 'accepted', ts: 10 },
      { k: 'outcome', runId: 'r1', result: 'rejected', ts: 30 },
      { k: 'outcome', runId: 'r1', result: 'accepted', ts: 20 },
    ];
    await store.commit([run('r1', 'code-review', 1)]);
    await store.commit([marks[1]!]);
    await store.commit([marks[0]!, marks[2]!]); // older marks arrive late (another window)
    assert.deepEqual(store.queries.runResult('r1'), { result: 'rejected', ts: 30 });
    await store.commit([marks[1]!]); // a replay changes nothing
    assert.deepEqual(store.queries.runResult('r1'), { result: 'rejected', ts: 30 });
    await store.close();
    store = await WorkspaceStore.open({ dir: path.join(root, '.agent-budget'), pollMs: 0 });
    assert.deepEqual(store.queries.runResult('r1'), { result: 'rejected', ts: 30 });
    assert.equal(store.queries.runResult('nope'), undefined);
  });

  it('counts runs by workflow, variant, status and result with their totals, for runs created in the range', async () => {
    const rand = seededRandom(5);
    const records: StoreRecord[] = [
      run('a1', 'code-review', 100, { variant: 'claude-haiku-4-5@v1' }),
      run('a2', 'code-review', 200, { variant: 'claude-haiku-4-5@v1', status: 'failed' }),
      run('a3', 'code-review', 300, { variant: 'claude-sonnet-4-5@v2' }),
      run('a4', 'explain', 400),
      run('late', 'code-review', 1_000, { variant: 'claude-haiku-4-5@v1' }),
      { k: 'outcome', runId: 'a1', result: 'accepted', ts: 500 },
    ];
    const costs: Record<string, number> = {};
    for (const [i, id] of ['a1', 'a1', 'a2', 'a3', 'a4', 'late'].entries()) {
      const entry = randomEntry(rand, 100 + i, { runId: id, estimated: false });
      costs[id] = (costs[id] ?? 0) + entry.costMicros;
      records.push({ k: 'ledger', entry });
    }
    await store.commit(records);
    const rows = store.queries
      .runStats(0, 1_000)
      .map((r) => [r.workflow, r.variant, r.status, r.result, r.runs, r.costMicros, r.calls]);
    assert.deepEqual(rows, [
      ['code-review', 'claude-haiku-4-5@v1', 'completed', 'accepted', 1, costs.a1, 2],
      ['code-review', 'claude-haiku-4-5@v1', 'failed', null, 1, costs.a2, 1],
      ['code-review', 'claude-sonnet-4-5@v2', 'completed', null, 1, costs.a3, 1],
      ['explain', null, 'completed', null, 1, costs.a4, 1],
    ]);
    assert.deepEqual(
      store.queries.runStats(0, 2_000, { workflow: 'explain' }).map((r) => r.runs),
      [1],
    );
    const top = store.queries.topRuns(0, 2_000, 3).map((r) => r.id);
    const expected = Object.entries(costs)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([id]) => id);
    assert.deepEqual(top, expected);
    assert.equal(store.queries.ledgerCountBetween(100, 103), 3);
  });
});
