import assert from 'node:assert/strict';
import { modelInfo, priceCall } from '../../../src/core/pricing/cost';
import { normalizeUsage } from '../../../src/core/providers/normalize';
import type { TokenUsage } from '../../../src/core/usage';

/**
 * The models added with their sources (prices.ts), each priced against its source's rates for every usage shape:
 * input, output, cache reads, 5-minute and 1-hour cache writes, and reasoning (billed as output). Every expected
 * value is tokens × the published $/MTok (= µ$ per token), summed, rounded once.
 */
const usage = (u: Partial<TokenUsage>): TokenUsage => ({
  input: 0,
  output: 0,
  cacheRead: 0,
  cacheWrite5m: 0,
  cacheWrite1h: 0,
  reasoning: 0,
  ...u,
});

describe('models added with their sources', () => {
  // Claude Fable 5.2 and Mythos 5.2 (platform.claude.com, what's new in Fable 5.2): $8 in, $40 out, cache hits
  // $0.20 (0.025× input), 5-minute writes $10 (1.25×), 1-hour writes $16 (2×); 1M context at one rate, 128k output.
  for (const model of ['claude-fable-5-2', 'claude-mythos-5-2']) {
    describe(model, () => {
      const price = (u: Partial<TokenUsage>) => priceCall({ provider: 'anthropic', model, usage: usage(u) });

      it('bills each kind of token at its published rate', () => {
        assert.equal(price({ input: 10_000 }).costMicros, 80_000); // × $8
        assert.equal(price({ output: 10_000 }).costMicros, 400_000); // × $40
        assert.equal(price({ cacheRead: 10_000 }).costMicros, 2_000); // × $0.20
        assert.equal(price({ cacheWrite5m: 10_000 }).costMicros, 100_000); // × $10
        assert.equal(price({ cacheWrite1h: 10_000 }).costMicros, 160_000); // × $16
        assert.equal(price({ reasoning: 10_000 }).costMicros, 400_000); // thinking bills as output, × $40
      });

      it('has no long-context tier: 900k prompt tokens bill at the same rates', () => {
        // 600,000 × 8 + 300,000 × 0.2 + 2,000 × 40 = 4,800,000 + 60,000 + 80,000 = 4,940,000 µ$.
        const p = price({ input: 600_000, cacheRead: 300_000, output: 2_000 });
        assert.equal(p.tier, 'base');
        assert.equal(p.costMicros, 4_940_000);
      });

      it('prices a raw Messages usage object, dated snapshot id included', () => {
        // input 1,200 × 8 = 9,600; read 40,000 × 0.2 = 8,000; 5m 3,000 × 10 = 30,000; 1h 1,000 × 16 = 16,000;
        // output 800 × 40 = 32,000 → 95,600 µ$.
        const raw = {
          input_tokens: 1200,
          output_tokens: 800,
          cache_read_input_tokens: 40_000,
          cache_creation_input_tokens: 4000,
          cache_creation: { ephemeral_5m_input_tokens: 3000, ephemeral_1h_input_tokens: 1000 },
        };
        const p = priceCall({
          provider: 'anthropic',
          model: `${model}-20261109`,
          usage: normalizeUsage('anthropic', raw).usage,
        });
        assert.equal(p.priceId, model);
        assert.equal(p.costMicros, 95_600);
        assert.match(
          p.priceSource,
          /^https:\/\/platform\.claude\.com\/docs\/en\/models\/fable-5-2\/.* \(as of 2026-12-03\)$/,
        );
      });

      it('clamps to 128k output in a 1M window', () => {
        assert.deepEqual([modelInfo(model).maxOutputTokens, modelInfo(model).contextWindow], [128_000, 1_000_000]);
      });
    });
  }
});
