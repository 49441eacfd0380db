import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LedgerEntry } from '../../../src/core/store/records';
import { UTC_DAYS, WorkspaceStore } from '../../../src/core/store/store';
import { OUTBOX_FILE, OUTBOX_LAG_MS, StoreOutbox, teamRowOf } from '../../../src/core/team/storeOutbox';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';
import { NOON } from './helpers';

const WHO = { member: 'ana@x.dev', machine: 'laptop' };

describe('the local store as the team outbox', () => {
  let dir: string;
  let store: WorkspaceStore;
  const rnd = seededRandom(16);

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ab-outbox-'));
    store = await WorkspaceStore.open({ dir, pollMs: 0, days: UTC_DAYS });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function entry(ts: number, over: Partial<LedgerEntry> = {}): Promise<LedgerEntry> {
    const e = randomEntry(rnd, ts, over);
    await store.commit([{ k: 'ledger', entry: e }]);
    return e;
  }

  const ids = async (outbox: StoreOutbox) => (await outbox.pending(100)).map((r) => r.id).sort();

  it('starts at the moment the workspace joins the team: earlier local spend is not the team’s', async () => {
    // A minute before joining: inside the window the cursor looks back over, and still not shipped.
    await entry(NOON - 60_000);
    const outbox = new StoreOutbox(store, WHO, NOON);
    const after = await entry(NOON + 1_000);
    assert.deepEqual(await ids(outbox), [after.id]);
    // The next process keeps the joining time.
    await outbox.markShipped([]);
    assert.deepEqual(await ids(new StoreOutbox(store, WHO, NOON + 5 * 60_000)), [after.id]);
  });

  it('marks rows shipped across processes, and a row landing late (stamped earlier) is still shipped', async () => {
    const outbox = new StoreOutbox(store, WHO, NOON);
    const a = await entry(NOON + 60_000);
    await outbox.markShipped([a.id]);
    assert.deepEqual(await ids(outbox), []);
    // Stamped before `a` but written after it was shipped (it waited for the store's lock).
    const late = await entry(NOON + 30_000);
    const again = new StoreOutbox(store, WHO, NOON + 120_000);
    assert.deepEqual(await ids(again), [late.id]);
    await again.markShipped([late.id]);
    assert.deepEqual(await ids(new StoreOutbox(store, WHO, NOON + 180_000)), []);
    // Ids far behind the watermark are forgotten (the window covers them).
    const b = await entry(NOON + 2 * OUTBOX_LAG_MS);
    await again.markShipped([b.id]);
    const saved = JSON.parse(readFileSync(path.join(dir, OUTBOX_FILE), 'utf8')) as { recent: object };
    assert.deepEqual(Object.keys(saved.recent), [b.id]);
  });

  it('pages: at most `limit` rows, oldest first', async () => {
    const outbox = new StoreOutbox(store, WHO, NOON);
    const rows = [];
    for (let i = 0; i < 5; i++) rows.push(await entry(NOON + i));
    assert.deepEqual(
      (await outbox.pending(3)).map((r) => r.id),
      rows.slice(0, 3).map((r) => r.id),
    );
  });

  it('an unreadable cursor ships every row again (the safe side) and says so', async () => {
    const old = await entry(NOON - 10 * OUTBOX_LAG_MS);
    writeFileSync(path.join(dir, OUTBOX_FILE), 'not json');
    const log: string[] = [];
    const outbox = new StoreOutbox(store, WHO, NOON, (line) => log.push(line));
    assert.deepEqual(await ids(outbox), [old.id]);
    assert.match(log.join('\n'), /could not be read .* every local ledger row is shipped again/);
  });

  it('a cursor that is a symbolic link is never followed: it is removed and replaced', async () => {
    const target = path.join(dir, 'elsewhere.txt');
    writeFileSync(target, JSON.stringify({ watermark: NOON, recent: {} }));
    symlinkSync(target, path.join(dir, OUTBOX_FILE));
    const outbox = new StoreOutbox(store, WHO, NOON, () => undefined);
    const e = await entry(NOON + 1);
    await outbox.markShipped([e.id]);
    assert.equal(
      readFileSync(target, 'utf8'),
      JSON.stringify({ watermark: NOON, recent: {} }),
      'the target is untouched',
    );
    assert.ok(!lstatSync(path.join(dir, OUTBOX_FILE)).isSymbolicLink());
    assert.ok(existsSync(target));
  });

  it('keeps the offline allowance’s reading and the outage’s spend for the next process', () => {
    const outbox = new StoreOutbox(store, WHO, NOON);
    outbox.saveAllowance({ remainingMicros: 400_000 }, 30_000);
    const next = new StoreOutbox(store, WHO, NOON);
    assert.deepEqual([next.lastSeen, next.offlineSpent], [{ remainingMicros: 400_000 }, 30_000]);
  });

  it('a team row is the local row with who and where, filed when its call was admitted', async () => {
    const e = await entry(NOON, { heldAt: NOON - 5_000, client: 'cursor' });
    const row = teamRowOf(e, WHO);
    assert.deepEqual(
      [row.id, row.ts, row.client, row.member, row.machine, row.costMicros],
      [e.id, NOON - 5_000, 'cursor', 'ana@x.dev', 'laptop', e.costMicros],
    );
    assert.equal(teamRowOf({ ...e, client: undefined }, WHO).client, 'agent-budget');
  });
});
