import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProviderAdapter } from '../../../src/core/providers';
import { ProviderError } from '../../../src/core/providers/errors';
import type { ProviderAdapter } from '../../../src/core/providers/types';
import { startFakeProviders, type FakeReply } from '../../fakes';
import { everythingSaid, fastDeps, request, SECRET_KEY } from './helpers';

/**
 * The key must never reach an error a user sees, a log line (the cause chain), or the ledger (usageRaw), whatever
 * goes wrong — even when a misbehaving server or proxy echoes the key back in its error message.
 */
describe('API keys never leak into errors or usage', () => {
  let fakes: Awaited<ReturnType<typeof startFakeProviders>>;
  beforeEach(async () => {
    fakes = await startFakeProviders();
  });
  afterEach(() => fakes.close());

  const cases: Array<[string, FakeReply]> = [
    ['401', { type: 'error', status: 401, message: `invalid key ${SECRET_KEY}` }],
    ['400 echoing the key', { type: 'error', status: 400, message: `bad request for key=${SECRET_KEY}` }],
    ['429', { type: 'error', status: 429, message: `slow down ${SECRET_KEY}`, headers: { 'retry-after': '999' } }],
    ['500 (retried)', { type: 'error', status: 500, message: `boom ${SECRET_KEY}` }],
    ['a cut stream', { text: 'partial answer that is long enough to span chunks', cutAfterEvents: 4 }],
  ];

  for (const provider of ['anthropic', 'openai', 'gemini'] as const) {
    const model = { anthropic: 'claude-haiku-4-5', openai: 'gpt-5', gemini: 'gemini-2.5-flash' }[provider];
    const adapterFor = (baseUrl: string): ProviderAdapter =>
      createProviderAdapter({ provider, apiKey: SECRET_KEY, baseUrl, maxRetries: 1 }, fastDeps());

    for (const [name, reply] of cases) {
      it(`${provider}: ${name}`, async () => {
        const fake = fakes[provider];
        fake.enqueue(reply, reply);
        const err = await adapterFor(fake.baseUrl)
          .chat(request(model))
          .then(
            () => assert.fail('expected a failure'),
            (e: unknown) => e,
          );
        assert.ok(err instanceof ProviderError, String(err));
        assert.ok(err.cause, 'a sanitized cause is kept for logs');
        assert.ok(!everythingSaid(err).includes(SECRET_KEY), `the key leaked:\n${everythingSaid(err)}`);
        for (const logged of fake.requests)
          assert.ok(!JSON.stringify(logged).includes(SECRET_KEY), 'the fake logs no key');
        assert.ok(
          fake.requests.every((r) => r.hadApiKey),
          'the key was sent, in its header',
        );
      });
    }

    it(`${provider}: connection refused`, async () => {
      const closed = http.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const err = await adapterFor(`http://127.0.0.1:${port}/${SECRET_KEY}`)
        .chat(request(model))
        .then(
          () => assert.fail('expected a failure'),
          (e: unknown) => e,
        );
      assert.ok(err instanceof ProviderError && err.kind === 'network', String(err));
      assert.ok(!everythingSaid(err).includes(SECRET_KEY), everythingSaid(err));
    });

    it(`${provider}: a successful call keeps no key in usageRaw`, async () => {
      fakes[provider].enqueue({ text: 'fine', usage: { input: 5, output: 1 } });
      const result = await adapterFor(fakes[provider].baseUrl).chat(request(model));
      assert.ok(!JSON.stringify(result).includes(SECRET_KEY));
    });
  }
});
