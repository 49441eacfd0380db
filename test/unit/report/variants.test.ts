import assert from 'node:assert/strict';
import { buildReport } from '../../../src/core/report/report';
import { renderReportMarkdown } from '../../../src/core/report/render';
import { compareVariants, type VariantRow } from '../../../src/core/report/variants';
import type { LedgerEntry, RunStatus, StoreRecord } from '../../../src/core/store/records';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';
import { runCli } from '../../support/cli';
import { openWorkspace, runRecord, tempFolder, totalTokens } from './helpers';

const T0 = Date.UTC(2026, 10, 10, 9);
const V1 = 'claude-haiku-4-5@v1';
const V2 = 'claude-haiku-4-5@v2';

describe('variants: cost, tokens, failures and acceptance per variant of a workflow', () => {
  let env: ReturnType<typeof tempFolder>;
  let ws: Awaited<ReturnType<typeof openWorkspace>>;
  const tokens: Record<string, number> = {};

  before(async () => {
    env = tempFolder({ timeZone: 'UTC' });
    ws = await openWorkspace(env.folder);
    const rand = seededRandom(12);
    const runs: Array<
      [
        id: string,
        workflow: string,
        variant: string | null,
        status: RunStatus,
        cost: number,
        mark?: 'accepted' | 'rejected',
      ]
    > = [
      ['a1', 'code-review', V1, 'completed', 10_000, 'accepted'],
      ['a2', 'code-review', V1, 'completed', 10_000, 'accepted'],
      ['a3', 'code-review', V1, 'completed', 10_000, 'rejected'],
      ['a4', 'code-review', V1, 'failed', 2_000],
      ['b1', 'code-review', V2, 'completed', 6_000, 'accepted'],
      ['b2', 'code-review', V2, 'completed', 6_000, 'accepted'],
      ['b3', 'code-review', V2, 'running', 1_000],
      ['n1', 'code-review', null, 'completed', 9_000],
      ['e1', 'explain', null, 'completed', 3_000], // no variants at all: nothing to compare
    ];
    const records: StoreRecord[] = [];
    runs.forEach(([id, workflow, variant, status, cost, mark], i) => {
      records.push(runRecord(id, workflow, T0 + i * 60_000, { variant, status }));
      const entry: LedgerEntry = randomEntry(rand, T0 + i * 60_000 + 1_000, {
        runId: id,
        workflow,
        variant,
        costMicros: cost,
      });
      if (workflow === 'code-review')
        tokens[variant ?? '(none)'] = (tokens[variant ?? '(none)'] ?? 0) + totalTokens(entry.usage);
      records.push({ k: 'ledger', entry });
      if (mark) records.push({ k: 'outcome', runId: id, result: mark, ts: T0 + 86_400_000 });
    });
    await ws.store.commit(records);
  });
  after(async () => {
    await ws.close();
    env.cleanup();
  });

  it('compares by cost per run (cheapest first), failure rate, acceptance rate and cost per accepted result', () => {
    const [cr, ...rest] = compareVariants(ws.store.queries, 0, Number.MAX_SAFE_INTEGER);
    assert.equal(rest.length, 0, 'explain has no variants');
    assert.equal(cr!.workflow, 'code-review');
    const byVariant = Object.fromEntries(cr!.variants.map((v) => [v.variant, v]));
    assert.deepEqual(
      cr!.variants.map((v) => v.variant),
      [V2, V1, '(none)'],
    );
    // v1: 4 runs, 32,000 µ$ → 8,000 a run; 1 failed of 4 finished = 25 %; 2 of 3 marked accepted; 32,000 / 2 accepted.
    assert.deepEqual(pick(byVariant[V1]!), {
      runs: 4,
      completed: 3,
      failed: 1,
      failureRatePct: 25,
      accepted: 2,
      rejected: 1,
      costMicros: 32_000,
      costPerRunMicros: 8_000,
      costPerAcceptedMicros: 16_000,
    });
    assert.ok(Math.abs(byVariant[V1]!.acceptanceRatePct! - 200 / 3) < 1e-9);
    // v2: 3 runs (one still running) 13,000 µ$ → 4,333 a run; none failed; 2 of 2 accepted; 6,500 per accepted.
    assert.deepEqual(pick(byVariant[V2]!), {
      runs: 3,
      completed: 2,
      failed: 0,
      failureRatePct: 0,
      accepted: 2,
      rejected: 0,
      costMicros: 13_000,
      costPerRunMicros: 4_333,
      costPerAcceptedMicros: 6_500,
    });
    assert.equal(byVariant[V2]!.acceptanceRatePct, 100);
    assert.equal(byVariant['(none)']!.acceptanceRatePct, null, 'no marked run');
    assert.equal(byVariant['(none)']!.costPerAcceptedMicros, null);
    for (const v of cr!.variants) assert.equal(v.tokensPerRun, Math.round(tokens[v.variant]! / v.runs), v.variant);
  });

  it('counts only runs started in the range, and shows in the report', () => {
    assert.deepEqual(
      compareVariants(ws.store.queries, T0 + 4 * 60_000, Number.MAX_SAFE_INTEGER)[0]!.variants.map((v) => v.variant),
      [V2, '(none)'],
    );
    const md = renderReportMarkdown(buildReport(ws, { month: '2026-11' }, { now: Date.UTC(2027, 0, 1) }));
    assert.ok(md.includes('## Variants\n\n### code-review'));
    assert.ok(md.includes(`| \`${V2}\` | 3 | $0.004333 |`), md);
    assert.ok(md.includes('| 25% | 67% of 3 | $0.0160 |'), md);
  });
});

