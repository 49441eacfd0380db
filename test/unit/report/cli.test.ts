import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LEDGER_CSV_COLUMNS } from '../../../src/core/report/export';
import type { LedgerEntry } from '../../../src/core/store/records';
import { runCli } from '../../support/cli';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';
import { openWorkspace, parseCsv, tempFolder } from './helpers';

const FIXTURES = path.resolve(__dirname, '..', 'policy', 'fixtures');

describe('agent-budget report / estimate / export', function () {
  this.timeout(30_000);
  let env: ReturnType<typeof tempFolder>;
  let entries: LedgerEntry[];

  before(async () => {
    env = tempFolder({ timeZone: 'Europe/Berlin', limits: { workspace: { monthlyUsd: 10 } } });
    const ws = await openWorkspace(env.folder);
    const rand = seededRandom(77);
    // September 2026 in Berlin (and a little either side).
    entries = Array.from({ length: 400 }, (_, i) => randomEntry(rand, Date.UTC(2026, 7, 30) + i * 2.5 * 3_600_000));
    await ws.store.commit(entries.map((entry) => ({ k: 'ledger' as const, entry })));
    await ws.close();
  });
  after(() => env.cleanup());

  const berlinDay = (ms: number) => new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Berlin' }).format(ms);
  const september = () => entries.filter((e) => berlinDay(e.ts).startsWith('2026-09'));

  it('report --json has exactly the docs/cli.md fields, rows {key, micros, calls, tokens}', async () => {
    const r = await runCli(['report', '--month', '2026-09', '--json', '--workspace', env.folder]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    for (const field of [
      'fromDate',
      'toDate',
      'totalMicros',
      'estimatedMicros',
      'calls',
      'byWorkflow',
      'byModel',
      'byProvider',
      'byDay',
    ]) {
      assert.ok(field in doc, field);
    }
    assert.equal(doc.fromDate, '2026-09-01');
    assert.equal(doc.toDate, '2026-09-30');
    assert.equal(
      doc.totalMicros,
      september().reduce((s, e) => s + e.costMicros, 0),
    );
    assert.equal(doc.calls, september().length);
    for (const list of ['byWorkflow', 'byModel', 'byProvider', 'byDay']) {
      for (const row of doc[list] as Array<Record<string, unknown>>) {
        for (const k of ['key', 'micros', 'calls', 'tokens'])
          assert.equal(typeof row[k], k === 'key' ? 'string' : 'number', `${list}.${k}`);
      }
    }
    assert.equal((doc.byDay as unknown[]).length, 30);
  });

  it('report prints Markdown by default and --csv on request; --from/--to is a range', async () => {
    const md = await runCli(['report', '--month', '2026-09', '--workspace', env.folder]);
    assert.equal(md.code, 0, md.stderr);
    assert.ok(md.stdout.startsWith('# Agent Budget report — September 2026\n'));
    assert.ok(md.stdout.includes('workspace monthly'));
    const csv = await runCli([
      'report',
      '--from',
      '2026-09-10',
      '--to',
      '2026-09-12',
      '--csv',
      '--workspace',
      env.folder,
    ]);
    assert.equal(csv.code, 0, csv.stderr);
    const rows = parseCsv(csv.stdout);
    assert.equal(rows.filter((r) => r[0] === 'day').length, 3);
    const total = entries
      .filter((e) => berlinDay(e.ts) >= '2026-09-10' && berlinDay(e.ts) <= '2026-09-12')
      .reduce((s, e) => s + e.costMicros, 0);
    assert.equal(rows.find((r) => r[0] === 'total')![3], String(total));
  });

  it('report refuses conflicting or malformed options with exit 1 and the usage', async () => {
    for (const args of [
      ['--month', '2026-9'],
      ['--month', '2026-09', '--from', '2026-09-01'],
      ['--to', '2026-09-01'],
      ['--from', '2026-09-05', '--to', '2026-09-01'],
      ['--csv', '--json'],
      ['--bogus'],
    ]) {
      const r = await runCli(['report', ...args, '--workspace', env.folder]);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, /^agent-budget report: /);
      // With --json the one document on stdout is the error; otherwise nothing.
      if (args.includes('--json'))
        assert.deepEqual(Object.keys(JSON.parse(r.stdout)).sort(), ['error', 'exitCode'], args.join(' '));
      else assert.equal(r.stdout, '', args.join(' '));
    }
  });

  it('export streams the range as CSV to a file (renamed when complete), or as JSON / JSON lines to stdout', async () => {
    const out = path.join(env.folder, 'ledger.csv');
    const r = await runCli(['export', '--month', '2026-09', '--out', out, '--workspace', env.folder]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`Exported ${september().length} ledger row\\(s\\) from 2026-09-01 to 2026-09-30`),
    );
    const rows = parseCsv(readFileSync(out, 'utf8'));
    assert.deepEqual(rows[0], [...LEDGER_CSV_COLUMNS]);
    assert.deepEqual(new Set(rows.slice(1).map((x) => x[0])), new Set(september().map((e) => e.id)));
    assert.ok(!readdirSync(env.folder).some((f) => f.endsWith('.partial')));

    const json = await runCli([
      'export',
      '--from',
      '2026-09-01',
      '--to',
      '2026-09-30',
      '--json',
      '--workspace',
      env.folder,
    ]);
    assert.equal(json.code, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as unknown[]).length, september().length);
    const all = await runCli(['export', '--jsonl', '--workspace', env.folder]);
    assert.equal(all.stdout.trimEnd().split('\n').length, entries.length);

    const bad = await runCli(['export', '--csv', '--jsonl', '--workspace', env.folder]);
    assert.equal(bad.code, 1);
    const unwritable = await runCli([
      'export',
      '--out',
      path.join(env.folder, 'no', 'such', 'dir', 'x.csv'),
      '--workspace',
      env.folder,
    ]);
    assert.equal(unwritable.code, 1);
    assert.match(unwritable.stderr, /cannot write .*ENOENT/);
  });

  it('estimate --json forecasts the docs/policy.md inventory with the workspace prices; an unpriced model exits 1', async () => {
    const r = await runCli([
      'estimate',
      '--inventory',
      path.join(FIXTURES, 'policy-md-inventory.json'),
      '--json',
      '--workspace',
      env.folder,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as {
      totalMicros: number;
      byWorkflow: Array<{ key: string; micros: number }>;
      caps: Array<{ period: string; headroomMicros: number }>;
    };
    assert.equal(doc.totalMicros, 8_184_000);
    assert.deepEqual(
      doc.byWorkflow.map((w) => [w.key, w.micros]),
      [
        ['ci-review', 1_272_000],
        ['dev-assistant', 6_912_000],
      ],
    );
    // This budget.json caps the month at $10; the built-in $5 a day stays (8,184,000 / 30.4375 → 268,879 µ$ a day).
    assert.deepEqual(
      doc.caps.map((c) => [c.period, c.headroomMicros]),
      [
        ['monthly', 1_816_000],
        ['daily', 4_731_121],
      ],
    );
    const text = await runCli([
      'estimate',
      '--inventory',
      path.join(FIXTURES, 'policy-md-inventory.json'),
      '--workspace',
      env.folder,
    ]);
    assert.ok(text.stdout.includes('**$8.18 a month**'), text.stdout);

    const inv = path.join(env.folder, 'inv.json');
    writeFileSync(
      inv,
      JSON.stringify({
        workflows: [{ id: 'x', model: 'nope-1', runsPerMonth: 1, inputTokensPerRun: 1, outputTokensPerRun: 1 }],
      }),
    );
    const unpriced = await runCli(['estimate', '--inventory', inv, '--workspace', env.folder]);
    assert.equal(unpriced.code, 1);
    assert.match(unpriced.stderr, /No price for model "nope-1"/);
    const missing = await runCli([
      'estimate',
      '--inventory',
      path.join(env.folder, 'missing.json'),
      '--workspace',
      env.folder,
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /does not exist/);
  });

  it('estimate in a fresh checkout (budget.json, no store) does not create a store', async () => {
    const fresh = tempFolder({ timeZone: 'UTC' });
    try {
      const r = await runCli([
        'estimate',
        '--inventory',
        path.join(FIXTURES, 'policy-md-inventory.json'),
        '--json',
        '--workspace',
        fresh.folder,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { totalMicros: number }).totalMicros, 8_184_000);
      assert.deepEqual(readdirSync(path.join(fresh.folder, '.agent-budget')), ['budget.json']);
      assert.ok(!existsSync(path.join(fresh.folder, '.agent-budget', '.gitignore')));
    } finally {
      fresh.cleanup();
    }
  });
});
