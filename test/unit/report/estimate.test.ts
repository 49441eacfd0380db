import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadInventory, type Inventory } from '../../../src/core/policy/inventory';
import { loadPolicy } from '../../../src/core/policy/load';
import { estimateInventory } from '../../../src/core/report/estimate';
import { renderEstimateMarkdown } from '../../../src/core/report/render';
import type { StoreRecord } from '../../../src/core/store/records';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';
import { openWorkspace, runRecord, tempFolder } from './helpers';

const FIXTURES = path.resolve(__dirname, '..', 'policy', 'fixtures');
/** The budget.json example of docs/policy.md (caps: $5 a day, $20 a week, $50 a month; code-review $2 a day, $20 a month). */
const POLICY_MD_BUDGET = JSON.parse(readFileSync(path.join(FIXTURES, 'policy-md-budget.json'), 'utf8')) as unknown;
const DAY = 86_400_000;

async function policyMd() {
  const env = tempFolder(POLICY_MD_BUDGET);
  try {
    return (await loadPolicy(env.folder)).policy;
  } finally {
    env.cleanup();
  }
}

describe('estimator: the inventory of docs/policy.md, by hand', () => {
  it('prices every entry per call with the price table and totals the month', async () => {
    const { inventory } = await loadInventory(path.join(FIXTURES, 'policy-md-inventory.json'));
    const e = estimateInventory(inventory, await policyMd());
    const [ci, dev] = e.byWorkflow;
    // ci-review, claude-haiku-4-5 at $1 in / $5 out per MTok (= µ$ per token), one call per run:
    //   4,700 × 1 = 4,700 µ$ + 650 × 5 = 3,250 µ$ → 7,950 µ$ a run; × 160 runs = 1,272,000 µ$ ($1.272) a month.
    assert.equal(ci!.key, 'ci-review');
    assert.equal(ci!.priceId, 'claude-haiku-4-5');
    assert.equal(ci!.provider, 'anthropic');
    assert.equal(ci!.callsPerRun, 1);
    assert.equal(ci!.costPerCallMicros, 7_950);
    assert.equal(ci!.costPerRunMicros, 7_950);
    assert.equal(ci!.micros, 1_272_000);
    // dev-assistant, 8 turns a run: a turn is 750 × 1 = 750 µ$ + 450 × 5 = 2,250 µ$ = 3,000 µ$;
    //   × 8 = 24,000 µ$ a run (6,000 in / 3,600 out tokens); × 288 runs = 6,912,000 µ$ ($6.912) a month.
    assert.equal(dev!.callsPerRun, 8);
    assert.equal(dev!.inputTokensPerRun, 6_000);
    assert.equal(dev!.outputTokensPerRun, 3_600);
    assert.equal(dev!.costPerCallMicros, 3_000);
    assert.equal(dev!.costPerRunMicros, 24_000);
    assert.equal(dev!.micros, 6_912_000);
    // Total: 1,272,000 + 6,912,000 = 8,184,000 µ$ ($8.184).
    assert.equal(e.totalMicros, 8_184_000);
    assert.equal(e.totalWithActualsMicros, 8_184_000, 'no history: the same');
    assert.deepEqual(e.errors, []);
  });

  it('against the workspace caps, with headroom: a month, a week and a day of it', async () => {
    const { inventory } = await loadInventory(path.join(FIXTURES, 'policy-md-inventory.json'));
    const e = estimateInventory(inventory, await policyMd());
    const caps = Object.fromEntries(e.caps.map((c) => [c.period, c]));
    // Monthly: $50 − $8.184 = $41.816 of headroom; 8.184 / 50 = 16.368 %.
    assert.equal(caps.monthly!.forecastMicros, 8_184_000);
    assert.equal(caps.monthly!.headroomMicros, 41_816_000);
    assert.ok(Math.abs(caps.monthly!.pct - 16.368) < 1e-9);
    // A day is 1/30.4375 of a month (365.25 / 12 days): 8,184,000 / 30.4375 = 268,878.85 → 268,879 µ$ of $5.
    assert.equal(caps.daily!.forecastMicros, 268_879);
    assert.equal(caps.daily!.headroomMicros, 5_000_000 - 268_879);
    // A week is 7/30.4375: 1,882,151.95 → 1,882,152 µ$ of $20.
    assert.equal(caps.weekly!.forecastMicros, 1_882_152);
    assert.equal(e.level, 'ok');
    // Neither entry is a workflow with caps of its own in this budget.json.
    assert.deepEqual(
      e.byWorkflow.map((w) => w.caps.length),
      [0, 0],
    );
  });

  it("a workflow's own caps, a long-prompt tier per call, and an unknown model", async () => {
    const inventory: Inventory = {
      workflows: [
        // code-review has $2/day and $20/month caps in the docs/policy.md budget. Sonnet 4.5: $3 in, $15 out:
        //   5,000 × 3 + 1,000 × 15 = 30,000 µ$ a run; × 1,000 = 30,000,000 µ$ = 150 % of $20 (over by $10).
        {
          id: 'code-review',
          model: 'claude-sonnet-4-5',
          runsPerMonth: 1_000,
          inputTokensPerRun: 5_000,
          outputTokensPerRun: 1_000,
        },
        // my-model (budget.json override): $3/$15, above 200,000 prompt tokens the WHOLE call at $6/$22.50:
        //   250,000 × 6 + 2,000 × 22.5 = 1,545,000 µ$ a run; × 10 = 15,450,000 µ$.
        { id: 'big', model: 'my-model', runsPerMonth: 10, inputTokensPerRun: 250_000, outputTokensPerRun: 2_000 },
        // Per turn each call is under the threshold: 150,000 × 3 + 1,000 × 15 = 465,000 µ$; × 8 turns = 3,720,000.
        {
          id: 'chatty',
          model: 'my-model',
          runsPerMonth: 1,
          turnsPerRun: 8,
          inputTokensPerTurn: 150_000,
          outputTokensPerTurn: 1_000,
        },
        { id: 'mystery', model: 'no-such-model', runsPerMonth: 100, inputTokensPerRun: 1, outputTokensPerRun: 1 },
      ],
    };
    const e = estimateInventory(inventory, await policyMd());
    const [cr, big, chatty, mystery] = e.byWorkflow;
    assert.equal(cr!.micros, 30_000_000);
    assert.deepEqual(
      cr!.caps.map((c) => [c.scope, c.forecastMicros, c.headroomMicros, c.level]),
      [
        ['workflow.code-review.monthly', 30_000_000, -10_000_000, 'blocked'],
        // 30,000,000 / 30.4375 = 985,626.28 → 985,626 µ$ of $2: 49 %.
        ['workflow.code-review.daily', 985_626, 1_014_374, 'ok'],
      ],
    );
    assert.equal(cr!.level, 'blocked');
    assert.equal(big!.costPerRunMicros, 1_545_000);
    assert.equal(big!.micros, 15_450_000);
    assert.equal(big!.priceSource, '.agent-budget/budget.json prices["my-model"]');
    assert.equal(chatty!.costPerCallMicros, 465_000);
    assert.equal(chatty!.micros, 3_720_000);
    assert.equal(mystery!.micros, 0);
    assert.match(mystery!.error!, /No price for model "no-such-model"/);
    assert.deepEqual(e.errors.length, 1);
    assert.equal(e.totalMicros, 30_000_000 + 15_450_000 + 3_720_000);
    // $49.17 of $50 a month: critical.
    assert.equal(e.level, 'critical');
    const md = renderEstimateMarkdown(e, 'inventory.json');
    assert.ok(md.includes('**$49.17 a month**'));
    assert.ok(md.includes('**no price**'));
  });
});

