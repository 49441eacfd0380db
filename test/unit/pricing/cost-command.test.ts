import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../support/cli';

const run = runCli;

describe('agent-budget cost', () => {
  let workspace: string;
  beforeEach(async () => {
    workspace = await mkdtemp(path.join(os.tmpdir(), 'ab-cost-'));
  });
  afterEach(() => rm(workspace, { recursive: true, force: true }));

  const cost = async (provider: string, model: string, usage: unknown, extra: string[] = []) => {
    const r = await run([
      'cost',
      '--provider',
      provider,
      '--model',
      model,
      '--usage',
      JSON.stringify(usage),
      '--workspace',
      workspace,
      '--json',
      ...extra,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    return JSON.parse(r.stdout) as {
      provider: string;
      model: string;
      costMicros: number;
      lines: Array<{ kind: string; tokens: number; micros: number }>;
      priceSource: string;
    };
  };

  it('prices an Anthropic usage object (cache writes split by TTL)', async () => {
    // claude-sonnet-4-5: input 1,000 × 3 = 3,000; read 2,000 × 0.3 = 600; 5m 1,000 × 3.75 = 3,750;
    // 1h 2,000 × 6 = 12,000; output 500 × 15 = 7,500 → 26,850 µ$.
    const out = await cost('anthropic', 'claude-sonnet-4-5-20250929', {
      input_tokens: 1000,
      output_tokens: 500,
      cache_read_input_tokens: 2000,
      cache_creation_input_tokens: 3000,
      cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
    });
    assert.equal(out.provider, 'anthropic');
    assert.equal(out.model, 'claude-sonnet-4-5-20250929');
    assert.equal(out.costMicros, 26_850);
    assert.deepEqual(out.lines, [
      { kind: 'input', tokens: 1000, micros: 3000 },
      { kind: 'cacheRead', tokens: 2000, micros: 600 },
      { kind: 'cacheWrite5m', tokens: 1000, micros: 3750 },
      { kind: 'cacheWrite1h', tokens: 2000, micros: 12_000 },
      { kind: 'output', tokens: 500, micros: 7500 },
    ]);
    assert.match(out.priceSource, /platform\.claude\.com/);
  });

  it('prices Anthropic stream events copied as {message_start: {usage}, message_delta: {usage}}', async () => {
    // claude-haiku-4-5 ($1 / $5): input 100,000 × 1 = 100,000; output 300 × 5 = 1,500 → 101,500 µ$ (not $0 input).
    const out = await cost('anthropic', 'claude-haiku-4-5', {
      message_start: { usage: { input_tokens: 100_000, output_tokens: 1 } },
      message_delta: { usage: { output_tokens: 300 } },
    });
    assert.equal(out.costMicros, 101_500);
  });

  it('prices an OpenAI Chat Completions usage object', async () => {
    // gpt-4o: prompt 3,000 incl. 1,000 cached; completion 400 → 2,000 × 2.5 = 5,000; 1,000 × 1.25 = 1,250;
    // 400 × 10 = 4,000 → 10,250 µ$.
    const out = await cost('openai', 'gpt-4o-2024-08-06', {
      prompt_tokens: 3000,
      completion_tokens: 400,
      prompt_tokens_details: { cached_tokens: 1000 },
    });
    assert.equal(out.costMicros, 10_250);
  });

  it('prices an OpenAI Responses usage object (reasoning once)', async () => {
    // o4-mini ($1.10 / $0.275 / $4.40): input 2,000 incl. 1,000 cached; output 1,000 incl. 800 reasoning →
    // 1,000 × 1.1 = 1,100; 1,000 × 0.275 = 275; 200 × 4.4 = 880; 800 × 4.4 = 3,520 → 5,775 µ$.
    const out = await cost('openai', 'o4-mini', {
      input_tokens: 2000,
      input_tokens_details: { cached_tokens: 1000 },
      output_tokens: 1000,
      output_tokens_details: { reasoning_tokens: 800 },
      total_tokens: 3000,
    });
    assert.equal(out.costMicros, 5775);
    assert.deepEqual(
      out.lines.map((l) => l.kind),
      ['input', 'cacheRead', 'output', 'reasoning'],
    );
  });

  it('prices a Gemini usageMetadata', async () => {
    // gemini-2.5-flash ($0.30 / $0.03 / $2.50): prompt 10,000 incl. 8,000 cached, candidates 500, thoughts 1,500 →
    // 2,000 × 0.3 = 600; 8,000 × 0.03 = 240; 500 × 2.5 = 1,250; 1,500 × 2.5 = 3,750 → 5,840 µ$.
    const out = await cost('gemini', 'gemini-2.5-flash', {
      promptTokenCount: 10_000,
      cachedContentTokenCount: 8000,
      candidatesTokenCount: 500,
      thoughtsTokenCount: 1500,
      totalTokenCount: 12_000,
    });
    assert.equal(out.costMicros, 5840);
  });

  it('reads --usage @file', async () => {
    const file = path.join(workspace, 'usage.json');
    await writeFile(file, JSON.stringify({ input_tokens: 1000, output_tokens: 1000 }));
    const r = await run([
      'cost',
      '--provider',
      'anthropic',
      '--model',
      'claude-haiku-4-5',
      '--usage',
      `@${file}`,
      '--workspace',
      workspace,
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    // 1,000 × 1 + 1,000 × 5 = 6,000 µ$.
    assert.equal(JSON.parse(r.stdout).costMicros, 6000);
  });

  it("applies the workspace's price overrides from .agent-budget/budget.json", async () => {
    await mkdir(path.join(workspace, '.agent-budget'));
    await writeFile(
      path.join(workspace, '.agent-budget', 'budget.json'),
      JSON.stringify({ prices: { 'llama3.1:8b': { provider: 'openai', inputPerMTok: 0.2, outputPerMTok: 0.6 } } }),
    );
    // 10,000 × 0.2 + 1,000 × 0.6 = 2,000 + 600 = 2,600 µ$.
    const out = await cost('openai', 'llama3.1:8b', { prompt_tokens: 10_000, completion_tokens: 1000 });
    assert.equal(out.costMicros, 2600);
    assert.equal(out.priceSource, '.agent-budget/budget.json prices["llama3.1:8b"]');
  });

  it('prints a small table without --json', async () => {
    const r = await run([
      'cost',
      '--provider',
      'anthropic',
      '--model',
      'claude-haiku-4-5',
      '--usage',
      '{"input_tokens":1000,"output_tokens":200}',
      '--workspace',
      workspace,
    ]);
    assert.equal(r.code, 0, r.stderr);
    // 1,000 × 1 = 1,000; 200 × 5 = 1,000 → 2,000 µ$.
    assert.match(r.stdout, /^anthropic claude-haiku-4-5: \$0\.002000/);
    assert.match(r.stdout, /input\s+1,000\s+\$0\.001000/);
    assert.match(r.stdout, /output\s+200\s+\$0\.001000/);
    assert.match(r.stdout, /total\s+1,200\s+\$0\.002000/);
    assert.match(r.stdout, /Prices: https:\/\//);
  });

  for (const [name, args, message] of [
    [
      'malformed JSON',
      ['--provider', 'openai', '--model', 'gpt-5', '--usage', '{prompt_tokens: 1'],
      /--usage is not valid JSON/,
    ],
    [
      'an unknown model',
      ['--provider', 'openai', '--model', 'gpt-99', '--usage', '{"prompt_tokens":1,"completion_tokens":1}'],
      /No price for openai model "gpt-99".*"prices" in \.agent-budget\/budget\.json/,
    ],
    [
      'a usage object of the wrong shape',
      ['--provider', 'gemini', '--model', 'gemini-2.5-flash', '--usage', '{"prompt_tokens":1}'],
      /not a gemini usage object: expected a Gemini `usageMetadata`/,
    ],
    ['an unknown provider', ['--provider', 'mistral', '--model', 'x', '--usage', '{}'], /unknown provider "mistral"/],
    [
      'a message_start without its message_delta',
      [
        '--provider',
        'anthropic',
        '--model',
        'claude-haiku-4-5',
        '--usage',
        '{"message_start":{"message":{"usage":{"input_tokens":100,"output_tokens":1}}}}',
      ],
      /not an anthropic usage object: .*needs the last message_delta/,
    ],
    [
      'a missing --usage',
      ['--provider', 'openai', '--model', 'gpt-5'],
      /--provider, --model and --usage are all required/,
    ],
    [
      'a missing @file',
      ['--provider', 'openai', '--model', 'gpt-5', '--usage', '@/nonexistent/usage.json'],
      /cannot read --usage file/,
    ],
  ] as const) {
    it(`exits 1 with a clear message for ${name}`, async () => {
      const r = await run(['cost', ...args, '--workspace', workspace, '--json']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, message);
      // With --json stdout is always one document: here the error (README, CLI section).
      const doc = JSON.parse(r.stdout) as { error: string; exitCode: number };
      assert.equal(doc.exitCode, 1);
      assert.match(doc.error, message);
    });
  }

  it('exits 1 when the policy file is invalid, naming it', async () => {
    await mkdir(path.join(workspace, '.agent-budget'));
    await writeFile(
      path.join(workspace, '.agent-budget', 'budget.json'),
      '{ "prices": { "x": { "provider": "openai" } } }',
    );
    const r = await run([
      'cost',
      '--provider',
      'openai',
      '--model',
      'gpt-5',
      '--usage',
      '{"prompt_tokens":1,"completion_tokens":1}',
      '--workspace',
      workspace,
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /budget\.json/);
  });
});

describe('agent-budget cost --date', () => {
  let workspace: string;
  beforeEach(async () => {
    workspace = await mkdtemp(path.join(os.tmpdir(), 'ab-cost-date-'));
  });
  afterEach(() => rm(workspace, { recursive: true, force: true }));

  it("prices at the rates of the day given: claude-sonnet-5-5's cache hits before and after the 2026-10-07 cut", async () => {
    const raw = JSON.stringify({ input_tokens: 1000, output_tokens: 10, cache_read_input_tokens: 10_000 });
    const cost = async (date: string) => {
      const r = await runCli([
        'cost',
        '--provider',
        'anthropic',
        '--model',
        'claude-sonnet-5-5',
        '--usage',
        raw,
        '--date',
        date,
        '--workspace',
        workspace,
        '--json',
      ]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { costMicros: number; origin: string };
    };
    // 1,000 × 2 + 10 × 10 + 10,000 × 0.2 = 4,100 µ$ before; 10,000 × 0.1 after → 3,100 µ$.
    assert.deepEqual(await cost('2026-10-06'), { ...(await cost('2026-10-06')), costMicros: 4100, origin: 'table' });
    assert.equal((await cost('2026-10-07')).costMicros, 3100);
    const bad = await runCli(['cost', '--provider', 'anthropic', '--model', 'x', '--usage', raw, '--date', 'soon']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--date must be a day as YYYY-MM-DD/);
  });
});
