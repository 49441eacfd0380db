import assert from 'node:assert/strict';
import { experimentResults } from '../../../src/core/report/experiments';
import { formatUnitCost } from '../../../src/core/report/format';
import { renderReportMarkdown } from '../../../src/core/report/render';
import { buildReport, currentMonth } from '../../../src/core/report/report';
import { armFor, bucketOf, experimentId } from '../../../src/core/runner/experiments';
import type { ExperimentMark } from '../../../src/core/runner/experiments';
import { tInterval, wilson } from '../../../src/core/report/stats';
import { MemoryProvider, memoryAccess } from '../metering/memoryProvider';
import { openRunner, tempWorkspace, writePolicy } from './helpers';

/** The smallest and largest counts of n fair coin flips outside of which the chance is below `tail` on each side. */
function assertSameInterval(
  actual: { estimate: number; low: number; high: number },
  expected: { estimate: number; low: number; high: number },
): void {
  for (const k of ['estimate', 'low', 'high'] as const)
    assert.ok(
      Math.abs(actual[k] - expected[k]) <= 1e-9 * Math.max(1, Math.abs(expected[k])),
      `${k}: ${actual[k]} vs ${expected[k]}`,
    );
}

function binomialBounds(n: number, p: number, tail: number): [number, number] {
  const pmf: number[] = [];
  let logC = 0;
  for (let k = 0; k <= n; k++) {
    if (k > 0) logC += Math.log(n - k + 1) - Math.log(k);
    pmf.push(Math.exp(logC + k * Math.log(p) + (n - k) * Math.log(1 - p)));
  }
  let low = 0;
  for (let acc = 0; acc + pmf[low]! < tail; low++) acc += pmf[low]!;
  let high = n;
  for (let acc = 0; acc + pmf[high]! < tail; high--) acc += pmf[high]!;
  return [low, high];
}

const REVIEW = {
  id: 'review',
  title: 'Review',
  version: 'v1',
  steps: [{ id: 'review', prompt: 'Review {{input}}', maxOutputTokens: 300 }],
  versions: { v2: { steps: { review: { prompt: 'Review strictly {{input}}' } } } },
};

