import assert from 'node:assert/strict';
import {
  compareEstimate,
  estimateByHeuristic,
  estimateWithTokenizer,
  loadO200kCounter,
} from '../../../src/core/providers/estimate';
import { AnthropicAdapter } from '../../../src/core/providers/anthropic';
import { READ_FILE_TOOL, user } from './helpers';

describe('input token estimates', () => {
  it('loads the o200k counter lazily from beside this module', () => {
    const count = loadO200kCounter();
    assert.equal(count('hello world'), 2);
    assert.equal(loadO200kCounter(), count, 'loaded once');
  });

  it('tokenizer: exact counts + 4 per message + 3 priming (+4 for a system prompt), then +5 %', () => {
    const calls: string[] = [];
    const counter = (text: string) => {
      calls.push(text);
      return 10;
    };
    const e = estimateWithTokenizer(
      { model: 'gpt-5', system: 'sys', messages: [user('a'), user('b')], tools: [READ_FILE_TOOL] },
      counter,
    );
    // Texts: system, "a", "b", tool name, description, schema JSON = 6 × 10 = 60;
    // overhead 2 × 4 + 3 + 4 = 15; (60 + 15) × 1.05 = 78.75 → 79.
    assert.equal(calls.length, 6);
    assert.deepEqual(e, { inputTokens: 79, method: 'tokenizer' });
  });

  it('heuristic: 1 token per 3 ASCII characters, 1 per other character, + 4 per message + 3, then +20 %', () => {
    const e = estimateByHeuristic({ model: 'x', messages: [user('abcdefghijkl'), user('日本語')] });
    // 12 / 3 = 4; 3 non-ASCII = 3; overhead 2 × 4 + 3 = 11; (4 + 3 + 11) × 1.2 = 21.6 → 22.
    assert.deepEqual(e, { inputTokens: 22, method: 'heuristic' });
  });

  it('the heuristic leans high against the real tokenizer on English and code', () => {
    const english = 'The budget engine reserves the worst case before each call and settles it afterwards. '.repeat(20);
    const code =
      'export function priceCall(args: { provider: ProviderId; model: string }) { return resolve(args); }\n'.repeat(20);
    for (const text of [english, code]) {
      const heuristic = estimateByHeuristic({ model: 'x', messages: [user(text)] }).inputTokens;
      const exact = estimateWithTokenizer({ model: 'x', messages: [user(text)] }).inputTokens;
      assert.ok(heuristic >= exact, `heuristic ${heuristic} < tokenizer ${exact}`);
    }
  });

  it('without a key, Anthropic estimates locally and says why', async () => {
    const adapter = new AnthropicAdapter({ provider: 'anthropic', apiKey: '', baseUrl: 'http://127.0.0.1:9' });
    const e = await adapter.estimateInputTokens({ model: 'claude-haiku-4-5', messages: [user('hi')] });
    assert.equal(e.method, 'heuristic');
    assert.match(e.fallbackReason ?? '', /no API key/);
  });

  it('reports the estimate error after the call against billed prompt tokens', () => {
    const usage = { input: 800, output: 50, cacheRead: 150, cacheWrite5m: 50, cacheWrite1h: 0, reasoning: 9 };
    // Actual prompt = 800 + 150 + 50 = 1000; estimate 1100 → +100 tokens, +10.0 %.
    assert.deepEqual(compareEstimate({ inputTokens: 1100, method: 'endpoint' }, usage), {
      method: 'endpoint',
      estimatedTokens: 1100,
      actualTokens: 1000,
      errorTokens: 100,
      errorPct: 10,
    });
    assert.equal(
      compareEstimate({ inputTokens: 5, method: 'heuristic' }, { ...usage, input: 0, cacheRead: 0, cacheWrite5m: 0 })
        .errorPct,
      0,
    );
  });
});