function pick(v: VariantRow) {
  const {
    runs,
    completed,
    failed,
    failureRatePct,
    accepted,
    rejected,
    costMicros,
    costPerRunMicros,
    costPerAcceptedMicros,
  } = v;
  return {
    runs,
    completed,
    failed,
    failureRatePct,
    accepted,
    rejected,
    costMicros,
    costPerRunMicros,
    costPerAcceptedMicros,
  };
}

describe('agent-budget mark', () => {
  it('marks a completed run by a unique id prefix; refuses unknown, ambiguous, unfinished runs and other words', async () => {
    const env = tempFolder({ timeZone: 'UTC' });
    try {
      const ws = await openWorkspace(env.folder);
      await ws.store.commit([
        runRecord('01JABCDEF', 'code-review', T0, { variant: V2 }),
        runRecord('01JABXYZ', 'code-review', T0),
        runRecord('01JFAILED', 'code-review', T0, { status: 'failed' }),
      ]);
      await ws.close();
      const ok = await runCli(['mark', '01JABC', 'accepted', '--workspace', env.folder]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, `Marked run 01JABCDEF (code-review, ${V2}) accepted.\n`);
      const json = await runCli(['mark', '01JABCDEF', 'rejected', '--json', '--workspace', env.folder]);
      assert.equal(json.code, 0, json.stderr);
      assert.deepEqual(JSON.parse(json.stdout), {
        runId: '01JABCDEF',
        workflow: 'code-review',
        variant: V2,
        result: 'rejected',
      });
      const check = await openWorkspace(env.folder);
      assert.equal(check.store.queries.runResult('01JABCDEF')?.result, 'rejected', 'the later mark wins');
      await check.close();

      for (const [args, message] of [
        [['nope', 'accepted'], /no run "nope"/],
        [['01JAB', 'accepted'], /matches several runs/],
        [['01JFAILED', 'accepted'], /is failed: only a completed run/],
        [['01JABCDEF', 'maybe'], /accepted or rejected/],
        [['01JABCDEF'], /accepted or rejected/],
      ] as const) {
        const r = await runCli(['mark', ...args, '--workspace', env.folder]);
        assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message);
        assert.equal(r.stdout, '');
      }
    } finally {
      env.cleanup();
    }
  });
});
