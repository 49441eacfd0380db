// The Runs view's badge counts the runs to resume with one COUNT query (StoreQueries.countRuns), with no cap on
// how many it counts and without reading the runs themselves.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { newId } from '../../../src/core/processIdentity';
import type { RunState, RunStatus } from '../../../src/core/store/records';
import { WorkspaceStore } from '../../../src/core/store/store';
import { RESUMABLE } from '../../../src/vscode/panelSnapshot';

describe('countRuns (the Runs view badge)', function () {
  this.timeout(20_000);
  let root: string;
  let store: WorkspaceStore;

  before(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'ab-runs-badge-'));
    store = await WorkspaceStore.open({ dir: path.join(root, '.agent-budget'), pollMs: 0 });
  });

  after(async () => {
    await store.close();
    rmSync(root, { recursive: true, force: true });
  });

  async function putRuns(status: RunStatus, count: number): Promise<void> {
    const now = Date.now();
    const records: Parameters<typeof store.commit>[0] = [];
    for (let i = 0; i < count; i++) {
      const run: RunState = {
        id: newId(now + i),
        workflow: 'badge',
        status,
        title: `badge ${i}`,
        createdAt: now + i,
        updatedAt: now + i,
        rev: store.nextRev(),
        owner: store.ownerId,
        parentRunId: null,
        variant: null,
        data: null,
      };
      records.push({ k: 'run', run });
    }
    await store.commit(records);
  }

  it('is 0 on an empty store', () => {
    assert.equal(store.queries.countRuns([...RESUMABLE]), 0);
    assert.equal(store.queries.countRuns(), 0);
  });

  it('counts past the 1,000 rows the badge used to load, by status', async () => {
    await putRuns('interrupted', 700);
    await putRuns('blocked', 300);
    await putRuns('failed', 5);
    await putRuns('paused', 1);
    await putRuns('completed', 40);
    await putRuns('cancelled', 3);
    await putRuns('running', 2);
    assert.equal(store.queries.countRuns([...RESUMABLE]), 1006);
    assert.equal(store.queries.countRuns(['completed']), 40);
    assert.equal(store.queries.countRuns(['completed', 'cancelled']), 43);
    // No status: every run.
    assert.equal(store.queries.countRuns(), 1051);
    assert.equal(store.queries.countRuns([]), 1051);
    // listRuns reads rows and stops at its limit (500 by default): the count it gave was capped.
    assert.equal(store.queries.listRuns({ status: [...RESUMABLE] }).length, 500);
  });

  it('follows a run changing status', async () => {
    const [run] = store.queries.listRuns({ status: ['paused'] });
    assert.ok(run);
    const before = store.queries.countRuns([...RESUMABLE]);
    await store.commit([
      {
        k: 'run',
        run: { ...run, data: null, status: 'completed', updatedAt: Date.now(), rev: store.nextRev() } as RunState,
      },
    ]);
    assert.equal(store.queries.countRuns([...RESUMABLE]), before - 1);
    assert.equal(store.queries.countRuns(['completed']), 41);
  });
});
