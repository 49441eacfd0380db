import assert from 'node:assert/strict';
import { buildReport, reportDays, type SpendReport } from '../../../src/core/report/report';
import { renderReportMarkdown } from '../../../src/core/report/render';
import type { LedgerEntry, StoreRecord } from '../../../src/core/store/records';
import { promptTokens } from '../../../src/core/usage';
import type { Workspace } from '../../../src/core/workspace';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';
import { isoWeek, localDay, openWorkspace, runRecord, sumBy, tempFolder, totalTokens } from './helpers';

const ZONE = 'America/New_York';
const POLICY = {
  timeZone: ZONE,
  limits: { workspace: { dailyUsd: 5, weeklyUsd: 20, monthlyUsd: 50 } },
  workflows: { 'code-review': { limits: { dailyUsd: 2, monthlyUsd: 20 } } },
  // An override of a built-in: cache savings must use it (input $2, cache read by default 0.1× = $0.20).
  prices: { 'claude-haiku-4-5': { provider: 'anthropic', inputPerMTok: 2, outputPerMTok: 10 } },
  value: {
    hourlyRateUsd: 90,
    workflows: { 'code-review': { minutesSavedPerRun: 10 }, explain: { valuePerRunUsd: 0.5 } },
  },
};
/** "Now" for the tests: inside November 2026 in New York. */
const NOW = Date.UTC(2026, 10, 20, 17);

/** Input and cache-read rates ($/MTok = µ$/token) the test expects, written out independently of the price table. */
const RATES: Record<string, [input: number, cacheRead: number]> = {
  'claude-haiku-4-5': [2, 0.2], // the override above
  'claude-sonnet-4-5': [3, 0.3],
  'gpt-5-mini': [0.25, 0.025],
  'gpt-4.1': [2, 0.5],
  'gemini-2.5-flash': [0.3, 0.03],
  'gemini-2.5-pro': [1.25, 0.125],
};

