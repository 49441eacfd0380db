import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LedgerEntry } from '../../src/core/store/records';
import { WorkspaceStore } from '../../src/core/store/store';
import { randomEntry, seededRandom } from '../support/ledgerFixtures';

// What Windows' file semantics mean for the store, beyond the unit suites that run here too: other windows and
// CLI processes hold the store's files open while one of them compacts.
describe('the store under Windows file semantics', () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(path.join(tmpdir(), 'ab-win-store-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('compacts and prunes while another handle holds the old snapshots and journals open', async () => {
    const dir = path.join(root, '.agent-budget');
    const rand = seededRandom(12);
    const entries: LedgerEntry[] = [];
    const store = await WorkspaceStore.open({ dir, pollMs: 0 });
    const add = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const entry = randomEntry(rand, Date.UTC(2026, 10, 1) + entries.length * 1000);
        entries.push(entry);
        await store.commit([{ k: 'ledger', entry }]);
      }
    };
    const held: number[] = [];
    try {
      await add(50);
      await store.compact();
      await add(50);
      await store.compact();
      const before = readdirSync(dir).filter((f) => /^(snapshot|journal)-/.test(f));
      // Another window reading them: Windows refuses to rename over a file that is open, and deletes one only
      // when it was opened for sharing deletion (node opens with it); compaction must not need more.
      for (const f of before) held.push(openSync(path.join(dir, f), 'r'));
      await add(50);
      await store.compact();
      assert.equal(store.queries.ledgerCount(), entries.length);
    } finally {
      for (const fd of held) closeSync(fd);
      await store.close();
    }
    const snapshots = readdirSync(dir).filter((f) => f.startsWith('snapshot-'));
    assert.equal(snapshots.length, 2, `newest + backup once the handles are closed: ${readdirSync(dir).join(', ')}`);
    assert.ok(!existsSync(path.join(dir, 'store.lock')), 'the lock was released');
    const reopened = await WorkspaceStore.open({ dir, pollMs: 0 });
    try {
      assert.equal(reopened.queries.ledgerCount(), entries.length, 'every record survives');
    } finally {
      await reopened.close();
    }
  });
});
