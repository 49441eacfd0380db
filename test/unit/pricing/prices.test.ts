import assert from 'node:assert/strict';
import { isSnapshotOf } from '../../../src/core/pricing/match';
import { BUILT_IN_PRICES } from '../../../src/core/pricing/prices';

describe('the price table', () => {
  const entries = Object.entries(BUILT_IN_PRICES);

  it('covers the models the product routes to by default', () => {
    for (const id of [
      'claude-haiku-4-5',
      'claude-sonnet-4-5',
      'claude-opus-4-1',
      'claude-sonnet-5-5',
      'claude-opus-5-5',
      'claude-haiku-5-5',
      'gpt-5',
      'gpt-5-mini',
      'gpt-4.1',
      'gpt-4o',
      'gpt-4o-mini',
      'o3',
      'o4-mini',
      'gemini-2.5-pro',
      'gemini-2.5-flash',
      'gemini-2.5-flash-lite',
    ]) {
      assert.ok(BUILT_IN_PRICES[id], `${id} is missing`);
    }
  });

  it('every entry names its source and date and has sane limits', () => {
    for (const [id, p] of entries) {
      assert.match(p.source, /^https:\/\//, id);
      assert.match(p.asOf, /^\d{4}-\d{2}-\d{2}$/, id);
      assert.ok(p.inputPerMTok > 0 && p.outputPerMTok > 0, id);
      assert.ok(Number.isInteger(p.maxOutputTokens) && p.maxOutputTokens > 0, id);
      assert.ok(p.contextWindow > p.maxOutputTokens, id);
      assert.ok(
        p.cacheReadPerMTok !== undefined && p.cacheReadPerMTok <= p.inputPerMTok,
        `${id}: cache reads never cost more than input`,
      );
      if (p.provider === 'openai')
        assert.ok(
          p.cacheWrite5mPerMTok! >= p.inputPerMTok,
          `${id}: a reported cache write is never cheaper than input`,
        );
      if (p.provider === 'anthropic') {
        assert.ok(
          p.cacheWrite5mPerMTok! > p.inputPerMTok && p.cacheWrite1hPerMTok! > p.cacheWrite5mPerMTok!,
          `${id}: writes cost more`,
        );
      }
      if (p.above) {
        assert.ok(
          p.above.tokens > 0 && p.above.inputPerMTok > p.inputPerMTok && p.above.outputPerMTok > p.outputPerMTok,
          id,
        );
      }
    }
  });

  it('uses the published rates for the headline models', () => {
    const rates = (id: string) => {
      const p = BUILT_IN_PRICES[id]!;
      return [p.inputPerMTok, p.outputPerMTok, p.cacheReadPerMTok, p.cacheWrite5mPerMTok, p.cacheWrite1hPerMTok];
    };
    assert.deepEqual(rates('claude-sonnet-4-5'), [3, 15, 0.3, 3.75, 6]);
    assert.deepEqual(rates('claude-haiku-4-5'), [1, 5, 0.1, 1.25, 2]);
    assert.deepEqual(rates('claude-opus-4-1'), [15, 75, 1.5, 18.75, 30]);
    assert.deepEqual(rates('claude-opus-5-5'), [4, 20, 0.2, 5, 8]);
    // OpenAI: no write premium before GPT-5.6 (a write is input); GPT-6.2 Sol's page gives $2.50.
    assert.deepEqual(rates('gpt-5'), [1.25, 10, 0.125, 1.25, undefined]);
    assert.deepEqual(rates('gpt-4o'), [2.5, 10, 1.25, 2.5, undefined]);
    assert.deepEqual(rates('gpt-6.2-sol'), [2, 10, 0.1, 2.5, undefined]);
    assert.deepEqual(rates('gpt-4o-2024-05-13'), [5, 15, 5, 5, undefined]);
    assert.deepEqual(rates('gemini-2.5-pro'), [1.25, 10, 0.125, undefined, undefined]);
    assert.deepEqual(BUILT_IN_PRICES['gemini-2.5-pro']!.above, {
      tokens: 200_000,
      inputPerMTok: 2.5,
      cacheReadPerMTok: 0.25,
      outputPerMTok: 15,
    });
  });

  it('snapshot suffixes are dates, -latest, -v1:0 or a revision — never another model name', () => {
    assert.ok(isSnapshotOf('gpt-4o-2024-08-06', 'gpt-4o'));
    assert.ok(isSnapshotOf('claude-sonnet-4-5-20250929', 'claude-sonnet-4-5'));
    assert.ok(isSnapshotOf('claude-3-5-haiku-latest', 'claude-3-5-haiku'));
    assert.ok(isSnapshotOf('gemini-1.5-pro-001', 'gemini-1.5-pro'));
    assert.ok(isSnapshotOf('claude-haiku-4-5-20251001-v1:0', 'claude-haiku-4-5'));
    assert.ok(!isSnapshotOf('gpt-4o-mini', 'gpt-4o'));
    assert.ok(!isSnapshotOf('gpt-5-pro', 'gpt-5'));
    assert.ok(!isSnapshotOf('claude-sonnet-4-5', 'claude-sonnet-4'));
    assert.ok(!isSnapshotOf('o3-mini', 'o3'));
  });
});
