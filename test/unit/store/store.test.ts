import assert from 'node:assert/strict';
import {
  mkdtempSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  appendFileSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../../src/core/clock';
import { encodeLine } from '../../../src/core/store/journal';
import type { LedgerEntry, Reservation, RunState, StoreRecord } from '../../../src/core/store/records';
import { WorkspaceStore, type StoreOptions } from '../../../src/core/store/store';
import { totalTokens } from '../../../src/core/usage';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';

const DAY = 86_400_000;
const NOV1 = Date.UTC(2026, 10, 1);

function tempDir(): string {
  return path.join(mkdtempSync(path.join(tmpdir(), 'ab-store-')), '.agent-budget');
}

function open(dir: string, extra: Partial<StoreOptions> = {}): Promise<WorkspaceStore> {
  return WorkspaceStore.open({ dir, pollMs: 0, ...extra });
}

function ledger(entry: LedgerEntry): StoreRecord {
  return { k: 'ledger', entry };
}

function reservation(id: string, overrides: Partial<Reservation> = {}): Reservation {
  return {
    id,
    ts: NOV1,
    owner: 'host:1:dead',
    runId: 'run-1',
    taskId: 'task-1',
    task: 'review',
    workflow: 'code-review',
    provider: 'anthropic',
    model: 'claude-haiku-4-5',
    micros: 12_000,
    tokens: 3_000,
    inputTokens: 2_000,
    outputTokens: 1_000,
    scopes: ['workspace.daily@2026-11-01'],
    ...overrides,
  };
}

function run(id: string, rev: number, overrides: Partial<RunState> = {}): RunState {
  return {
    id,
    workflow: 'code-review',
    status: 'running',
    title: 'Review file',
    createdAt: NOV1,
    updatedAt: NOV1,
    rev,
    owner: 'host:1:x',
    parentRunId: null,
    variant: null,
    data: { rev },
    ...overrides,
  };
}

/** Sums computed straight from the generated entries, independent of the store's rollups. */
function expectedBy(entries: LedgerEntry[], key: (e: LedgerEntry) => string) {
  const out = new Map<string, { micros: number; calls: number; tokens: number }>();
  for (const e of entries) {
    const k = key(e);
    const row = out.get(k) ?? { micros: 0, calls: 0, tokens: 0 };
    row.micros += e.costMicros;
    row.calls += 1;
    row.tokens += totalTokens(e.usage);
    out.set(k, row);
  }
  return out;
}

describe('WorkspaceStore', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(path.dirname(d), { recursive: true, force: true });
  });
  function fresh(): string {
    const d = tempDir();
    dirs.push(d);
    return d;
  }

  it('creates the state folder with a .gitignore that keeps budget.json and workflows/ committable', async () => {
    const dir = fresh();
    const store = await open(dir);
    await store.close();
    const gitignore = readFileSync(path.join(dir, '.gitignore'), 'utf8');
    assert.match(gitignore, /^\*$/m);
    assert.match(gitignore, /^!budget\.json$/m);
    assert.match(gitignore, /^!workflows\/\*\.json$/m);
  });

  it('answers breakdowns by every dimension with the sums of the raw entries, and keeps them after reopening', async () => {
    const dir = fresh();
    const rand = seededRandom(7);
    const entries = Array.from({ length: 600 }, (_, i) => randomEntry(rand, NOV1 + (i % 40) * (DAY / 2) + i));
    let store = await open(dir);
    await Promise.all(entries.map((e) => store.commit([ledger(e)])));
    const check = (s: WorkspaceStore) => {
      const range = { fromDay: '2026-11-01', toDay: '2026-11-30' };
      const inRange = entries.filter((e) => e.ts < Date.UTC(2026, 11, 1));
      for (const [dimension, key] of [
        ['workflow', (e: LedgerEntry) => e.workflow],
        ['model', (e: LedgerEntry) => e.model],
        ['provider', (e: LedgerEntry) => e.provider],
        ['task', (e: LedgerEntry) => e.task ?? ''],
        ['tool', (e: LedgerEntry) => e.tool ?? ''],
        ['day', (e: LedgerEntry) => new Date(e.ts).toISOString().slice(0, 10)],
      ] as const) {
        const expected = expectedBy(inRange, key);
        const rows = s.queries.breakdown(dimension, range);
        assert.equal(rows.length, expected.size, dimension);
        for (const row of rows) {
          const want = expected.get(row.key);
          assert.ok(want, `${dimension} ${row.key}`);
          assert.deepEqual(
            { micros: row.costMicros, calls: row.calls, tokens: row.tokens },
            want,
            `${dimension} ${row.key}`,
          );
        }
      }
      const totals = s.queries.totals(range);
      assert.equal(
        totals.costMicros,
        inRange.reduce((n, e) => n + e.costMicros, 0),
      );
      assert.equal(
        totals.estimatedMicros,
        inRange.filter((e) => e.estimated).reduce((n, e) => n + e.costMicros, 0),
      );
      const dec = s.queries.totals({ fromDay: '2026-12-01', toDay: '2026-12-31' });
      assert.equal(dec.calls, entries.length - inRange.length);
    };
    check(store);
    await store.close();
    store = await open(dir);
    check(store);
    await store.compact();
    await store.close();
    store = await open(dir);
    check(store);
    assert.equal(store.queries.ledgerCount(), entries.length);
    await store.close();
  });

  it('applies a record once however often it is replayed', async () => {
    const dir = fresh();
    const store = await open(dir);
    const entry = randomEntry(seededRandom(1), NOV1);
    const seen: StoreRecord[] = [];
    store.onDidApply((e) => seen.push(...e.records));
    await store.commit([ledger(entry)]);
    await store.commit([ledger(entry)]);
    await store.commit([ledger({ ...entry })]);
    assert.equal(store.queries.ledgerCount(), 1);
    assert.equal(store.queries.totals({ fromDay: '2026-11-01', toDay: '2026-11-01' }).costMicros, entry.costMicros);
    assert.equal(seen.length, 1, 'listeners hear of the effect once');
    await store.close();
    const reopened = await open(dir);
    assert.equal(reopened.queries.ledgerCount(), 1);
    assert.equal(reopened.queries.runTotals(entry.runId!).costMicros, entry.costMicros);
    await reopened.close();
  });

  it('keeps the highest revision of a run and the highest checkpoint sequence, whatever the order', async () => {
    const dir = fresh();
    // Replay order is not revision order (two processes' lines interleave): the highest revision wins.
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, 'journal-000000.log'),
      Buffer.concat([
        encodeLine('host:1:a', { k: 'run', run: run('r1', 5, { status: 'completed' }) }),
        encodeLine('host:2:b', { k: 'run', run: run('r1', 3, { status: 'running' }) }),
      ]),
    );
    const store = await open(dir);
    assert.equal(store.queries.getRun('r1')?.status, 'completed');
    await store.commit([{ k: 'checkpoint', checkpoint: { runId: 'r1', seq: 4, ts: NOV1, state: { step: 4 } } }]);
    await store.commit([{ k: 'checkpoint', checkpoint: { runId: 'r1', seq: 2, ts: NOV1, state: { step: 2 } } }]);
    assert.deepEqual(store.queries.checkpoint('r1')?.state, { step: 4 });
    await store.close();
  });

  it('stamps revisions at write time: the later write wins whatever revision or clock it was built with', async () => {
    const dir = fresh();
    const store = await open(dir);
    await store.commit([{ k: 'run', run: run('r1', (NOV1 + DAY) * 1000, { status: 'running' }) }]);
    await store.commit([{ k: 'run', run: run('r1', 1, { status: 'cancelled' }) }]);
    assert.equal(store.queries.getRun('r1')?.status, 'cancelled');
    const first = store.queries.getRun('r1')!.rev;
    await store.commit([{ k: 'run', run: run('r1', store.nextRev(), { status: 'interrupted' }) }]);
    assert.equal(store.queries.getRun('r1')?.status, 'interrupted');
    assert.equal(store.queries.getRun('r1')!.rev, first + 1, 'one more than the highest seen, not a clock reading');
    await store.close();
  });

  it('settles and releases reservations, also when the settle is seen before its reserve', async () => {
    const dir = fresh();
    const store = await open(dir);
    await store.commit([
      { k: 'reserve', reservation: reservation('a') },
      { k: 'reserve', reservation: reservation('b') },
    ]);
    assert.deepEqual(
      store.queries.openReservations().map((r) => r.id),
      ['a', 'b'],
    );
    const entry = randomEntry(seededRandom(2), NOV1, { reservationId: 'a' });
    await store.commit([{ k: 'settle', reservationId: 'a', ts: NOV1, entry }]);
    await store.commit([{ k: 'settle', reservationId: 'b', ts: NOV1, entry: null }]);
    assert.deepEqual(store.queries.openReservations(), []);
    assert.equal(store.queries.reservationStatus('a'), 'settled');
    assert.equal(store.queries.reservationStatus('b'), 'released');
    assert.equal(store.queries.ledgerEntry(entry.id)?.costMicros, entry.costMicros);
    // Out of order (another process's settle read before its reserve): stays closed.
    await store.commit([{ k: 'settle', reservationId: 'c', ts: NOV1, entry: null }]);
    await store.commit([{ k: 'reserve', reservation: reservation('c') }]);
    assert.equal(store.queries.reservationStatus('c'), 'released');
    await store.close();
  });

  it('records each alert once per scope and period', async () => {
    const dir = fresh();
    const store = await open(dir);
    const alert: StoreRecord = { k: 'alert', scope: 'workspace.daily', periodKey: '2026-11-01', pct: 50, ts: NOV1 };
    const applied: StoreRecord[] = [];
    store.onDidApply((e) => applied.push(...e.records));
    await store.commit([alert]);
    await store.commit([alert]);
    assert.equal(applied.length, 1);
    assert.ok(store.queries.alertFired('workspace.daily', '2026-11-01', 50));
    assert.ok(!store.queries.alertFired('workspace.daily', '2026-11-02', 50));
    await store.close();
  });

  it('runs transact() decisions in order inside one lock hold, each seeing the writes before it', async () => {
    const dir = fresh();
    const store = await open(dir);
    const budget = 5;
    // Ten concurrent "reserve if fewer than 5 are open" decisions: exactly five must win.
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        store
          .transact((q) => {
            if (q.openReservations().length >= budget) throw new Error('over budget');
            return { records: [{ k: 'reserve', reservation: reservation(`r${i}`) }], result: i };
          })
          .then(
            () => 'won',
            () => 'lost',
          ),
      ),
    );
    assert.equal(outcomes.filter((o) => o === 'won').length, budget);
    assert.equal(store.queries.openReservations().length, budget);
    await store.close();
  });

  it('compacts into a snapshot, keeps one backup and the journals it needs, and loses nothing', async () => {
    const dir = fresh();
    const rand = seededRandom(3);
    const store = await open(dir, { compactAfterBytes: 20_000 });
    const entries: LedgerEntry[] = [];
    for (let i = 0; i < 400; i++) {
      const e = randomEntry(rand, NOV1 + i * 60_000);
      entries.push(e);
      await store.commit([ledger(e)]);
    }
    await store.close();
    const files = readdirSync(dir);
    const snapshots = files.filter((f) => f.startsWith('snapshot-'));
    assert.equal(snapshots.length, 2, `newest + backup: ${files.join(', ')}`);
    const backupGen = Math.min(...snapshots.map((s) => Number(s.split('-')[1])));
    const journals = files.filter((f) => f.startsWith('journal-')).map((f) => Number(f.slice(8, 14)));
    assert.ok(
      journals.every((g) => g >= backupGen),
      'journals older than the backup are pruned',
    );
    assert.ok(journals.includes(backupGen), 'the backup can be brought up to date from the journals');
    const reopened = await open(dir);
    assert.equal(reopened.queries.ledgerCount(), entries.length);
    assert.equal(
      reopened.queries.totals({ fromDay: '2026-11-01', toDay: '2026-11-30' }).costMicros,
      entries.reduce((n, e) => n + e.costMicros, 0),
    );
    await reopened.close();
  });

  it('keeps rollups and run totals exact while their sums wait to be written: read at once, past 1,024 rows, in a snapshot', async () => {
    const dir = fresh();
    const rand = seededRandom(9);
    const store = await open(dir);
    // 1,500 runs (more rows than may wait), each with two calls; every other read comes between the two.
    const entries: LedgerEntry[] = [];
    for (let i = 0; i < 3000; i++) {
      const e = randomEntry(rand, NOV1 + i * 1000, { runId: `run-${i % 1500}`, taskId: null });
      entries.push(e);
      await store.commit([ledger(e)]);
      if (i % 997 === 0) {
        const sofar = entries.filter((x) => x.runId === e.runId);
        assert.equal(store.queries.runTotals(e.runId!)?.calls, sofar.length);
      }
    }
    const range = { fromDay: '2026-11-01', toDay: '2026-11-30' };
    const expected = (list: LedgerEntry[]) => ({
      cost: list.reduce((n, e) => n + e.costMicros, 0),
      tokens: list.reduce((n, e) => n + totalTokens(e.usage), 0),
    });
    const check = (s: WorkspaceStore) => {
      assert.equal(s.queries.totals(range).costMicros, expected(entries).cost);
      assert.equal(s.queries.totals(range).calls, entries.length);
      for (const run of ['run-0', 'run-777', 'run-1499']) {
        const mine = entries.filter((e) => e.runId === run);
        const totals = s.queries.runTotals(run)!;
        assert.deepEqual(
          [totals.calls, totals.costMicros, totals.tokens],
          [2, expected(mine).cost, expected(mine).tokens],
        );
      }
      for (const row of s.queries.breakdown('model', range)) {
        assert.equal(row.costMicros, expected(entries.filter((e) => e.model === row.key)).cost, row.key);
      }
    };
    check(store);
    await store.compact();
    await store.close();
    // Only the snapshot: the journal before it is gone from what a reopen replays.
    const reopened = await open(dir);
    check(reopened);
    await reopened.close();
  });

  it('archives old raw rows by retention without changing any total', async () => {
    const dir = fresh();
    const clock = new ManualClock(NOV1 + 100 * DAY);
    const store = await open(dir, { clock, retentionDays: 30 });
    const rand = seededRandom(4);
    const old = Array.from({ length: 50 }, (_, i) => randomEntry(rand, NOV1 + i * 3_600_000));
    const recent = Array.from({ length: 20 }, (_, i) => randomEntry(rand, NOV1 + 95 * DAY + i * 1000));
    await store.commit([...old, ...recent].map(ledger));
    const range = { fromDay: '2026-11-01', toDay: '2027-03-01' };
    const before = store.queries.totals(range);
    const byModelBefore = store.queries.breakdown('model', range);
    await store.compact();
    assert.equal(store.queries.ledgerCount(), recent.length);
    assert.deepEqual(store.queries.totals(range), before);
    assert.deepEqual(store.queries.breakdown('model', range), byModelBefore);
    const archived = readFileSync(path.join(dir, 'archive', 'ledger-2026-11.jsonl'), 'utf8')
      .trim()
      .split('\n');
    assert.equal(archived.length, old.length);
    assert.deepEqual(new Set(archived.map((l) => (JSON.parse(l) as LedgerEntry).id)), new Set(old.map((e) => e.id)));
    await store.close();
    const reopened = await open(dir, { clock });
    assert.equal(reopened.queries.ledgerCount(), recent.length);
    assert.deepEqual(reopened.queries.totals(range), before);
    await reopened.close();
  });

  it('moves day keys when the budget time zone changes, keeping every total', async () => {
    const dir = fresh();
    // 23:30 UTC on Nov 1 is Nov 2 in Tokyo (UTC+9).
    const entry = randomEntry(seededRandom(5), Date.UTC(2026, 10, 1, 23, 30));
    let store = await open(dir);
    await store.commit([ledger(entry)]);
    await store.compact();
    await store.close();
    const tokyo = {
      zone: 'Asia/Tokyo',
      key: (ms: number) => new Date(ms + 9 * 3_600_000).toISOString().slice(0, 10),
    };
    store = await open(dir, { days: tokyo });
    assert.deepEqual(
      store.queries.breakdown('day', { fromDay: '2026-11-01', toDay: '2026-11-30' }).map((r) => [r.key, r.costMicros]),
      [['2026-11-02', entry.costMicros]],
    );
    await store.close();
  });

  it('sees records another process appends, through refresh()', async () => {
    const dir = fresh();
    const a = await open(dir, { owner: 'host:1:a' });
    const b = await open(dir, { owner: 'host:2:b' });
    const heard: Array<'local' | 'remote'> = [];
    b.onDidApply((e) => heard.push(e.origin));
    const entry = randomEntry(seededRandom(6), NOV1);
    await a.commit([ledger(entry)]);
    assert.equal(b.queries.ledgerCount(), 0);
    await b.refresh();
    assert.equal(b.queries.ledgerCount(), 1);
    assert.deepEqual(heard, ['remote']);
    // b writes: a catches up as part of its next write, and b's own record is not applied twice.
    await b.commit([ledger(randomEntry(seededRandom(8), NOV1))]);
    await a.refresh();
    assert.equal(a.queries.ledgerCount(), 2);
    await a.close();
    await b.close();
  });

  it('follows another process through compaction: rotation and pruning lose nothing for a slow reader', async () => {
    const dir = fresh();
    const rand = seededRandom(9);
    const writer = await open(dir, { owner: 'host:1:w', compactAfterBytes: 5_000 });
    const reader = await open(dir, { owner: 'host:2:r' });
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      const e = randomEntry(rand, NOV1 + i);
      ids.push(e.id);
      await writer.commit([ledger(e)]);
    }
    // The reader never looked while several generations came and went; it must still converge.
    await reader.refresh();
    assert.equal(reader.queries.ledgerCount(), ids.length);
    await reader.commit([ledger(randomEntry(rand, NOV1))]);
    await writer.refresh();
    assert.equal(writer.queries.ledgerCount(), ids.length + 1);
    await writer.close();
    await reader.close();
  });

  it('starts a fresh line after a torn last record, so the next record is not swallowed', async () => {
    const dir = fresh();
    let store = await open(dir);
    const first = randomEntry(seededRandom(10), NOV1);
    await store.commit([ledger(first)]);
    await store.close();
    const journal = readdirSync(dir).find((f) => f.startsWith('journal-'))!;
    appendFileSync(path.join(dir, journal), '9abc01ff host:9:9 {"k":"ledger","entry":{"id":"torn'); // no newline
    store = await open(dir);
    assert.ok(store.report.tornTail);
    assert.equal(store.report.problem, undefined, 'an unacknowledged torn tail is not damage to report');
    const second = randomEntry(seededRandom(11), NOV1);
    await store.commit([ledger(second)]);
    await store.close();
    store = await open(dir);
    assert.ok(store.queries.ledgerEntry(first.id));
    assert.ok(store.queries.ledgerEntry(second.id));
    await store.close();
  });

  it('rejects a write whose sync fails, and rebuilds memory from what reached the disk', async () => {
    const dir = fresh();
    const { nodeStoreFs } = await import('../../../src/core/store/storeFs');
    let failSync = false;
    const faulty = {
      ...nodeStoreFs,
      openAppend(p: string) {
        const h = nodeStoreFs.openAppend(p);
        return {
          ...h,
          append: (data: Uint8Array) => (failSync ? undefined : h.append(data)),
          datasync: () => (failSync ? Promise.reject(new Error('EIO: simulated')) : h.datasync()),
        };
      },
    };
    const store = await open(dir, { fs: faulty });
    const kept = randomEntry(seededRandom(12), NOV1);
    await store.commit([ledger(kept)]);
    failSync = true;
    const lost = randomEntry(seededRandom(13), NOV1);
    let reloaded = false;
    store.onDidReload(() => (reloaded = true));
    await assert.rejects(store.commit([ledger(lost)]), /EIO/);
    await store.refresh();
    assert.ok(reloaded);
    assert.ok(store.queries.ledgerEntry(kept.id));
    assert.equal(store.queries.ledgerEntry(lost.id), undefined, 'an unacknowledged record does not linger in memory');
    failSync = false;
    await store.close();
  });

  it('syncs the folder when it creates the state folder or a journal, before the write is acknowledged', async () => {
    const dir = path.join(fresh(), 'nested-state');
    const { nodeStoreFs } = await import('../../../src/core/store/storeFs');
    const synced: string[] = [];
    const fs = { ...nodeStoreFs, syncDir: async (p: string) => void synced.push(p) };
    const store = await open(dir, { fs });
    assert.deepEqual(synced, [path.dirname(dir)], 'the parent holds the new folder');
    await store.commit([ledger(randomEntry(seededRandom(21), NOV1))]);
    assert.deepEqual(synced, [path.dirname(dir), dir], 'the folder holds the new journal');
    await store.commit([ledger(randomEntry(seededRandom(22), NOV1))]);
    assert.equal(synced.length, 2, 'appending to an existing journal needs no folder sync');
    await store.close();
  });

  it('breaks a lock left by a dead process', async () => {
    const dir = fresh();
    const store = await open(dir, { probe: { isAlive: (o) => !o.startsWith('ghost') } });
    writeFileSync(path.join(dir, 'store.lock'), JSON.stringify({ owner: 'ghost:1:x', token: 't', ts: Date.now() }));
    await store.commit([ledger(randomEntry(seededRandom(14), NOV1))]);
    assert.equal(store.queries.ledgerCount(), 1);
    const lock = path.join(dir, 'store.lock');
    // The writer may still hold the lock for its next write; the dead one's is gone either way.
    if (existsSync(lock))
      assert.equal((JSON.parse(readFileSync(lock, 'utf8')) as { owner: string }).owner, store.ownerId);
    await store.close();
    assert.ok(!existsSync(lock), 'closing lets go of it');
  });
});
