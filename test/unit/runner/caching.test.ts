// Prompt caching by default (policy `caching`): where the runner puts the breakpoints, what it asks OpenAI for, and
// what a run then pays against the fakes that bill caching as the providers do.
import assert from 'node:assert/strict';
import { promptCacheFor, type CacheContext } from '../../../src/core/runner/caching';
import { cacheSavings, modelProviderSpend } from '../../../src/core/report/cacheSavings';
import { renderReportMarkdown } from '../../../src/core/report/render';
import { buildReport, currentMonth } from '../../../src/core/report/report';
import type { ChatRequest } from '../../../src/core/providers/types';
import { startFakeAnthropic, startFakeOpenAI } from '../../fakes';
import { fakeAccess, ledgerOf, openRunner, tempWorkspace, writePolicy } from './helpers';
import { prose } from '../../support/prose';

const ctx = (over: Partial<CacheContext> = {}): CacheContext => ({
  caching: 'auto',
  provider: 'anthropic',
  model: 'claude-sonnet-5',
  key: 'agent-budget:wf:run1',
  loop: false,
  contextPart: false,
  localEndpoint: false,
  tokens: (text) => Math.ceil(text.length / 4),
  ...over,
});

const conversation = (contextTokens: number, turns: number): Omit<ChatRequest, 'maxOutputTokens'> => {
  const messages: ChatRequest['messages'] = [
    {
      role: 'user',
      content: [
        { type: 'text', text: prose(contextTokens, 'c') },
        { type: 'text', text: 'Do the task.' },
      ],
    },
  ];
  for (let i = 0; i < turns; i++) {
    messages.push({
      role: 'assistant',
      content: [{ type: 'toolCall', id: `t${i}`, name: 'readFile', input: { path: 'a' } }],
    });
    messages.push({
      role: 'user',
      content: [{ type: 'toolResult', callId: `t${i}`, name: 'readFile', content: prose(300, `r${i}`) }],
    });
  }
  return { model: 'claude-sonnet-5', system: prose(1_200, 's'), messages };
};

describe('prompt caching: where the runner asks for it', () => {
  it('Anthropic: after the system prompt, after the context block, and after the conversation so far in a loop', () => {
    const plan = promptCacheFor(conversation(2_000, 3), ctx({ loop: true, contextPart: true }));
    assert.deepEqual(plan.cache, {
      ttl: '5m',
      breakpoints: [{ after: 'system' }, { after: 'message', index: 0, part: 0 }, { after: 'message', index: 6 }],
    });
    assert.equal(plan.promptCaching, '5m', 'the reservation prices the prompt at the write rate');
    // A single call marks only the stable prefix: its own prompt is rarely sent again.
    assert.deepEqual(promptCacheFor(conversation(2_000, 0), ctx({ contextPart: true })).cache?.breakpoints, [
      { after: 'system' },
      { after: 'message', index: 0, part: 0 },
    ]);
    assert.equal(promptCacheFor(conversation(2_000, 3), ctx({ caching: '1h', loop: true })).cache?.ttl, '1h');
  });

  it('only above the model’s minimum: a short prefix gets no breakpoint, and the reservation then prices input', () => {
    // claude-haiku-4-5 caches from 4,096 tokens: system 1,200 + context 2,000 is below it, the whole loop above.
    const plan = promptCacheFor(conversation(2_000, 0), ctx({ model: 'claude-haiku-4-5', contextPart: true }));
    assert.deepEqual(plan, { promptCaching: 'none' });
    const loop = promptCacheFor(
      conversation(2_000, 8),
      ctx({ model: 'claude-haiku-4-5', loop: true, contextPart: true }),
    );
    assert.deepEqual(loop.cache?.breakpoints, [{ after: 'message', index: 16 }]);
  });

  it('off asks for nothing; OpenAI gets the run’s cache key (never a local server); Gemini needs only the layout', () => {
    assert.deepEqual(promptCacheFor(conversation(2_000, 3), ctx({ caching: 'off', loop: true })), {
      promptCaching: 'none',
    });
    assert.deepEqual(promptCacheFor(conversation(2_000, 3), ctx({ provider: 'openai', model: 'gpt-4.1-mini' })), {
      cache: { ttl: '5m', breakpoints: [], key: 'agent-budget:wf:run1' },
      promptCaching: 'none',
    });
    assert.deepEqual(promptCacheFor(conversation(2_000, 3), ctx({ provider: 'openai', localEndpoint: true })), {
      promptCaching: 'none',
    });
    assert.deepEqual(promptCacheFor(conversation(2_000, 3), ctx({ provider: 'gemini' })), { promptCaching: 'none' });
  });
});