describe('Experiments: deterministic assignment, recorded variants, intervals', function () {
  this.timeout(120_000);
  let ws: ReturnType<typeof tempWorkspace> | undefined;
  afterEach(() => ws?.cleanup());

  it('a run id always lands in the same bucket; buckets follow the split', () => {
    assert.equal(bucketOf('01HZZZ-run'), bucketOf('01HZZZ-run'));
    assert.ok(bucketOf('a') >= 0 && bucketOf('a') < 10_000);
    assert.deepEqual(
      [0, 2999, 3000, 9999].map((b) => armFor(b, [30, 70])),
      [0, 0, 1, 1],
    );
    assert.deepEqual(
      [0, 3333, 3334, 6667, 9999].map((b) => armFor(b, [100 / 3, 100 / 3, 100 / 3])),
      [0, 0, 1, 2, 2],
    );
    // 10,000 fixed ids split 50/50 within binomial bounds (one in a million each side).
    const arms = Array.from({ length: 10_000 }, (_, i) => armFor(bucketOf(`run-${i}`), [50, 50]));
    const [low, high] = binomialBounds(10_000, 0.5, 1e-6);
    const first = arms.filter((a) => a === 0).length;
    assert.ok(first >= low && first <= high, `${first} of 10000 in the first variant`);
  });

  it('100 runs of a 2-variant experiment: split within binomial bounds, variant and arm recorded, then routing again; the report’s intervals match a reference computation', async () => {
    const experiment = {
      variants: [{ model: 'claude-haiku-4-5' }, { model: 'claude-sonnet-4-5', promptVersion: 'v2' }],
      split: [50, 50],
      until: { runs: 100 },
    };
    ws = tempWorkspace({ '.agent-budget/workflows/review.json': REVIEW });
    writePolicy(ws!.folder, {
      limits: { workspace: { dailyUsd: null, monthlyUsd: null } },
      experiments: { review: experiment },
      workflows: { review: { model: 'gpt-4.1-mini' } },
    });
    const provider = new MemoryProvider('anthropic');
    const openai = new MemoryProvider('openai');
    // Usage varies run to run (a deterministic sequence); every ninth call fails before billing.
    for (let i = 0; i < 100; i++) {
      if (i % 9 === 4)
        provider.enqueue({ fail: provider.error('server', 'overloaded', { status: 500, mayHaveBilled: false }) });
      else
        provider.enqueue({ text: `ok ${i}`, usage: { input: 200 + ((i * 37) % 150), output: 40 + ((i * 53) % 90) } });
    }
    openai.enqueue({ text: 'routed', usage: { input: 10, output: 5 } });
    const { runner, workspace, close } = await openRunner(ws!.folder, memoryAccess({ anthropic: provider, openai }));
    try {
      const outcomes = [];
      for (let i = 0; i < 100; i++) outcomes.push(await runner.start('review', { input: `change ${i}` }));
      const q = workspace.store.queries;
      const runs = outcomes.map((o) => q.getRun(o.runId)!);
      const marks = runs.map((r) => (r.data as { experiment?: ExperimentMark }).experiment);
      assert.ok(
        marks.every((m) => m?.id === experimentId(experiment)),
        'every run carries the experiment',
      );
      assert.deepEqual(
        marks.map((m) => m!.arm),
        runs.map((r) => armFor(bucketOf(r.id), [50, 50])),
        'each run is in the arm its id hashes to',
      );
      const inFirst = marks.filter((m) => m!.arm === 0).length;
      const [low, high] = binomialBounds(100, 0.5, 1e-6);
      assert.ok(inFirst >= low && inFirst <= high, `${inFirst} of 100 in the first variant (bounds ${low}–${high})`);
      // The variant is what the run used: model and prompt version, in the run row and every ledger row.
      runs.forEach((r, i) => {
        const variant = marks[i]!.arm === 0 ? 'claude-haiku-4-5@v1' : 'claude-sonnet-4-5@v2';
        assert.equal(r.variant, variant);
      });
      const sonnetPrompts = provider.requests.filter((r) => r.model === 'claude-sonnet-4-5');
      assert.ok(sonnetPrompts.length > 0);
      assert.ok(
        sonnetPrompts.every((r) => JSON.stringify(r.messages).includes('Review strictly')),
        'the second variant runs prompt version v2',
      );

      // Run 101: the experiment has assigned its 100 runs; the workflow's routing decides again.
      const after = await runner.start('review', { input: 'later' });
      const afterRun = q.getRun(after.runId)!;
      assert.equal((afterRun.data as { experiment?: unknown }).experiment, undefined);
      assert.equal(afterRun.variant, 'gpt-4.1-mini@v1');

      // Marks: every fourth completed run accepted, every seventh rejected.
      const completed = runs.filter((r) => r.status === 'completed');
      let n = 0;
      for (const r of completed) {
        n += 1;
        const result = n % 4 === 0 ? 'accepted' : n % 7 === 0 ? 'rejected' : undefined;
        if (result) await workspace.store.commit([{ k: 'outcome', runId: r.id, result, ts: Date.now() }]);
      }

      // The reference: the same quantities computed here from the runs, with the same interval definitions.
      const results = experimentResults(q, workspace.policy);
      assert.equal(results.length, 1);
      const [result] = results;
      assert.equal(result!.assigned, 100);
      for (const arm of result!.arms) {
        const mine = runs.filter((_, i) => marks[i]!.arm === arm.arm).map((r) => q.getRun(r.id)!);
        const finished = mine.filter((r) => r.status === 'completed' || r.status === 'failed');
        const failed = finished.filter((r) => r.status === 'failed').length;
        const marked = mine.map((r) => q.runResult(r.id)?.result).filter(Boolean);
        const accepted = marked.filter((m) => m === 'accepted').length;
        assert.equal(arm.runs, mine.length);
        assert.equal(arm.failed, failed);
        assert.ok(failed > 0, 'failures are in the data');
        assert.deepEqual(arm.failureRate, wilson(failed, finished.length));
        assert.deepEqual(arm.acceptance, wilson(accepted, marked.length));
        const costs = finished.map((r) => r.costMicros);
        const mean = costs.reduce((a, b) => a + b, 0) / costs.length;
        assert.ok(Math.abs(arm.costPerRun!.estimate - mean) < 1e-6);
        // The report sums the same costs in its own order: equal up to floating-point rounding.
        assertSameInterval(arm.costPerRun!, tInterval(costs)!);
      }
      // Sonnet costs several times Haiku per token: the cost intervals separate, and Haiku wins on cost.
      assert.deepEqual(result!.winner, { arm: 0, on: 'cost' });
      // The monthly report says so, with the intervals (its numbers are the ones checked above).
      const markdown = renderReportMarkdown(buildReport(workspace, { month: currentMonth(workspace.policy) }));
      const haiku = result!.arms[0]!;
      assert.match(markdown, /## Experiments\n\n### review\n\n100 runs assigned of 100\./);
      assert.ok(
        markdown.includes(
          `| **claude-haiku-4-5** | 50% | ${haiku.runs} | ${formatUnitCost(Math.round(haiku.costPerRun!.estimate))} (${formatUnitCost(Math.round(haiku.costPerRun!.low))}–${formatUnitCost(Math.round(haiku.costPerRun!.high))})`,
        ),
        markdown,
      );
      assert.match(markdown, /\*\*claude-haiku-4-5 wins on cost\*\*/);
    } finally {
      await close();
    }
  });

  it('a prompt version the workflow does not have stops the run before it starts, naming where it was asked for', async () => {
    ws = tempWorkspace({ '.agent-budget/workflows/review.json': REVIEW });
    writePolicy(ws.folder, { workflows: { review: { model: 'claude-haiku-4-5', promptVersion: 'v9' } } });
    const provider = new MemoryProvider('anthropic');
    const { runner, workspace, close } = await openRunner(ws.folder, memoryAccess({ anthropic: provider }));
    try {
      await assert.rejects(
        runner.start('review', { input: 'x' }),
        (err: Error & { errorKind?: string }) =>
          err.errorKind === 'config' &&
          /workflows\.review\.promptVersion asks for prompt version "v9" of the workflow "review", which has "v1", "v2"/.test(
            err.message,
          ),
      );
      assert.equal(workspace.store.queries.listRuns().length, 0, 'no run recorded');
      writePolicy(ws!.folder, { workflows: { review: { model: 'claude-haiku-4-5', promptVersion: 'v2' } } });
      assert.equal(await workspace.reloadPolicy(), undefined);
      provider.enqueue({ text: 'ok', usage: { input: 10, output: 5 } });
      const done = await runner.start('review', { input: 'x' });
      assert.equal(workspace.store.queries.getRun(done.runId)!.variant, 'claude-haiku-4-5@v2');
      assert.match(JSON.stringify(provider.requests[0]!.messages), /Review strictly x/);
    } finally {
      await close();
    }
  });
});
