import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { exportLedger, LEDGER_CSV_COLUMNS } from '../../../src/core/report/export';
import { RecordApplier } from '../../../src/core/store/apply';
import { StoreQueries } from '../../../src/core/store/queries';
import type { LedgerEntry } from '../../../src/core/store/records';
import { migrate } from '../../../src/core/store/schema';
import { loadSqlite } from '../../../src/core/store/sqlite';
import { UTC_DAYS } from '../../../src/core/store/store';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';
import { openWorkspace, parseCsv, tempFolder } from './helpers';

/** A Writable that keeps what it is given (small exports) and calls back later, like a file or a socket. */
class Collector extends Writable {
  text = '';
  maxBuffered = 0;
  constructor(highWaterMark = 16_384) {
    super({ highWaterMark, decodeStrings: false });
  }
  override _write(chunk: string, _enc: BufferEncoding, done: (err?: Error) => void): void {
    this.text += chunk;
    this.maxBuffered = Math.max(this.maxBuffered, this.writableLength);
    setImmediate(done);
  }
  /** Everything written, once the stream has passed it all on (the export does not end the stream). */
  async all(): Promise<string> {
    this.end();
    await finished(this);
    return this.text;
  }
}

describe('export: the raw ledger, streamed', () => {
  let env: ReturnType<typeof tempFolder>;
  let entries: LedgerEntry[];
  let queries: StoreQueries;
  let close: () => Promise<void>;
  const FROM = Date.UTC(2026, 4, 1);
  const TO = Date.UTC(2026, 5, 1);

  before(async () => {
    env = tempFolder({ timeZone: 'Asia/Kolkata' });
    const ws = await openWorkspace(env.folder);
    const rand = seededRandom(21);
    entries = Array.from({ length: 2_500 }, (_, i) =>
      randomEntry(rand, FROM - 86_400_000 + i * 1_300_000, { id: `e-${String(i).padStart(5, '0')}` }),
    );
    // Awkward text in every column that can hold text, and one row exactly on each end of the range.
    entries.push(randomEntry(rand, FROM, { id: 'at-from', task: 'say "hi", then\nleave', model: 'm,1' }));
    entries.push(randomEntry(rand, TO, { id: 'at-to' }));
    await ws.store.commit(entries.map((entry) => ({ k: 'ledger' as const, entry })));
    queries = ws.store.queries;
    close = async () => {
      await ws.close();
      env.cleanup();
    };
  });
  after(() => close());

  const inRange = () =>
    entries.filter((e) => e.ts >= FROM && e.ts < TO).sort((a, b) => a.ts - b.ts || (a.id < b.id ? -1 : 1));

  it('CSV: a header and one RFC 4180 row per entry in [from, to), in time order, every column', async () => {
    const out = new Collector();
    const result = await exportLedger(queries, out, {
      fromMs: FROM,
      toMs: TO,
      format: 'csv',
      timeZone: 'Asia/Kolkata',
      pageSize: 300,
    });
    const rows = parseCsv(await out.all());
    const expected = inRange();
    assert.equal(result.rows, expected.length);
    assert.equal(result.bytes, Buffer.byteLength(out.text));
    assert.deepEqual(rows[0], [...LEDGER_CSV_COLUMNS]);
    assert.deepEqual(
      rows.slice(1).map((r) => r[0]),
      expected.map((e) => e.id),
    );
    assert.ok(rows.some((r) => r[0] === 'at-from') && !rows.some((r) => r[0] === 'at-to'));
    const awkward = rows.find((r) => r[0] === 'at-from')!;
    const col = (name: string) => awkward[LEDGER_CSV_COLUMNS.indexOf(name as (typeof LEDGER_CSV_COLUMNS)[number])];
    assert.equal(col('task'), 'say "hi", then\nleave');
    assert.equal(col('model'), 'm,1');
    assert.equal(col('time'), new Date(FROM).toISOString());
    assert.equal(col('day'), '2026-05-01'); // 05:30 in Kolkata
    const e = expected.find((x) => x.id === 'at-from')!;
    assert.equal(col('cost_micros'), String(e.costMicros));
    assert.equal(col('input_tokens'), String(e.usage.input));
    assert.equal(col('estimated'), String(e.estimated));
  });

  it('JSON: one array, written incrementally, of the entries as stored plus time and day; JSON lines: one a line', async () => {
    const json = new Collector();
    await exportLedger(queries, json, {
      fromMs: FROM,
      toMs: TO,
      format: 'json',
      timeZone: 'Asia/Kolkata',
      pageSize: 700,
    });
    const parsed = JSON.parse(await json.all()) as Array<LedgerEntry & { time: string; day: string }>;
    const expected = inRange();
    assert.equal(parsed.length, expected.length);
    const { time, day, ...entry } = parsed[0]!;
    assert.deepEqual(entry, expected[0]);
    assert.equal(time, new Date(expected[0]!.ts).toISOString());
    assert.match(day, /^2026-05-\d\d$/);

    const lines = new Collector();
    const r = await exportLedger(queries, lines, { fromMs: FROM, toMs: TO, format: 'jsonl', pageSize: 1_000 });
    const split = (await lines.all()).trimEnd().split('\n');
    assert.equal(split.length, r.rows);
    assert.deepEqual(
      split.map((l) => (JSON.parse(l) as LedgerEntry).id),
      expected.map((x) => x.id),
    );
  });

  it('an empty range is a header, or an empty array', async () => {
    const csv = new Collector();
    assert.equal((await exportLedger(queries, csv, { fromMs: 0, toMs: 1, format: 'csv' })).rows, 0);
    assert.equal(parseCsv(await csv.all()).length, 1);
    const json = new Collector();
    await exportLedger(queries, json, { fromMs: 0, toMs: 1, format: 'json' });
    assert.deepEqual(JSON.parse(await json.all()), []);
  });

  it('waits for a slow destination (backpressure) instead of buffering the export', async () => {
    const out = new Collector(1_024);
    await exportLedger(queries, out, { fromMs: 0, toMs: Number.MAX_SAFE_INTEGER, format: 'csv', pageSize: 50 });
    // One page is written at a time: never more than one page's text waits in the stream.
    const pageBytes = 50 * 400;
    assert.ok(out.maxBuffered < pageBytes, `buffered ${out.maxBuffered} bytes`);
    assert.equal(parseCsv(await out.all()).length - 1, entries.length);
  });

  it('stops between pages when aborted, and reports a failing destination', async () => {
    const abort = new AbortController();
    const out = new Collector();
    const run = exportLedger(queries, out, {
      fromMs: 0,
      toMs: Number.MAX_SAFE_INTEGER,
      format: 'csv',
      pageSize: 100,
      signal: abort.signal,
      onProgress: (n) => n >= 300 && abort.abort(),
    });
    await assert.rejects(run, { name: 'AbortError' });
    assert.equal(parseCsv(await out.all()).length - 1, 300);

    const broken = new Writable({
      write: (_c, _e, done) => done(new Error('disk full')),
    });
    await assert.rejects(
      exportLedger(queries, broken, { fromMs: 0, toMs: Number.MAX_SAFE_INTEGER, format: 'jsonl', pageSize: 100 }),
      /disk full/,
    );
  });
});

