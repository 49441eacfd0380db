import assert from 'node:assert/strict';
import { createProviderAdapter } from '../../../src/core/providers';
import type { ProviderErrorKind } from '../../../src/core/providers/errors';
import { startFakeProviders } from '../../fakes';
import { fastDeps, rejectsWith, request } from './helpers';

/**
 * An error event inside a stream that already delivered text: the error keeps its kind (overloaded, server…) but
 * carries the partial answer and is never retried — the user has seen the text and the provider may bill it.
 */
describe('errors inside a started stream', () => {
  let fakes: Awaited<ReturnType<typeof startFakeProviders>>;
  beforeEach(async () => {
    fakes = await startFakeProviders();
  });
  afterEach(() => fakes.close());

  const cases: Array<{
    name: string;
    provider: 'anthropic' | 'openai' | 'gemini';
    api?: 'chat' | 'responses';
    model: string;
    after: number;
    status: number;
    kind: ProviderErrorKind;
  }> = [
    // Anthropic: message_start, ping, content_block_start, 2 deltas, then `event: error` overloaded_error.
    {
      name: 'Anthropic overloaded_error event',
      provider: 'anthropic',
      model: 'claude-haiku-4-5',
      after: 5,
      status: 529,
      kind: 'overloaded',
    },
    // Chat Completions: role chunk + 2 deltas, then `data: {"error": {type: server_error}}`.
    {
      name: 'OpenAI Chat error chunk',
      provider: 'openai',
      api: 'chat',
      model: 'gpt-5',
      after: 3,
      status: 500,
      kind: 'server',
    },
    // Responses: created, in_progress, item added, part added, 2 deltas, then `event: error`.
    {
      name: 'OpenAI Responses error event',
      provider: 'openai',
      api: 'responses',
      model: 'gpt-5',
      after: 6,
      status: 500,
      kind: 'server',
    },
    // Gemini: 2 text chunks, then `data: {"error": {code: 503}}`.
    {
      name: 'Gemini error chunk',
      provider: 'gemini',
      model: 'gemini-2.5-flash',
      after: 2,
      status: 503,
      kind: 'overloaded',
    },
  ];

  for (const c of cases) {
    it(`${c.name}: kind ${c.kind}, partial kept, not retried`, async () => {
      const fake = fakes[c.provider];
      fake.enqueue(
        { text: 'abcdefghijklmnopqrstuvwxyz0123456789', errorAfterEvents: c.after, streamError: { status: c.status } },
        { text: 'second try' },
      );
      const adapter = createProviderAdapter(
        { provider: c.provider, apiKey: 'k', baseUrl: fake.baseUrl, api: c.api },
        fastDeps(),
      );
      const err = await rejectsWith(adapter.chat(request(c.model)), c.kind);
      assert.equal(err.partial?.text, 'abcdefghijklmnopqrstuvwx');
      assert.equal(err.retryable, false);
      assert.equal(fake.generationRequests.length, 1);
    });
  }
});
