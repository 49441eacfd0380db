import assert from 'node:assert/strict';
import { modelInfo, priceCall, UnknownModelError } from '../../../src/core/pricing/cost';
import { normalizeUsage } from '../../../src/core/providers/normalize';
import type { PriceOverride } from '../../../src/core/policy/types';
import type { TokenUsage } from '../../../src/core/usage';

/** A price of R $/MTok is R µ$ per token: every expected value below is tokens × rate, summed, rounded once. */
const usage = (u: Partial<TokenUsage>): TokenUsage => ({
  input: 0,
  output: 0,
  cacheRead: 0,
  cacheWrite5m: 0,
  cacheWrite1h: 0,
  reasoning: 0,
  ...u,
});

describe('priceCall', () => {
  it('prices input and output per token kind', () => {
    // claude-haiku-4-5 at $1 / $5: 1,000 × 1 = 1,000 µ$; 500 × 5 = 2,500 µ$ → 3,500 µ$.
    const p = priceCall({
      provider: 'anthropic',
      model: 'claude-haiku-4-5',
      usage: usage({ input: 1000, output: 500 }),
    });
    assert.equal(p.costMicros, 3500);
    assert.deepEqual(p.lines, [
      { kind: 'input', tokens: 1000, micros: 1000 },
      { kind: 'output', tokens: 500, micros: 2500 },
    ]);
    assert.equal(p.tier, 'base');
    assert.match(p.priceSource, /^https:\/\/platform\.claude\.com\/.* \(as of \d{4}-\d{2}-\d{2}\)$/);
  });

  it('bills 5-minute and 1-hour cache writes and cache reads at their own rates', () => {
    // claude-sonnet-4-5 ($3 in, $15 out, read $0.30, write 5m $3.75, write 1h $6), prompt 122,000 ≤ 200,000:
    // input 2,000 × 3 = 6,000; read 100,000 × 0.3 = 30,000; 5m 10,000 × 3.75 = 37,500; 1h 10,000 × 6 = 60,000;
    // output 1,000 × 15 = 15,000 → 148,500 µ$.
    const p = priceCall({
      provider: 'anthropic',
      model: 'claude-sonnet-4-5',
      usage: usage({ input: 2000, cacheRead: 100_000, cacheWrite5m: 10_000, cacheWrite1h: 10_000, output: 1000 }),
    });
    assert.equal(p.costMicros, 148_500);
    assert.deepEqual(
      p.lines.map((l) => [l.kind, l.micros]),
      [
        ['input', 6000],
        ['cacheRead', 30_000],
        ['cacheWrite5m', 37_500],
        ['cacheWrite1h', 60_000],
        ['output', 15_000],
      ],
    );
  });

  it('a prompt over the tier threshold bills the WHOLE call at the higher rates', () => {
    // Exactly 200,000 prompt tokens (150,000 + 50,000 cached) stays in the base tier:
    // 150,000 × 3 = 450,000; 50,000 × 0.3 = 15,000; 2,000 × 15 = 30,000 → 495,000 µ$.
    const at = priceCall({
      provider: 'anthropic',
      model: 'claude-sonnet-4-5',
      usage: usage({ input: 150_000, cacheRead: 50_000, output: 2000 }),
    });
    assert.equal(at.tier, 'base');
    assert.equal(at.costMicros, 495_000);
    // One more cached token crosses it: 150,000 × 6 = 900,000; 50,001 × 0.6 = 30,000.6;
    // output 2,000 × 22.5 = 45,000 → 975,000.6 → 975,001 µ$ (rounded once).
    const over = priceCall({
      provider: 'anthropic',
      model: 'claude-sonnet-4-5',
      usage: usage({ input: 150_000, cacheRead: 50_001, output: 2000 }),
    });
    assert.equal(over.tier, 'above');
    assert.equal(over.costMicros, 975_001);
  });

  it('Gemini 2.5 Pro above 200k prompt tokens, from a raw usageMetadata', () => {
    // promptTokenCount 250,000 incl. 50,000 cached → input 200,000, cache read 50,000; prompt 250,000 > 200,000:
    // 200,000 × 2.5 = 500,000; 50,000 × 0.25 = 12,500; candidates 1,000 × 15 = 15,000; thoughts 500 × 15 = 7,500
    // → 535,000 µ$.
    const { usage: u } = normalizeUsage('gemini', {
      promptTokenCount: 250_000,
      cachedContentTokenCount: 50_000,
      candidatesTokenCount: 1000,
      thoughtsTokenCount: 500,
    });
    const p = priceCall({ provider: 'gemini', model: 'gemini-2.5-pro', usage: u });
    assert.equal(p.tier, 'above');
    assert.equal(p.costMicros, 535_000);
  });

  it('reasoning tokens are billed once, at the output rate', () => {
    // gpt-5 ($1.25 in, $0.125 cached, $10 out) from Chat usage: prompt 1,000 incl. 200 cached; completion 500 incl.
    // 300 reasoning → input 800 × 1.25 = 1,000; cached 200 × 0.125 = 25; output 200 × 10 = 2,000;
    // reasoning 300 × 10 = 3,000 → 6,025 µ$. (Adding reasoning on top of completion_tokens would give 9,025.)
    const { usage: u } = normalizeUsage('openai', {
      prompt_tokens: 1000,
      completion_tokens: 500,
      prompt_tokens_details: { cached_tokens: 200 },
      completion_tokens_details: { reasoning_tokens: 300 },
    });
    assert.equal(priceCall({ provider: 'openai', model: 'gpt-5', usage: u }).costMicros, 6025);
  });

  it('OpenAI cache writes are billed: at the published write rate, or as input where there is no premium', () => {
    // gpt-6.2-sol ($2 in, $0.10 cached, $2.50 write, $10 out) from Responses usage: input 10,000 incl. 2,000 read and
    // 4,000 written → 4,000 × 2 = 8,000; 2,000 × 0.1 = 200; 4,000 × 2.5 = 10,000; output 1,000 × 10 = 10,000
    // → 28,200 µ$. (Writes dropped and counted as input would give 16,000 + 200 + 10,000 = 26,200.)
    const { usage: u } = normalizeUsage('openai', {
      input_tokens: 10_000,
      input_tokens_details: { cached_tokens: 2000, cache_write_tokens: 4000 },
      output_tokens: 1000,
      output_tokens_details: { reasoning_tokens: 0 },
    });
    const sol = priceCall({ provider: 'openai', model: 'gpt-6.2-sol', usage: u });
    assert.equal(sol.costMicros, 28_200);
    assert.deepEqual(
      sol.lines.find((l) => l.kind === 'cacheWrite5m'),
      { kind: 'cacheWrite5m', tokens: 4000, micros: 10_000 },
    );
    // Over 272k prompt tokens the write rate doubles with the rest: 300,000 written × 5 = 1,500,000 µ$.
    assert.equal(
      priceCall({ provider: 'openai', model: 'gpt-6.2-sol', usage: usage({ cacheWrite5m: 300_000 }) }).costMicros,
      1_500_000,
    );
    // gpt-5 has no write premium: 1,000 written × 1.25 = 1,250 µ$.
    assert.equal(
      priceCall({ provider: 'openai', model: 'gpt-5', usage: usage({ cacheWrite5m: 1000 }) }).costMicros,
      1250,
    );
  });

  it('prices gpt-4o-2024-05-13 at its own $5 / $15, not as gpt-4o', () => {
    // 1,000 × 5 + 1,000 × 15 = 20,000 µ$ (as gpt-4o: 2,500 + 10,000 = 12,500); cached input has no discount.
    const p = priceCall({
      provider: 'openai',
      model: 'gpt-4o-2024-05-13',
      usage: usage({ input: 1000, output: 1000 }),
    });
    assert.equal(p.priceId, 'gpt-4o-2024-05-13');
    assert.equal(p.costMicros, 20_000);
    assert.equal(
      priceCall({ provider: 'openai', model: 'gpt-4o-2024-05-13', usage: usage({ cacheRead: 1000 }) }).costMicros,
      5000,
    );
  });

  it('rounds once per call, not per line, and the lines still add up to the total', () => {
    // gpt-5-nano ($0.05 in, $0.005 cached, $0.40 out): 8 × 0.05 = 0.4; 80 × 0.005 = 0.4; 1 × 0.40 = 0.4 µ$.
    // Rounded per line that is 0 + 0 + 0 = $0; rounded once it is 1.2 → 1 µ$.
    const p = priceCall({
      provider: 'openai',
      model: 'gpt-5-nano',
      usage: usage({ input: 8, cacheRead: 80, output: 1 }),
    });
    assert.equal(p.costMicros, 1);
    assert.equal(
      p.lines.reduce((s, l) => s + l.micros, 0),
      1,
    );
    // Half a µ$ rounds up: 10 × 0.05 = 0.5 → 1.
    assert.equal(priceCall({ provider: 'openai', model: 'gpt-5-nano', usage: usage({ input: 10 }) }).costMicros, 1);
  });

  it('stays exact for very large calls (integer arithmetic)', () => {
    // claude-opus-4-1 output at $75: 1,000,003 × 75 = 75,000,225 µ$.
    assert.equal(
      priceCall({ provider: 'anthropic', model: 'claude-opus-4-1', usage: usage({ output: 1_000_003 }) }).costMicros,
      75_000_225,
    );
    // $0.175 × 3 tokens = 0.525 µ$ exactly (0.175 is not exact in binary floating point).
    assert.equal(priceCall({ provider: 'openai', model: 'gpt-5.2', usage: usage({ cacheRead: 3 }) }).costMicros, 1);
  });

  it('matches dated snapshots and aliases to their base entry, longest prefix first', () => {
    const id = (provider: 'anthropic' | 'openai' | 'gemini', model: string) =>
      priceCall({ provider, model, usage: usage({ input: 1 }) }).priceId;
    assert.equal(id('anthropic', 'claude-sonnet-4-5-20250929'), 'claude-sonnet-4-5');
    assert.equal(id('anthropic', 'claude-haiku-4-5@20251001'), 'claude-haiku-4-5');
    assert.equal(id('anthropic', 'claude-opus-4-20250514'), 'claude-opus-4-0');
    assert.equal(id('anthropic', 'claude-3-5-haiku-latest'), 'claude-3-5-haiku');
    assert.equal(id('openai', 'gpt-4o-2024-08-06'), 'gpt-4o');
    assert.equal(id('openai', 'gpt-4o-mini-2024-07-18'), 'gpt-4o-mini');
    assert.equal(id('openai', 'gpt-4.1-mini-2025-04-14'), 'gpt-4.1-mini');
    assert.equal(id('gemini', 'gemini-2.5-flash-lite-preview-06-17'), 'gemini-2.5-flash-lite');
    assert.equal(id('gemini', 'Gemini-2.5-Pro'), 'gemini-2.5-pro');
    // Gemini's own listing form.
    assert.equal(id('gemini', 'models/gemini-2.5-flash'), 'gemini-2.5-flash');
    assert.equal(modelInfo('models/gemini-2.5-pro').priceId, 'gemini-2.5-pro');
  });

  it('snapshots billed at other rates, and moving aliases, are unknown with the reason — not priced as a look-alike', () => {
    for (const model of ['gemini-2.5-flash-preview-05-20', 'gemini-2.5-flash-preview-04-17']) {
      assert.throws(
        () => priceCall({ provider: 'gemini', model, usage: usage({ input: 1 }) }),
        (e: unknown) => e instanceof UnknownModelError && /preview rates/.test(e.message),
        model,
      );
    }
    for (const model of ['gemini-flash-latest', 'gemini-pro-latest', 'models/gemini-flash-lite-latest']) {
      assert.throws(
        () => priceCall({ provider: 'gemini', model, usage: usage({ input: 1 }) }),
        (e: unknown) =>
          e instanceof UnknownModelError && /moves this alias/.test(e.message) && /"prices"/.test(e.message),
        model,
      );
    }
    // An exact workspace entry still prices such a snapshot.
    const exact = priceCall({
      provider: 'gemini',
      model: 'gemini-2.5-flash-preview-05-20',
      usage: usage({ input: 1000 }),
      overrides: { 'gemini-2.5-flash-preview-05-20': { provider: 'gemini', inputPerMTok: 0.15, outputPerMTok: 3.5 } },
    });
    assert.equal(exact.costMicros, 150);
  });

  it('never prices an unknown model at $0: UnknownModelError says how to add a price', () => {
    for (const [provider, model] of [
      ['anthropic', 'claude-opus-4-9'], // must not bill as claude-opus-4
      ['openai', 'llama3.1:8b'], // on a hosted endpoint: not a local model
    ] as const) {
      assert.throws(
        () => priceCall({ provider, model, usage: usage({ input: 1 }) }),
        (e: unknown) =>
          e instanceof UnknownModelError &&
          e.message.includes(`"${model}"`) &&
          e.message.includes('"prices" in .agent-budget/budget.json'),
      );
    }
    assert.throws(
      () => priceCall({ provider: 'openai', model: 'claude-haiku-4-5', usage: usage({}) }),
      /priced for anthropic, not openai/,
    );
    // gpt-5-pro is a different, far dearer model: never billed as gpt-5 (the second source has its own price).
    const pro = priceCall({ provider: 'openai', model: 'gpt-5-pro', usage: usage({ input: 1000, output: 1000 }) });
    const base = priceCall({ provider: 'openai', model: 'gpt-5', usage: usage({ input: 1000, output: 1000 }) });
    assert.equal(pro.priceId, 'gpt-5-pro');
    assert.equal(pro.origin, 'genai-prices');
    assert.ok(pro.costMicros > base.costMicros * 10, `${pro.costMicros} vs gpt-5's ${base.costMicros}`);
  });

  describe('workspace overrides (prices in budget.json)', () => {
    it('replace a built-in; omitted Anthropic cache rates default to 0.1× / 1.25× / 2× input', () => {
      const overrides: Record<string, PriceOverride> = {
        'claude-haiku-4-5': { provider: 'anthropic', inputPerMTok: 2, outputPerMTok: 10 },
      };
      // input 1,000 × 2 = 2,000; read 1,000 × 0.2 = 200; 5m 1,000 × 2.5 = 2,500; 1h 1,000 × 4 = 4,000;
      // output 100 × 10 = 1,000 → 9,700 µ$ (the built-in would give 1,000 + 100 + 1,250 + 2,000 + 500 = 4,850).
      const p = priceCall({
        provider: 'anthropic',
        model: 'claude-haiku-4-5-20251001',
        usage: usage({ input: 1000, cacheRead: 1000, cacheWrite5m: 1000, cacheWrite1h: 1000, output: 100 }),
        overrides,
      });
      assert.equal(p.costMicros, 9700);
      assert.equal(p.priceSource, '.agent-budget/budget.json prices["claude-haiku-4-5"]');
    });

    it('replacing an OpenAI built-in keeps its cache discount ratio; a new local model gets none', () => {
      // gpt-4o override $5 in / $20 out; built-in ratio cached/input = 1.25 / 2.5 = 0.5 → cached $2.5:
      // 1,000 × 5 = 5,000; 1,000 × 2.5 = 2,500; 100 × 20 = 2,000 → 9,500 µ$.
      const replaced = priceCall({
        provider: 'openai',
        model: 'gpt-4o',
        usage: usage({ input: 1000, cacheRead: 1000, output: 100 }),
        overrides: { 'gpt-4o': { provider: 'openai', inputPerMTok: 5, outputPerMTok: 20 } },
      });
      assert.equal(replaced.costMicros, 9500);
      // A local model at $0.10 / $0.20, cache reads at the full input rate: (1,000 + 1,000) × 0.1 + 100 × 0.2 = 220 µ$.
      const local = priceCall({
        provider: 'openai',
        model: 'llama3.1:8b',
        usage: usage({ input: 1000, cacheRead: 1000, output: 100 }),
        overrides: { 'llama3.1:8b': { provider: 'openai', inputPerMTok: 0.1, outputPerMTok: 0.2 } },
      });
      assert.equal(local.costMicros, 220);
    });

    it('an OpenAI cache write with no write rate given costs what OpenAI bills, never $0', () => {
      // A model the table does not know (gpt-6.1-sol at $2 / $10): writes at 1.25× input → 1,000 × 2.5 = 2,500 µ$.
      const added = priceCall({
        provider: 'openai',
        model: 'gpt-6.1-sol',
        usage: usage({ cacheWrite5m: 1000 }),
        overrides: { 'gpt-6.1-sol': { provider: 'openai', inputPerMTok: 2, outputPerMTok: 10 } },
      });
      assert.equal(added.costMicros, 2500);
      // Replacing a built-in keeps its write ratio: gpt-6.2-sol at $4 in → 1.25 × 4 = $5 → 5,000 µ$; gpt-5 at $4 in
      // (no write premium) → 4,000 µ$.
      const replace = (model: string) =>
        priceCall({
          provider: 'openai',
          model,
          usage: usage({ cacheWrite5m: 1000 }),
          overrides: { [model]: { provider: 'openai', inputPerMTok: 4, outputPerMTok: 10 } },
        }).costMicros;
      assert.equal(replace('gpt-6.2-sol'), 5000);
      assert.equal(replace('gpt-5'), 4000);
    });

    it("the docs/policy.md example's above tier applies to an added model", () => {
      const overrides: Record<string, PriceOverride> = {
        'my-model': {
          provider: 'anthropic',
          inputPerMTok: 3,
          outputPerMTok: 15,
          cacheReadPerMTok: 0.3,
          cacheWrite5mPerMTok: 3.75,
          cacheWrite1hPerMTok: 6,
          above: {
            tokens: 200_000,
            inputPerMTok: 6,
            outputPerMTok: 22.5,
            cacheReadPerMTok: 0.6,
            cacheWrite5mPerMTok: 7.5,
            cacheWrite1hPerMTok: 12,
          },
        },
      };
      // 190,000 input + 20,000 1h writes = 210,000 > 200,000: 190,000 × 6 = 1,140,000; 20,000 × 12 = 240,000;
      // 1,000 × 22.5 = 22,500 → 1,402,500 µ$.
      const p = priceCall({
        provider: 'anthropic',
        model: 'my-model',
        usage: usage({ input: 190_000, cacheWrite1h: 20_000, output: 1000 }),
        overrides,
      });
      assert.equal(p.tier, 'above');
      assert.equal(p.costMicros, 1_402_500);
    });
  });
});

describe('modelInfo', () => {
  it('gives max output and context window, from an override or the built-in of the same id', () => {
    assert.deepEqual(modelInfo('claude-sonnet-4-5-20250929'), {
      priceId: 'claude-sonnet-4-5',
      provider: 'anthropic',
      maxOutputTokens: 64_000,
      contextWindow: 200_000,
    });
    const over = modelInfo('gpt-4o', { 'gpt-4o': { provider: 'openai', inputPerMTok: 1, outputPerMTok: 1 } }, 'openai');
    assert.equal(over.maxOutputTokens, 16_384);
    const local = modelInfo('qwen', {
      qwen: { provider: 'openai', inputPerMTok: 0, outputPerMTok: 0, maxOutputTokens: 4096 },
    });
    assert.equal(local.maxOutputTokens, 4096);
    assert.equal(local.contextWindow, undefined);
    assert.throws(() => modelInfo('nope'), UnknownModelError);
  });
});