describe('export: a million rows with bounded memory', function () {
  // Seeding a million rows through the applier takes ~20 s on this machine's 2 shared cores; the export ~10 s.
  this.timeout(300_000);

  it('streams 1,000,000 ledger rows as CSV while the live heap grows by less than 32 MB', async () => {
    const ROWS = 1_000_000;
    const SQL = await loadSqlite();
    const db = new SQL.Database();
    migrate(db);
    db.exec('PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -65536;');
    const applier = new RecordApplier(db, UTC_DAYS.key);
    const rand = seededRandom(1_000_000);
    const start = Date.UTC(2026, 0, 1);
    db.exec('BEGIN');
    for (let i = 0; i < ROWS; i++) {
      // No run or task: the per-run and per-task totals are not what this test is about, and cost a third of the time.
      applier.apply({
        k: 'ledger',
        entry: randomEntry(rand, start + i * 30_000, { id: `e${i}`, runId: null, taskId: null }),
      });
    }
    applier.flush();
    db.exec('COMMIT');
    applier.dispose();
    const queries = new StoreQueries(() => db);
    try {
      assert.equal(queries.ledgerCount(), ROWS);
      v8.setFlagsFromString('--expose-gc');
      const gc = vm.runInNewContext('gc') as () => void;
      gc();
      const before = process.memoryUsage();
      let peakHeap = before.heapUsed;
      let peakLive = before.heapUsed;
      let peakArrayBuffers = before.arrayBuffers;
      let pages = 0;
      let newlines = 0;
      let bytes = 0;
      // Two measures: the heap as it is (garbage included, collected when V8 decides) after every page, and what is
      // still alive after a full collection every 20 pages — the retained set, which must not grow with the rows.
      const sample = () => {
        const m = process.memoryUsage();
        peakHeap = Math.max(peakHeap, m.heapUsed);
        peakArrayBuffers = Math.max(peakArrayBuffers, m.arrayBuffers);
        if (++pages % 20 === 0) {
          gc();
          peakLive = Math.max(peakLive, process.memoryUsage().heapUsed);
        }
      };
      // A destination that keeps nothing: counts, and calls back on the next turn like a file would.
      const sink = new Writable({
        decodeStrings: false,
        write(chunk: string, _enc, done) {
          bytes += chunk.length;
          for (let i = chunk.indexOf('\n'); i >= 0; i = chunk.indexOf('\n', i + 1)) newlines++;
          setImmediate(done);
        },
      });
      const result = await exportLedger(queries, sink, {
        fromMs: 0,
        toMs: Number.MAX_SAFE_INTEGER,
        format: 'csv',
        onProgress: sample,
      });
      const mb = (n: number) => (n / 2 ** 20).toFixed(1);
      console.log(
        `      1M-row export: ${mb(bytes)} MB of CSV in ${pages} pages; live heap grew ${mb(peakLive - before.heapUsed)} MB at most, ` +
          `the heap with uncollected garbage ${mb(peakHeap - before.heapUsed)} MB, array buffers ${mb(peakArrayBuffers - before.arrayBuffers)} MB`,
      );
      assert.equal(result.rows, ROWS);
      assert.equal(newlines, ROWS + 1, 'a header and a line per row');
      assert.ok(bytes > 150 * 2 ** 20, `the export is large (${bytes} bytes)`);
      // Holding the rows would keep ~1 GB of entry objects (or a 150 MB string) alive; one page of 5,000 rows, its
      // CSV text and the stream's buffer are a few MB. 32 MB leaves room for V8's own bookkeeping.
      assert.ok(peakLive - before.heapUsed < 32 * 2 ** 20, `live heap grew ${mb(peakLive - before.heapUsed)} MB`);
      // The database is sql.js's wasm memory (an ArrayBuffer): reading pages must not grow it.
      assert.ok(
        peakArrayBuffers - before.arrayBuffers < 32 * 2 ** 20,
        `array buffers grew ${mb(peakArrayBuffers - before.arrayBuffers)} MB`,
      );
    } finally {
      queries.dispose();
      db.close();
    }
  });
});
