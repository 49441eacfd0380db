import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { BudgetEngine, policyDays } from '../../../src/core/budget/engine';
import { ManualClock } from '../../../src/core/clock';
import { defaultPolicy } from '../../../src/core/policy/load';
import { WorkspaceStore } from '../../../src/core/store/store';
import { priceCall, resolvePrice, UnknownModelError } from '../../../src/core/pricing/cost';
import { BUILT_IN_PRICES } from '../../../src/core/pricing/prices';
import { GENAI_PRICES_VERSION } from '../../../src/core/pricing/secondSource';
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

describe('the second source (@pydantic/genai-prices)', () => {
  it('prices a model the table lacks, marked as such', () => {
    // genai-prices lists gpt-4-turbo at $10 in / $30 out with no cache discount (cache reads at the input rate):
    // 1,000 × 10 + 500 × 30 = 25,000 µ$.
    const p = priceCall({ provider: 'openai', model: 'gpt-4-turbo', usage: usage({ input: 1000, output: 500 }) });
    assert.equal(p.costMicros, 25_000);
    assert.equal(p.origin, 'genai-prices');
    assert.equal(p.priceSource, `genai-prices ${GENAI_PRICES_VERSION} (data of 2026-09-23): openai "gpt-4-turbo"`);
  });

  it('never overrides a built-in: every table model is priced by the table, even where the second source has it', () => {
    for (const [id, entry] of Object.entries(BUILT_IN_PRICES)) {
      const price = resolvePrice(entry.provider, id, {}, { at: '2026-12-03' });
      assert.equal(price.origin, 'table', id);
      assert.equal(price.priceId, id);
    }
    // claude-sonnet-5-5: the second source would take it for claude-sonnet-5 and miss the 2026-10-07 cache cut.
    assert.equal(resolvePrice('anthropic', 'claude-sonnet-5-5-20260928').base.cacheReadPerMTok, 0.1);
  });

  it('never prices an id the table refuses on purpose, nor one the table gives another provider', () => {
    for (const model of ['gemini-flash-latest', 'gemini-2.5-flash-preview-05-20']) {
      assert.throws(() => resolvePrice('gemini', model), UnknownModelError, model);
    }
    assert.throws(() => resolvePrice('openai', 'claude-haiku-4-5'), /priced for anthropic, not openai/);
  });

  it('keeps the whole-call long-prompt rule: its tiers become an `above` tier', () => {
    // gemini-1.5-pro: $1.25 / $5, over 128k prompt tokens $2.50 / $10 for the whole call.
    const below = priceCall({
      provider: 'gemini',
      model: 'gemini-1.5-pro',
      usage: usage({ input: 128_000, output: 1000 }),
    });
    const above = priceCall({
      provider: 'gemini',
      model: 'gemini-1.5-pro',
      usage: usage({ input: 128_001, output: 1000 }),
    });
    assert.deepEqual([below.tier, below.costMicros], ['base', 128_000 * 1.25 + 1000 * 5]);
    assert.deepEqual([above.tier, above.costMicros], ['above', Math.round(128_001 * 2.5 + 1000 * 10)]);
  });

  it('carries its dated prices: Gemini 3.6 Flash at the introductory rate until 2027-01-01, doubled from then', () => {
    // 100,000 in + 10,000 cache reads + 20,000 out: 100,000 × 0.75 + 10,000 × 0.075 + 20,000 × 3.75 = 150,750 µ$;
    // from 2027-01-01: 100,000 × 1.5 + 10,000 × 0.15 + 20,000 × 7.5 = 301,500 µ$.
    const call = (at: string) =>
      priceCall({
        provider: 'gemini',
        model: 'gemini-3.6-flash',
        usage: usage({ input: 100_000, cacheRead: 10_000, output: 20_000 }),
        context: { at },
      });
    assert.equal(call('2026-12-31').costMicros, 150_750);
    assert.equal(call('2027-01-01').costMicros, 301_500);
    assert.equal(call('2026-12-31').origin, 'genai-prices');
  });

  it('marks the ledger row of a call it priced (and of one budget.json priced), never one the table priced', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'ab-second-'));
    const policy = defaultPolicy();
    policy.prices = { 'my-model': { provider: 'openai', inputPerMTok: 1, outputPerMTok: 2 } };
    const clock = new ManualClock(Date.parse('2026-12-03T12:00:00Z'));
    const store = await WorkspaceStore.open({ dir: root, pollMs: 0, clock, days: policyDays(policy) });
    const engine = new BudgetEngine(store, policy, clock);
    try {
      const call = async (model: string) => {
        const a = await engine.admit({
          workflow: 'w',
          runId: null,
          taskId: null,
          task: null,
          provider: 'openai',
          model,
          inputTokens: 1000,
          maxOutputTokens: 100,
          tokenScopes: [],
        });
        const entry = await engine.settle(a, { usage: usage({ input: 1000, output: 100 }) });
        return store.queries.ledgerEntry(entry.id)!;
      };
      const second = await call('gpt-4-turbo');
      assert.deepEqual([second.priceSource, second.costMicros], ['genai-prices', 10_000 + 3000]);
      assert.equal((await call('my-model')).priceSource, 'policy');
      assert.equal((await call('gpt-5')).priceSource, undefined);
    } finally {
      engine.dispose();
      await store.close();
      await rm(root, { recursive: true, force: true });
    }
  });

  it('is the version package.json pins and node_modules holds (the data date in priceSource is that release)', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> };
    const installed = JSON.parse(
      readFileSync(path.join('node_modules', '@pydantic', 'genai-prices', 'package.json'), 'utf8'),
    ) as { version: string };
    assert.equal(pkg.dependencies['@pydantic/genai-prices'], GENAI_PRICES_VERSION);
    assert.equal(installed.version, GENAI_PRICES_VERSION);
  });

  it('stays out of the extension and CLI bundles: it is its own file, required only when used', async function () {
    this.timeout(60_000);
    for (const entry of ['src/vscode/extension.ts', 'src/cli/main.ts']) {
      const result = await esbuild.build({
        entryPoints: [entry],
        bundle: true,
        platform: 'node',
        format: 'cjs',
        target: 'node20',
        external: ['vscode'],
        write: false,
        metafile: true,
        logLevel: 'silent',
      });
      const inputs = Object.keys(result.metafile.inputs);
      assert.ok(!inputs.some((i) => i.includes('@pydantic/genai-prices')), `${entry} bundles genai-prices`);
      assert.ok(
        inputs.some((i) => i.endsWith('src/core/pricing/secondSource.ts')),
        `${entry} has the loader`,
      );
    }
  });
});