describe('report: figures from a generated ledger', function () {
  this.timeout(60_000);
  let env: ReturnType<typeof tempFolder>;
  let ws: Workspace;
  let entries: LedgerEntry[];
  let report: SpendReport;
  const november = (e: LedgerEntry) => localDay(e.ts, ZONE).startsWith('2026-11');

  before(async () => {
    env = tempFolder(POLICY);
    ws = await openWorkspace(env.folder, NOW);
    const rand = seededRandom(11);
    const from = Date.UTC(2026, 9, 20);
    const to = Date.UTC(2026, 11, 10);
    entries = Array.from({ length: 4_000 }, () => randomEntry(rand, from + Math.floor(rand() * (to - from))));
    // Runs the report counts (runs, cost per run, ROI, top runs): ids of their own, with entries of known cost.
    const runs: StoreRecord[] = [
      runRecord('cr-1', 'code-review', Date.UTC(2026, 10, 3, 15)),
      runRecord('cr-2', 'code-review', Date.UTC(2026, 10, 4, 15)),
      runRecord('cr-3', 'code-review', Date.UTC(2026, 10, 5, 15)),
      runRecord('cr-4', 'code-review', Date.UTC(2026, 10, 6, 15), { status: 'failed' }),
      runRecord('ex-1', 'explain', Date.UTC(2026, 10, 7, 15)),
      runRecord('ex-2', 'explain', Date.UTC(2026, 10, 8, 15)),
      runRecord('old', 'explain', Date.UTC(2026, 9, 8, 15)), // October: not this report's
      { k: 'outcome', runId: 'cr-1', result: 'accepted', ts: NOW },
      { k: 'outcome', runId: 'cr-2', result: 'rejected', ts: NOW },
    ];
    const runCosts: Record<string, number> = {
      'cr-1': 700_000,
      'cr-2': 250_000,
      'cr-3': 900_000,
      'cr-4': 40_000,
      'ex-1': 30_000,
      'ex-2': 20_000,
      old: 5_000_000,
    };
    for (const [id, cost] of Object.entries(runCosts)) {
      const created = (runs.find((r) => r.k === 'run' && r.run.id === id) as Extract<StoreRecord, { k: 'run' }>).run
        .createdAt;
      entries.push(
        randomEntry(rand, created + 1_000, {
          runId: id,
          costMicros: cost,
          workflow: id.startsWith('cr') ? 'code-review' : 'explain',
          estimated: false,
        }),
      );
    }
    for (let i = 0; i < entries.length; i += 1_000) {
      await ws.store.commit(entries.slice(i, i + 1_000).map((entry) => ({ k: 'ledger' as const, entry })));
    }
    await ws.store.commit(runs);
    report = buildReport(ws, { month: '2026-11' }, { now: NOW });
  });
  after(async () => {
    await ws.close();
    env.cleanup();
  });

  it('totals: spend, estimated spend, calls and tokens of the month in the policy zone', () => {
    const nov = entries.filter(november);
    assert.ok(nov.length > 1_000 && nov.length < entries.length);
    assert.equal(report.fromDate, '2026-11-01');
    assert.equal(report.toDate, '2026-11-30');
    assert.equal(
      report.totalMicros,
      nov.reduce((s, e) => s + e.costMicros, 0),
    );
    assert.equal(
      report.estimatedMicros,
      nov.filter((e) => e.estimated).reduce((s, e) => s + e.costMicros, 0),
    );
    assert.ok(report.estimatedMicros > 0);
    assert.equal(report.settledMicros, report.totalMicros - report.estimatedMicros);
    assert.equal(report.calls, nov.length);
    assert.equal(
      report.tokens,
      nov.reduce((s, e) => s + totalTokens(e.usage), 0),
    );
  });

  it('breakdowns by workflow, model, provider, task and tool match sums over the raw entries, largest first', () => {
    const nov = entries.filter(november);
    const check = (
      rows: Array<{ key: string; micros: number; calls: number; tokens: number }>,
      key: (e: LedgerEntry) => string | null,
    ) => {
      const micros = sumBy(nov, key, (e) => e.costMicros);
      const calls = sumBy(nov, key, () => 1);
      const tokens = sumBy(nov, key, (e) => totalTokens(e.usage));
      assert.deepEqual(new Set(rows.map((r) => r.key)), new Set(micros.keys()));
      for (const r of rows) {
        assert.equal(r.micros, micros.get(r.key), r.key);
        assert.equal(r.calls, calls.get(r.key), r.key);
        assert.equal(r.tokens, tokens.get(r.key), r.key);
      }
      for (let i = 1; i < rows.length; i++) assert.ok(rows[i - 1]!.micros >= rows[i]!.micros);
    };
    check(report.byWorkflow, (e) => e.workflow);
    check(report.byModel, (e) => e.model);
    check(report.byProvider, (e) => e.provider);
    check(report.byTask, (e) => e.task);
    check(report.byTool, (e) => e.tool);
    assert.equal(report.byModel.find((m) => m.key === 'gpt-5-mini')?.provider, 'openai');
    for (const rows of [report.byWorkflow, report.byModel, report.byProvider]) {
      assert.ok(Math.abs(rows.reduce((s, r) => s + r.sharePct, 0) - 100) < 1e-9);
    }
  });

  it('by day: every day of November, zeros included, each the sum of its local day (25-hour 1 November)', () => {
    const nov = entries.filter(november);
    const perDay = sumBy(
      nov,
      (e) => localDay(e.ts, ZONE),
      (e) => e.costMicros,
    );
    assert.equal(report.byDay.length, 30);
    assert.deepEqual(
      report.byDay.map((d) => d.key),
      Array.from({ length: 30 }, (_, i) => `2026-11-${String(i + 1).padStart(2, '0')}`),
    );
    for (const d of report.byDay) assert.equal(d.micros, perDay.get(d.key) ?? 0, d.key);
  });

  it("caps: the month against the monthly cap, and each weekly/daily cap's busiest period (whole weeks across the month's edges)", () => {
    const byScope = Object.fromEntries(report.caps.map((c) => [c.scope, c]));
    assert.deepEqual(
      report.caps.map((c) => c.scope),
      ['workspace.monthly', 'workspace.weekly', 'workspace.daily'],
    );
    const monthly = byScope['workspace.monthly']!;
    assert.equal(monthly.usedMicros, report.totalMicros);
    assert.equal(monthly.limitMicros, 50_000_000);
    assert.ok(Math.abs(monthly.pct - (report.totalMicros / 50_000_000) * 100) < 1e-9);
    const expectedLevel = (pct: number) =>
      pct >= 100 ? 'blocked' : pct >= 90 ? 'critical' : pct >= 75 ? 'warn' : 'ok';
    assert.equal(monthly.level, expectedLevel(monthly.pct));

    // Weeks touching November (2026-W44 … W49), each summed over all its days, October's and December's too.
    const weeks = sumBy(
      entries,
      (e) => isoWeek(localDay(e.ts, ZONE)),
      (e) => e.costMicros,
    );
    const touching = ['2026-W44', '2026-W45', '2026-W46', '2026-W47', '2026-W48', '2026-W49'];
    const peakWeek = touching.reduce((best, w) => ((weeks.get(w) ?? 0) > (weeks.get(best) ?? 0) ? w : best));
    assert.equal(byScope['workspace.weekly']!.periodKey, peakWeek);
    assert.equal(byScope['workspace.weekly']!.usedMicros, weeks.get(peakWeek));
    assert.equal(byScope['workspace.weekly']!.periods, 6);
    assert.equal(
      byScope['workspace.weekly']!.periodsAtCap,
      touching.filter((w) => (weeks.get(w) ?? 0) >= 20_000_000).length,
    );

    const days = sumBy(
      entries.filter(november),
      (e) => localDay(e.ts, ZONE),
      (e) => e.costMicros,
    );
    const peakDay = Math.max(...days.values());
    assert.equal(byScope['workspace.daily']!.usedMicros, peakDay);
    assert.equal(byScope['workspace.daily']!.periods, 30);
  });

  it("per workflow: its own caps' peak use and health, runs started in the month and cost per run", () => {
    const cr = report.byWorkflow.find((w) => w.key === 'code-review')!;
    const crEntries = entries.filter((e) => november(e) && e.workflow === 'code-review');
    assert.deepEqual(
      cr.caps.map((c) => c.scope),
      ['workflow.code-review.monthly', 'workflow.code-review.daily'],
    );
    assert.equal(
      cr.caps[0]!.usedMicros,
      crEntries.reduce((s, e) => s + e.costMicros, 0),
    );
    const crDays = sumBy(
      crEntries,
      (e) => localDay(e.ts, ZONE),
      (e) => e.costMicros,
    );
    assert.equal(cr.caps[1]!.usedMicros, Math.max(...crDays.values()));
    const rank = { ok: 0, warn: 1, critical: 2, blocked: 3 } as const;
    assert.equal(
      cr.level,
      cr.caps.reduce((w, c) => (rank[c.level] > rank[w] ? c.level : w), 'ok' as keyof typeof rank),
    );
    assert.equal(cr.runs, 4);
    assert.equal(cr.costPerRunMicros, Math.round(cr.micros / 4));
    const explain = report.byWorkflow.find((w) => w.key === 'explain')!;
    assert.equal(explain.runs, 2, 'the October run is not counted');
    assert.deepEqual(explain.caps, []);
    assert.equal(explain.level, 'ok');
  });

  it('cache savings per model, priced with the workspace override: reads × (input − cache-read rate); write premium', () => {
    const nov = entries.filter(november);
    let expected = 0;
    for (const [model, [input, read]] of Object.entries(RATES)) {
      const reads = nov.filter((e) => e.model === model).reduce((s, e) => s + e.usage.cacheRead, 0);
      const saved = Math.round(reads * (input - read));
      expected += saved;
      const row = report.cache.byModel.find((c) => c.model === model);
      if (reads > 0) assert.equal(row?.savedMicros, saved, model);
    }
    assert.equal(report.cache.savedMicros, expected);
    // Anthropic 5-minute writes cost 1.25× input: the premium is 0.25 × input per token written.
    const haikuWrites = nov.filter((e) => e.model === 'claude-haiku-4-5').reduce((s, e) => s + e.usage.cacheWrite5m, 0);
    assert.equal(
      report.cache.byModel.find((c) => c.model === 'claude-haiku-4-5')!.writePremiumMicros,
      Math.round(haikuWrites * 0.5),
    );
    assert.equal(report.cache.netMicros, report.cache.savedMicros - report.cache.writePremiumMicros);
  });

  it('estimate vs actual: prompt estimates and reservations of settled calls', () => {
    const settled = entries.filter((e) => november(e) && !e.estimated);
    const withEstimate = settled.filter((e) => e.estimatedInputTokens !== null);
    assert.equal(report.estimate.calls, withEstimate.length);
    assert.equal(
      report.estimate.estimatedInputTokens,
      withEstimate.reduce((s, e) => s + e.estimatedInputTokens!, 0),
    );
    assert.equal(
      report.estimate.actualInputTokens,
      withEstimate.reduce((s, e) => s + promptTokens(e.usage), 0),
    );
    const reserved = settled.filter((e) => e.reservedMicros !== null);
    assert.equal(
      report.estimate.reservedMicros,
      reserved.reduce((s, e) => s + e.reservedMicros!, 0),
    );
    assert.equal(
      report.estimate.actualMicros,
      reserved.reduce((s, e) => s + e.costMicros, 0),
    );
  });

  it('ROI: value of completed, not rejected runs (minutes × hourly rate, or value per run) against all of the spend', () => {
    const byWf = Object.fromEntries(report.roi.workflows.map((w) => [w.workflow, w]));
    // code-review: cr-1 (accepted) and cr-3 (unmarked) count; cr-2 was rejected, cr-4 failed. 10 min at $90/h = $15.
    assert.equal(byWf['code-review']!.runs, 2);
    assert.equal(byWf['code-review']!.valuePerRunMicros, 15_000_000);
    assert.equal(byWf['code-review']!.valueMicros, 30_000_000);
    const crSpend = report.byWorkflow.find((w) => w.key === 'code-review')!.micros;
    assert.equal(byWf['code-review']!.spendMicros, crSpend);
    assert.equal(byWf['code-review']!.netMicros, 30_000_000 - crSpend);
    // explain: $0.50 a run, two runs in November.
    assert.equal(byWf.explain!.basis, 'valuePerRun');
    assert.equal(byWf.explain!.valueMicros, 1_000_000);
    assert.equal(report.roi.valueMicros, 31_000_000);
    const explainSpend = report.byWorkflow.find((w) => w.key === 'explain')!.micros;
    assert.equal(report.roi.spendMicros, crSpend + explainSpend);
    assert.ok(Math.abs(report.roi.returnMultiple! - 31_000_000 / (crSpend + explainSpend)) < 1e-12);
  });

  it('top consumers: the costliest runs started in the month, then workflows and models', () => {
    assert.deepEqual(
      report.top.runs.slice(0, 3).map((r) => r.runId),
      ['cr-3', 'cr-1', 'cr-2'],
    );
    assert.equal(report.top.runs[0]!.micros, 900_000);
    assert.ok(!report.top.runs.some((r) => r.runId === 'old'), 'an October run is not a November consumer');
    assert.deepEqual(
      report.top.workflows.map((w) => w.key),
      report.byWorkflow.slice(0, 5).map((w) => w.key),
    );
    assert.deepEqual(
      report.top.models.map((m) => m.key),
      report.byModel.slice(0, 5).map((m) => m.key),
    );
  });

  it('forecast while the month runs; none for a past month', () => {
    assert.equal(report.current, true);
    assert.ok(report.forecast);
    assert.ok(report.forecast.caps.some((c) => c.scope === 'workspace.monthly'));
    const october = buildReport(ws, { month: '2026-10' }, { now: NOW });
    assert.equal(october.current, false);
    assert.equal(october.forecast, null);
  });

  it('renders Markdown with every section that has data', () => {
    const md = renderReportMarkdown(report);
    for (const heading of [
      '# Agent Budget report — November 2026',
      '## Summary',
      '## Budget caps',
      '## By workflow',
      '## By model',
      '## By provider',
      '## By task',
      '## By tool',
      '## By day',
      '## Top runs',
      '## Cache savings',
      '## Estimates vs actual',
      '## Value',
      '## Forecast',
    ]) {
      assert.ok(md.includes(`${heading}\n`), heading);
    }
    assert.ok(md.includes('| code-review |'));
    assert.match(md, /\*\*Spent \$\d+\.\d\d\*\*/);
  });
});