describe('estimator: forecast from actuals beside the inventory', () => {
  it("uses the recent cost per run of a workflow with history × the inventory's runs per month", async () => {
    const env = tempFolder(POLICY_MD_BUDGET);
    const now = Date.UTC(2026, 10, 22, 12);
    const ws = await openWorkspace(env.folder, now);
    try {
      const rand = seededRandom(9);
      const records: StoreRecord[] = [];
      const runs: Array<[string, number, number, 'completed' | 'failed' | 'running']> = [
        ['a', 2, 10_000, 'completed'],
        ['b', 5, 12_000, 'completed'],
        ['c', 9, 8_000, 'failed'],
        ['d', 20, 10_000, 'completed'],
        ['live', 0.1, 99_000, 'running'], // still going: its cost is not a run's cost yet
        ['old', 40, 500_000, 'completed'], // older than 30 days
      ];
      for (const [id, daysAgo, cost, status] of runs) {
        const at = now - daysAgo * DAY;
        records.push(runRecord(id, 'ci-review', at, { status }));
        // Two calls a run, splitting its cost.
        records.push({
          k: 'ledger',
          entry: randomEntry(rand, at + 1_000, { runId: id, workflow: 'ci-review', costMicros: cost / 2 }),
        });
        records.push({
          k: 'ledger',
          entry: randomEntry(rand, at + 2_000, { runId: id, workflow: 'ci-review', costMicros: cost / 2 }),
        });
      }
      await ws.store.commit(records);
      const { inventory } = await loadInventory(path.join(FIXTURES, 'policy-md-inventory.json'));
      const e = estimateInventory(inventory, ws.policy, { queries: ws.store.queries, now });
      const ci = e.byWorkflow[0]!;
      // a, b, c, d: 40,000 µ$ over 4 runs = 10,000 µ$ a run; × 160 = 1,600,000 µ$ beside the inventory's 1,272,000.
      assert.deepEqual(
        {
          runs: ci.actual!.runs,
          cost: ci.actual!.costMicros,
          perRun: ci.actual!.costPerRunMicros,
          monthly: ci.actual!.monthlyMicros,
        },
        { runs: 4, cost: 40_000, perRun: 10_000, monthly: 1_600_000 },
      );
      assert.equal(ci.actual!.sinceDay, '2026-10-23');
      assert.ok(Math.abs(ci.actual!.observedRunsPerMonth - (4 / 30) * 30.4375) < 1e-9);
      assert.equal(ci.micros, 1_272_000);
      assert.equal(e.byWorkflow[1]!.actual, null, 'dev-assistant has no history');
      assert.equal(e.totalWithActualsMicros, 1_600_000 + 6_912_000);
      assert.equal(e.totalMicros, 8_184_000);
      assert.ok(renderEstimateMarkdown(e, 'inv').includes('$1.60 ($0.0100/run over 4 runs)'));
    } finally {
      await ws.close();
      env.cleanup();
    }
  });
});