describe('prompt caching: what runs pay', function () {
  this.timeout(30_000);

  const LOOP_WORKFLOW = {
    id: 'dig',
    title: 'Dig',
    model: 'claude-sonnet-5',
    system: prose(1_200, 'sys'),
    steps: [
      { id: 'dig', prompt: 'Read the files one by one, then answer.', tools: ['readFile'], maxOutputTokens: 300 },
    ],
  };
  const FILES = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`src/f${i}.ts`, prose(1_500, `file${i}`)]));

  async function runLoop(caching: 'auto' | 'off') {
    // Each of the six turns reads a 1,500-token file: the conversation re-sent each turn grows by it.
    const fake = await startFakeAnthropic();
    const ws = tempWorkspace({ ...FILES, '.agent-budget/workflows/dig.json': LOOP_WORKFLOW });
    writePolicy(ws.folder, { caching, limits: { task: { hardTokens: 2_000_000 }, workspace: { dailyUsd: 100 } } });
    for (let i = 0; i < 6; i++)
      fake.enqueue({ toolCalls: [{ name: 'readFile', input: { path: `src/f${i}.ts` } }], usage: { output: 30 } });
    fake.enqueue({ text: 'Done: six files read.', usage: { output: 20 } });
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const outcome = await runner.start('dig', {});
      assert.equal(outcome.status, 'completed', outcome.error);
      const rows = ledgerOf(workspace, outcome.runId);
      const bodies = fake.generationRequests.map((r) => JSON.stringify(r.body));
      const savings = cacheSavings(
        modelProviderSpend(workspace.store.queries, { fromDay: '2000-01-01', toDay: '2999-12-31' }),
        workspace.engine.currentPolicy,
      );
      const report = renderReportMarkdown(
        buildReport(
          { store: workspace.store, policy: workspace.engine.currentPolicy, folder: ws.folder },
          { month: currentMonth(workspace.engine.currentPolicy) },
        ),
      );
      return { outcome, rows, bodies, savings, report };
    } finally {
      await close();
      await fake.close();
      ws.cleanup();
    }
  }

  it('an agent loop reads its conversation back from the cache each turn, and costs less than with caching off', async () => {
    const cached = await runLoop('auto');
    const plain = await runLoop('off');
    assert.equal(cached.rows.length, 7);
    assert.equal(cached.rows[0]!.usage.cacheRead, 0);
    for (const row of cached.rows.slice(1))
      assert.ok(row.usage.cacheRead > 0, `turn ${cached.rows.indexOf(row) + 1} read from the cache`);
    assert.ok(cached.rows.every((r) => r.usage.cacheWrite1h === 0));
    assert.match(cached.bodies[0]!, /"cache_control":\{"type":"ephemeral"\}/);
    assert.ok(
      plain.bodies.every((b) => !b.includes('cache_control')),
      'caching off sends no breakpoint',
    );
    assert.ok(plain.rows.every((r) => r.usage.cacheRead === 0 && r.usage.cacheWrite5m === 0));
    // Same work: the same calls with the same answers; the prompts bill the same tokens in total.
    const prompt = (rows: typeof cached.rows) =>
      rows.map((r) => r.usage.input + r.usage.cacheRead + r.usage.cacheWrite5m + r.usage.cacheWrite1h);
    assert.deepEqual(prompt(cached.rows), prompt(plain.rows));
    assert.ok(
      cached.outcome.costMicros < plain.outcome.costMicros * 0.6,
      `cached ${cached.outcome.costMicros} µ$ vs ${plain.outcome.costMicros} µ$`,
    );
    // Every write was held at the write rate: no call settled above its reservation.
    for (const row of cached.rows)
      assert.ok(row.costMicros <= row.reservedMicros!, `${row.costMicros} ≤ ${row.reservedMicros}`);
    assert.ok(cached.savings.savedMicros > 0 && cached.savings.netMicros > 0, 'the cache-savings figure is real');
    // The monthly report says so from the same ledger; with caching off it has no savings to show.
    assert.match(cached.report, /Prompt caching saved \*\*\$0\.\d+\*\* against the uncached input rate/);
    assert.doesNotMatch(plain.report, /Prompt caching saved/);
    assert.equal(plain.savings.savedMicros, 0);
  });

  it('running a review twice on the same file reads the file back from the cache the second time', async () => {
    const fake = await startFakeAnthropic();
    const ws = tempWorkspace({ 'src/big.ts': prose(3_000, 'code') });
    writePolicy(ws.folder, { workflows: { 'code-review': { model: 'claude-sonnet-5' } } });
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ anthropic: fake.baseUrl }));
    try {
      const first = await runner.start('code-review', { file: 'src/big.ts' });
      const second = await runner.start('code-review', { file: 'src/big.ts' });
      assert.equal(second.status, 'completed', second.error);
      const [a] = ledgerOf(workspace, first.runId);
      const [b] = ledgerOf(workspace, second.runId);
      assert.equal(a!.usage.cacheRead, 0);
      assert.ok(a!.usage.cacheWrite5m > 3_000, 'the file was written');
      assert.equal(b!.usage.cacheRead, a!.usage.cacheWrite5m, 'and read back');
      assert.ok(second.costMicros < first.costMicros);
    } finally {
      await close();
      await fake.close();
      ws.cleanup();
    }
  });

  it('OpenAI calls of one run share its prompt_cache_key, and caching off sends none', async () => {
    const fake = await startFakeOpenAI();
    const ws = tempWorkspace({ 'src/a.ts': prose(2_500, 'x') });
    writePolicy(ws.folder, { workflows: { 'test-gen': { model: 'gpt-4.1-mini' } } });
    const { runner, workspace, close } = await openRunner(ws.folder, fakeAccess({ openai: fake.baseUrl }));
    try {
      const run = await runner.start('test-gen', { file: 'src/a.ts' });
      assert.equal(run.status, 'completed', run.error);
      const keys = fake.generationRequests.map((r) => (r.body as { prompt_cache_key?: string }).prompt_cache_key);
      assert.deepEqual(keys, [`agent-budget:test-gen:${run.runId}`, `agent-budget:test-gen:${run.runId}`]);
      // The tests step starts with the same system prompt and file as the cases step: read from OpenAI's cache.
      const [, tests] = ledgerOf(workspace, run.runId);
      assert.ok(tests!.usage.cacheRead >= 1_024, `read ${tests!.usage.cacheRead}`);
      writePolicy(ws.folder, { caching: 'off', workflows: { 'test-gen': { model: 'gpt-4.1-mini' } } });
      await workspace.reloadPolicy();
      fake.reset();
      await runner.start('test-gen', { file: 'src/a.ts' });
      assert.ok(fake.generationRequests.every((r) => !('prompt_cache_key' in (r.body as object))));
    } finally {
      await close();
      await fake.close();
      ws.cleanup();
    }
  });
});
