import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BudgetEngine, policyDays } from '../../../src/core/budget/engine';
import { ManualClock } from '../../../src/core/clock';
import { defaultPolicy } from '../../../src/core/policy/load';
import { priceCall, resolvePrice } from '../../../src/core/pricing/cost';
import { WorkspaceStore } from '../../../src/core/store/store';
import { BUILT_IN_PRICES, spanOn, utcDay, type ModelPrice } from '../../../src/core/pricing/prices';
import type { TokenUsage } from '../../../src/core/usage';

const usage = (u: Partial<TokenUsage>): TokenUsage => ({
  input: 0,
  output: 0,
  cacheRead: 0,
  cacheWrite5m: 0,
  cacheWrite1h: 0,
  reasoning: 0,
  ...u,
});

const DAY = /^\d{4}-\d{2}-\d{2}$/;

describe('prices with dates', () => {
  it('every dated span is well formed: real days, from before until, promotions end, no two spans overlap', () => {
    for (const [id, p] of Object.entries(BUILT_IN_PRICES)) {
      const spans = p.dated ?? [];
      for (const d of spans) {
        for (const day of [d.from, d.until]) {
          if (day === undefined) continue;
          assert.match(day, DAY, id);
          assert.equal(utcDay(Date.parse(`${day}T00:00:00Z`)), day, `${id}: ${day} is a calendar day`);
        }
        assert.ok(d.from !== undefined || d.until !== undefined, `${id}: a span without dates is the standard rate`);
        if (d.from && d.until) assert.ok(d.from < d.until, `${id}: ${d.from} < ${d.until}`);
        if (d.promotion) assert.ok(d.until, `${id}: a promotion says when it ends`);
        assert.ok(d.inputPerMTok >= 0 && d.outputPerMTok >= 0, id);
      }
      for (const [i, a] of spans.entries()) {
        for (const b of spans.slice(i + 1)) {
          const overlap = (a.from ?? '') < (b.until ?? '9999') && (b.from ?? '') < (a.until ?? '9999');
          assert.ok(!overlap, `${id}: spans overlap`);
        }
      }
    }
  });

  it('a call is priced by the rates of its UTC day: claude-sonnet-5-5 cache hits before and after the 2026-10-07 cut', () => {
    // 10,000 cache reads + 1,000 input + 100 output. Before the cut: 10,000 × 0.2 + 1,000 × 2 + 100 × 10 = 5,000 µ$;
    // from 2026-10-07 on: 10,000 × 0.1 + 2,000 + 1,000 = 4,000 µ$.
    const call = (at: number | string) =>
      priceCall({
        provider: 'anthropic',
        model: 'claude-sonnet-5-5-20260928',
        usage: usage({ cacheRead: 10_000, input: 1000, output: 100 }),
        context: { at },
      });
    assert.equal(call(Date.parse('2026-10-06T23:59:59Z')).costMicros, 5000);
    assert.equal(call('2026-10-06').costMicros, 5000);
    assert.equal(call(Date.parse('2026-10-07T00:00:00Z')).costMicros, 4000);
    assert.equal(call('2026-11-30').costMicros, 4000);
    // The cut changed only the cache-read rate: writes keep 1.25× / 2× input on both sides of it.
    const writes = resolvePrice('anthropic', 'claude-sonnet-5-5', {}, { at: '2026-10-01' }).base;
    assert.deepEqual([writes.cacheWrite5mPerMTok, writes.cacheWrite1hPerMTok, writes.cacheReadPerMTok], [2.5, 4, 0.2]);
  });

  describe('a promotion', () => {
    // A table of one model on a promotion (the built-in table has none today; the rules are the same for any entry).
    const table: Record<string, ModelPrice> = {
      'flash-x': {
        provider: 'gemini',
        inputPerMTok: 1.5,
        cacheReadPerMTok: 0.15,
        outputPerMTok: 7.5,
        maxOutputTokens: 65_536,
        contextWindow: 1_048_576,
        source: 'https://example.test/pricing',
        asOf: '2026-12-01',
        dated: [
          {
            until: '2027-01-01',
            promotion: true,
            inputPerMTok: 0.75,
            cacheReadPerMTok: 0.075,
            outputPerMTok: 3.75,
          },
        ],
      },
    };
    const call = (at: string) =>
      priceCall({
        provider: 'gemini',
        model: 'flash-x',
        usage: usage({ input: 100_000, cacheRead: 20_000, output: 10_000, reasoning: 2_000 }),
        context: { at, table },
      });

    it('bills at its rate until its end day, says so, and at the standard rate from that day on', () => {
      // Promotional: 100,000 × 0.75 + 20,000 × 0.075 + (10,000 + 2,000) × 3.75 = 75,000 + 1,500 + 45,000 = 121,500 µ$.
      const before = call('2026-12-31');
      assert.equal(before.costMicros, 121_500);
      assert.equal(before.promotionUntil, '2027-01-01');
      assert.equal(
        before.priceSource,
        'https://example.test/pricing (as of 2026-12-01), promotional rate until 2027-01-01',
      );
      // Standard: 100,000 × 1.5 + 20,000 × 0.15 + 12,000 × 7.5 = 150,000 + 3,000 + 90,000 = 243,000 µ$.
      const after = call('2027-01-01');
      assert.equal(after.costMicros, 243_000);
      assert.equal(after.promotionUntil, undefined);
      assert.equal(after.priceSource, 'https://example.test/pricing (as of 2026-12-01)');
    });

    it('a span finds the day it covers, and none outside it', () => {
      const entry = table['flash-x']!;
      assert.equal(spanOn(entry, '2026-06-01')?.promotion, true);
      assert.equal(spanOn(entry, '2027-01-01'), undefined);
    });
  });

  it('the engine prices each call at its own day, and the ledger keeps what it cost then', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'ab-dated-'));
    const policy = defaultPolicy();
    policy.timeZone = 'UTC';
    const clock = new ManualClock(Date.parse('2026-10-06T23:59:00Z'));
    const store = await WorkspaceStore.open({ dir: root, pollMs: 0, clock, days: policyDays(policy) });
    const engine = new BudgetEngine(store, policy, clock);
    try {
      const call = async () => {
        const a = await engine.admit({
          workflow: 'w',
          runId: null,
          taskId: null,
          task: null,
          provider: 'anthropic',
          model: 'claude-sonnet-5-5',
          inputTokens: 11_000,
          maxOutputTokens: 200,
          tokenScopes: [],
        });
        return engine.settle(a, { usage: usage({ cacheRead: 10_000, input: 1000, output: 100 }) });
      };
      const before = await call();
      clock.set(Date.parse('2026-10-07T00:01:00Z')); // the same engine, two minutes later: the next UTC day
      const after = await call();
      assert.deepEqual([before.costMicros, after.costMicros], [5000, 4000]);
      assert.deepEqual(
        [store.queries.ledgerEntry(before.id)?.costMicros, store.queries.ledgerEntry(after.id)?.costMicros],
        [5000, 4000],
      );
      assert.equal(before.priceSource, undefined, 'a table price is not marked in the ledger');
    } finally {
      engine.dispose();
      await store.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