describe('report: period boundaries in a non-UTC zone', () => {
  // New York: EDT (UTC−4) until 2026-11-01 02:00 local, then EST (UTC−5). 1 November has 25 hours.
  const AT = {
    lastOfOctober: Date.UTC(2026, 10, 1, 3, 59, 59, 999), // 31 Oct 23:59:59.999 EDT
    firstOfNovember: Date.UTC(2026, 10, 1, 4), // 1 Nov 00:00 EDT
    lateFirstOfNovember: Date.UTC(2026, 10, 2, 4, 59, 59), // 1 Nov 23:59:59 EST — the 25th hour
    lastOfNovember: Date.UTC(2026, 11, 1, 4, 59, 59, 999), // 30 Nov 23:59:59.999 EST
    firstOfDecember: Date.UTC(2026, 11, 1, 5), // 1 Dec 00:00 EST
  };
  const COST = {
    lastOfOctober: 1,
    firstOfNovember: 10,
    lateFirstOfNovember: 100,
    lastOfNovember: 1_000,
    firstOfDecember: 10_000,
  };

  async function withEntries(timeZone: string, body: (ws: Workspace) => void): Promise<void> {
    const env = tempFolder({ timeZone });
    const ws = await openWorkspace(env.folder, Date.UTC(2027, 0, 1));
    try {
      const rand = seededRandom(3);
      await ws.store.commit(
        Object.entries(AT).map(([name, ts]) => ({
          k: 'ledger' as const,
          entry: randomEntry(rand, ts, {
            costMicros: COST[name as keyof typeof COST],
            estimated: false,
            workflow: 'w',
          }),
        })),
      );
      body(ws);
    } finally {
      await ws.close();
      env.cleanup();
    }
  }

  it('a month is its days in the policy zone, across the fall-back DST change', async () => {
    await withEntries(ZONE, (ws) => {
      const nov = buildReport(ws, { month: '2026-11' });
      assert.equal(nov.totalMicros, 10 + 100 + 1_000);
      assert.equal(nov.byDay.length, 30);
      assert.equal(nov.byDay[0]!.micros, 110, 'both ends of the 25-hour day');
      assert.equal(nov.byDay[29]!.micros, 1_000);
      assert.equal(buildReport(ws, { month: '2026-10' }).totalMicros, 1);
      assert.equal(buildReport(ws, { month: '2026-12' }).totalMicros, 10_000);
      assert.equal(buildReport(ws, { from: '2026-10-31', to: '2026-11-01' }).totalMicros, 111);
    });
  });

  it('the same instants fall in other months in UTC', async () => {
    await withEntries('UTC', (ws) => {
      assert.equal(buildReport(ws, { month: '2026-11' }).totalMicros, 1 + 10 + 100);
      assert.equal(buildReport(ws, { month: '2026-12' }).totalMicros, 1_000 + 10_000);
    });
  });

  it('a spring-forward month (March 2027 in New York, 14 March has 23 hours) has all its days', async () => {
    const env = tempFolder({ timeZone: ZONE });
    const ws = await openWorkspace(env.folder);
    try {
      const rand = seededRandom(4);
      // 14 Mar 00:30 EST and 23:30 EDT; 31 Mar 23:59 EDT; 1 Apr 00:00 EDT.
      const at = [
        Date.UTC(2027, 2, 14, 5, 30),
        Date.UTC(2027, 2, 15, 3, 30),
        Date.UTC(2027, 3, 1, 3, 59),
        Date.UTC(2027, 3, 1, 4),
      ];
      await ws.store.commit(
        at.map((ts, i) => ({
          k: 'ledger' as const,
          entry: randomEntry(rand, ts, { costMicros: 10 ** i, estimated: false }),
        })),
      );
      const march = buildReport(ws, { month: '2027-03' });
      assert.equal(march.byDay.length, 31);
      assert.equal(march.byDay.find((d) => d.key === '2027-03-14')!.micros, 11);
      assert.equal(march.byDay[30]!.micros, 100);
      assert.equal(march.totalMicros, 111);
    } finally {
      await ws.close();
      env.cleanup();
    }
  });

  it('rejects malformed or reversed periods with a sentence', () => {
    assert.throws(() => reportDays({ month: '2026-13' }), /not a month/);
    assert.throws(() => reportDays({ from: '2026-02-30', to: '2026-03-01' }), /not a date/);
    assert.throws(() => reportDays({ from: '2026-03-02', to: '2026-03-01' }), /ends .* before it starts/);
    assert.deepEqual(reportDays({ month: '2028-02' }), { fromDay: '2028-02-01', toDay: '2028-02-29' });
  });
});

describe('report: an empty workspace', () => {
  it('has zero totals, every day, the default caps at 0 %, and says so in Markdown', async () => {
    const env = tempFolder();
    const ws = await openWorkspace(env.folder);
    try {
      const r = buildReport(ws, { month: '2026-02' }, { now: Date.UTC(2027, 0, 1) });
      assert.equal(r.totalMicros, 0);
      assert.equal(r.byDay.length, 28);
      assert.deepEqual(r.byWorkflow, []);
      assert.ok(r.caps.every((c) => c.usedMicros === 0 && c.level === 'ok'));
      assert.ok(renderReportMarkdown(r).includes('_No spend recorded in this period._'));
    } finally {
      await ws.close();
      env.cleanup();
    }
  });
});
