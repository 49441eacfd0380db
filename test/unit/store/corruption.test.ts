import assert from 'node:assert/strict';
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StoreOpenError } from '../../../src/core/store/errors';
import type { LedgerEntry } from '../../../src/core/store/records';
import { loadSqlite } from '../../../src/core/store/sqlite';
import { WorkspaceStore } from '../../../src/core/store/store';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';

const NOV1 = Date.UTC(2026, 10, 1);

describe('WorkspaceStore with damaged files', () => {
  let root: string;
  let dir: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'ab-corrupt-'));
    dir = path.join(root, '.agent-budget');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const open = () => WorkspaceStore.open({ dir, pollMs: 0 });
  const files = (prefix: string) =>
    readdirSync(dir)
      .filter((f) => f.startsWith(prefix))
      .sort();
  const damaged = () => (existsSync(path.join(dir, 'damaged')) ? readdirSync(path.join(dir, 'damaged')) : []);

  /** Two compactions (newest snapshot + backup) and a live journal after them. */
  async function populate(): Promise<LedgerEntry[]> {
    const rand = seededRandom(99);
    const entries: LedgerEntry[] = [];
    const store = await open();
    for (let phase = 0; phase < 3; phase++) {
      for (let i = 0; i < 30; i++) {
        const e = randomEntry(rand, NOV1 + phase * 1000 + i);
        entries.push(e);
        await store.commit([{ k: 'ledger', entry: e }]);
      }
      if (phase < 2) await store.compact();
    }
    await store.close();
    assert.equal(files('snapshot-').length, 2);
    return entries;
  }

  async function assertAllPresent(entries: LedgerEntry[]): Promise<WorkspaceStore> {
    const store = await open();
    assert.equal(store.queries.ledgerCount(), entries.length);
    for (const e of entries) assert.ok(store.queries.ledgerEntry(e.id), e.id);
    assert.equal(
      store.queries.totals({ fromDay: '2026-11-01', toDay: '2026-11-30' }).costMicros,
      entries.reduce((n, e) => n + e.costMicros, 0),
    );
    return store;
  }

  it('a truncated newest snapshot: moved aside, the backup and journals recover every record, one clear message', async () => {
    const entries = await populate();
    const newest = files('snapshot-').pop()!;
    truncateSync(path.join(dir, newest), 4096);
    const store = await assertAllPresent(entries);
    assert.match(store.report.problem ?? '', /recovered its store/);
    assert.match(store.report.problem ?? '', /checksum does not match/);
    assert.match(store.report.problem ?? '', /damaged/);
    assert.ok(!files('snapshot-').includes(newest), 'the damaged snapshot is not left in place');
    assert.equal(damaged().length, 1);
    assert.ok(damaged()[0]!.endsWith(newest), 'moved aside, not deleted');
    await store.close();
  });

  it('garbage bytes in place of both snapshots: rebuilt from the journals that remain, files moved aside', async () => {
    const rand = seededRandom(5);
    const store = await open();
    const entries = Array.from({ length: 40 }, (_, i) => randomEntry(rand, NOV1 + i));
    await store.commit(entries.slice(0, 20).map((entry) => ({ k: 'ledger' as const, entry })));
    await store.compact();
    await store.commit(entries.slice(20).map((entry) => ({ k: 'ledger' as const, entry })));
    await store.close();
    for (const snap of files('snapshot-')) writeFileSync(path.join(dir, snap), Buffer.alloc(8192, 0x5a));
    const reopened = await open();
    // Only one compaction happened, so the first journal generation still holds the first 20 records.
    assert.equal(reopened.queries.ledgerCount(), 40);
    assert.match(reopened.report.problem ?? '', /no intact snapshot/);
    assert.equal(damaged().length, 1);
    await reopened.close();
  });

  it('a damaged line in the middle of the journal: skipped, every other record kept, a copy set aside', async () => {
    const rand = seededRandom(6);
    const store = await open();
    const entries = Array.from({ length: 10 }, (_, i) => randomEntry(rand, NOV1 + i));
    for (const entry of entries) await store.commit([{ k: 'ledger', entry }]);
    await store.close();
    const journal = path.join(dir, files('journal-').pop()!);
    const lines = readFileSync(journal, 'utf8').split('\n');
    lines[4] = lines[4]!.replace('"ledger"', '"ledgrr"'); // a flipped byte: the checksum no longer matches
    writeFileSync(journal, lines.join('\n'));
    const reopened = await open();
    assert.equal(reopened.queries.ledgerCount(), 9);
    assert.equal(reopened.queries.ledgerEntry(entries[4]!.id), undefined);
    assert.equal(reopened.report.damagedLines, 1);
    assert.match(reopened.report.problem ?? '', /1 damaged record/);
    assert.equal(damaged().length, 1, 'a copy of the journal is kept for inspection');
    // The journal stays live: new writes still land and survive.
    const more = randomEntry(rand, NOV1);
    await reopened.commit([{ k: 'ledger', entry: more }]);
    await reopened.close();
    const again = await open();
    assert.ok(again.queries.ledgerEntry(more.id));
    await again.close();
  });

  it('a half-written last journal line: dropped quietly (it was never acknowledged), the rest replayed', async () => {
    const rand = seededRandom(7);
    const store = await open();
    const entries = Array.from({ length: 5 }, (_, i) => randomEntry(rand, NOV1 + i));
    for (const entry of entries) await store.commit([{ k: 'ledger', entry }]);
    await store.close();
    const journal = path.join(dir, files('journal-').pop()!);
    const text = readFileSync(journal, 'utf8');
    const lastStart = text.lastIndexOf('\n', text.length - 2) + 1;
    truncateSync(journal, lastStart + Math.floor((text.length - lastStart) / 2));
    const reopened = await open();
    assert.equal(reopened.queries.ledgerCount(), 4);
    assert.ok(reopened.report.tornTail);
    assert.equal(reopened.report.problem, undefined);
    await reopened.close();
  });

  it('a journal of pure garbage: opens empty-handed but working, the garbage copied aside', async () => {
    await (await open()).close();
    writeFileSync(path.join(dir, 'journal-000000.log'), Buffer.from('\u0000\u0001garbage\nmore garbage\n\u00ff\n'));
    const store = await open();
    assert.equal(store.queries.ledgerCount(), 0);
    assert.equal(store.report.damagedLines, 3);
    const e = randomEntry(seededRandom(1), NOV1);
    await store.commit([{ k: 'ledger', entry: e }]);
    await store.close();
    const again = await open();
    assert.ok(again.queries.ledgerEntry(e.id));
    await again.close();
  });

  it('a store from a newer version is refused with an update message, and left untouched', async () => {
    const SQL = await loadSqlite();
    const db = new SQL.Database();
    db.exec('PRAGMA user_version = 999');
    const bytes = db.export();
    db.close();
    const { crc32, snapshotName } = await import('../../../src/core/store/journal');
    await (await open()).close();
    const name = snapshotName(5, crc32(bytes));
    writeFileSync(path.join(dir, name), bytes);
    await assert.rejects(open(), /newer version.*Update the extension/s);
    assert.ok(existsSync(path.join(dir, name)), 'not moved aside: it is not damaged');
    assert.equal(damaged().length, 0);
  });

  /** Every file in the state folder with its size and time: to show a refused open changed nothing. */
  const snapshotOfFolder = () =>
    readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .sort()
      .map((f) => {
        const st = statSync(path.join(dir, f));
        return `${f} ${st.size} ${st.mtimeMs}`;
      });

  it('an intact snapshot that fails to migrate: nothing moved, nothing opened, one clear message (no reset to an older state)', async () => {
    await populate();
    const SQL = await loadSqlite();
    const db = new SQL.Database();
    db.exec('CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); PRAGMA user_version = 2;'); // tables missing
    const bytes = db.export();
    db.close();
    const { crc32, snapshotName } = await import('../../../src/core/store/journal');
    writeFileSync(path.join(dir, snapshotName(90, crc32(bytes))), bytes);
    const before = snapshotOfFolder();
    await assert.rejects(open(), (err: unknown) => {
      assert.ok(err instanceof StoreOpenError, String(err));
      assert.match(err.message, /snapshot-000090-.*is intact but could not be loaded \(no such table: ledger\)/);
      assert.match(err.message, /Nothing was moved or changed, and no call is admitted until it opens/);
      return true;
    });
    assert.deepEqual(snapshotOfFolder(), before, 'every file as it was');
    assert.equal(damaged().length, 0);
  });

  it('out of memory loading an intact snapshot: nothing moved, nothing opened, one clear message', async () => {
    const entries = await populate();
    const SQL = await loadSqlite();
    // The WebAssembly heap cannot grow to hold the snapshot (a big store on a machine short of memory).
    const engine = {
      Database: class extends SQL.Database {
        constructor(data?: ArrayLike<number> | Buffer | null) {
          if (data && data.length > 0) throw new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded');
          super(data);
        }
      },
    };
    const before = snapshotOfFolder();
    await assert.rejects(WorkspaceStore.open({ dir, pollMs: 0, engine }), (err: unknown) => {
      assert.ok(err instanceof StoreOpenError, String(err));
      assert.match(err.message, /Maximum memory size exceeded/);
      assert.match(err.message, /budgets are never restarted from zero/);
      return true;
    });
    assert.deepEqual(snapshotOfFolder(), before, 'both snapshots and every journal stay where they were');
    assert.equal(damaged().length, 0);
    // Given the memory, it opens with everything.
    const store = await assertAllPresent(entries);
    await store.close();
  });

  it('appends after a torn line from a crashed writer still parse', async () => {
    const store = await open();
    await store.commit([{ k: 'ledger', entry: randomEntry(seededRandom(3), NOV1) }]);
    const journal = path.join(dir, files('journal-').pop()!);
    appendFileSync(journal, '0badf00d host:1:1 {"k":"led');
    await store.refresh();
    const after = randomEntry(seededRandom(4), NOV1);
    await store.commit([{ k: 'ledger', entry: after }]);
    await store.close();
    const again = await open();
    assert.ok(again.queries.ledgerEntry(after.id));
    assert.equal(again.queries.ledgerCount(), 2);
    await again.close();
  });
});
