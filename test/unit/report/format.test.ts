import assert from 'node:assert/strict';
import {
  csvField,
  csvRow,
  formatMoney,
  formatTokens,
  formatUnitCost,
  mdCell,
  microsToUsdText,
} from '../../../src/core/report/format';
import { buildReport } from '../../../src/core/report/report';
import { REPORT_CSV_COLUMNS, renderReportCsv, renderReportMarkdown } from '../../../src/core/report/render';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';
import { openWorkspace, parseCsv, tempFolder } from './helpers';

const NASTY = [
  'plain',
  'with,comma',
  'with "quotes"',
  'line\nbreak',
  'carriage\rreturn',
  'crlf\r\ninside',
  '"',
  '',
  ' leading space',
  '=SUM(A1)',
  'ünïcödé ✓',
];

describe('CSV (RFC 4180)', () => {
  it('quotes fields with quotes, commas, CR or LF, doubles quotes, and ends records with CRLF', () => {
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('two\nlines'), '"two\nlines"');
    assert.equal(csvField('cr\r'), '"cr\r"');
    assert.equal(csvField(null), '');
    assert.equal(csvField(12.5), '12.5');
    assert.equal(csvField(false), 'false');
    assert.equal(csvRow(['a', 'b,c', null, 3]), 'a,"b,c",,3\r\n');
  });

  it('round-trips every awkward value through an independent reader', () => {
    const text = NASTY.map((v) => csvRow([v, v.length, v])).join('');
    const back = parseCsv(text);
    assert.equal(back.length, NASTY.length);
    // A value that starts like a formula comes back with the leading ' that keeps a spreadsheet from running it.
    const read = (v: string) => (v.startsWith('=') ? `'${v}` : v);
    back.forEach((row, i) => assert.deepEqual(row, [read(NASTY[i]!), String(NASTY[i]!.length), read(NASTY[i]!)]));
  });

  it('the report CSV is one table: a header, then every row with the same columns, awkward keys intact', async () => {
    const env = tempFolder({ timeZone: 'UTC' });
    const ws = await openWorkspace(env.folder);
    try {
      const rand = seededRandom(8);
      const weird = ['model, "quoted"\nand broken', 'task|pipe', 'wf "x",y'];
      await ws.store.commit([
        {
          k: 'ledger',
          entry: randomEntry(rand, Date.UTC(2026, 4, 3), {
            model: weird[0]!,
            provider: 'tool',
            task: weird[1]!,
            workflow: weird[2]!,
            costMicros: 1_234_567,
          }),
        },
        { k: 'ledger', entry: randomEntry(rand, Date.UTC(2026, 4, 4), { costMicros: 7 }) },
      ]);
      const report = buildReport(ws, { month: '2026-05' }, { now: Date.UTC(2026, 5, 1) });
      const rows = parseCsv(renderReportCsv(report));
      assert.deepEqual(rows[0], [...REPORT_CSV_COLUMNS]);
      for (const r of rows) assert.equal(r.length, REPORT_CSV_COLUMNS.length);
      const col = (name: string) => REPORT_CSV_COLUMNS.indexOf(name as (typeof REPORT_CSV_COLUMNS)[number]);
      const find = (section: string, key: string) =>
        rows.find((r) => r[col('section')] === section && r[col('key')] === key);
      assert.equal(find('model', weird[0]!)?.[col('micros')], '1234567');
      assert.equal(find('model', weird[0]!)?.[col('usd')], '1.234567');
      assert.equal(find('task', weird[1]!)?.[col('micros')], '1234567');
      assert.equal(find('workflow', weird[2]!)?.[col('calls')], '1');
      assert.equal(find('total', '2026-05-01..2026-05-31')?.[col('micros')], String(1_234_567 + 7));
      assert.equal(rows.filter((r) => r[col('section')] === 'day').length, 31);
      // Markdown keeps table cells intact too: the pipe is escaped, the line break flattened.
      const md = renderReportMarkdown(report);
      assert.ok(md.includes('task\\|pipe'));
      assert.ok(!md.includes('quoted"\nand'));
    } finally {
      await ws.close();
      env.cleanup();
    }
  });
});

describe('money and token text', () => {
  it('formats dollars with thousands separators, cents rounded half up, and µ$ precision under a cent', () => {
    assert.equal(formatMoney(0), '$0.00');
    assert.equal(formatMoney(1_234_560_000), '$1,234.56');
    assert.equal(formatMoney(12_345_678), '$12.35');
    assert.equal(formatMoney(12_344_999), '$12.34');
    assert.equal(formatMoney(10_000), '$0.01');
    assert.equal(formatMoney(4_650), '$0.00465');
    assert.equal(formatMoney(5_000), '$0.0050');
    assert.equal(formatMoney(3), '$0.000003');
    assert.equal(formatMoney(-2_000_000), '-$2.00');
    assert.equal(formatMoney(1_000_000_000_000), '$1,000,000.00');
  });

  it('keeps four decimals for unit costs under a dollar (variants differ there)', () => {
    assert.equal(formatUnitCost(49_650), '$0.0497');
    assert.equal(formatUnitCost(52_049), '$0.0520');
    assert.equal(formatUnitCost(4_650), '$0.00465');
    assert.equal(formatUnitCost(1_234_567), '$1.23');
  });

  it('writes exact dollars for CSV and short token counts for tables', () => {
    assert.equal(microsToUsdText(1_234_567), '1.234567');
    assert.equal(microsToUsdText(7), '0.000007');
    assert.equal(microsToUsdText(-1_500_000), '-1.500000');
    assert.equal(formatTokens(950), '950');
    assert.equal(formatTokens(1_234), '1.23k');
    assert.equal(formatTokens(45_600), '45.6k');
    assert.equal(formatTokens(1_230_000), '1.23M');
    assert.equal(formatTokens(4_000_000_000), '4B');
  });

  it('escapes Markdown table cells', () => {
    assert.equal(mdCell('a|b'), 'a\\|b');
    assert.equal(mdCell('two\nlines'), 'two lines');
    assert.equal(mdCell('*bold* _x_ `c` <b>'), '\\*bold\\* \\_x\\_ \\`c\\` \\<b\\>');
  });
});
