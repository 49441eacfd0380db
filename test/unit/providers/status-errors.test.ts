import assert from 'node:assert/strict';
import { createProviderAdapter } from '../../../src/core/providers';
import { PROVIDER_NAMES } from '../../../src/core/providers/errors';
import { startFakeProviders } from '../../fakes';
import { API_TARGETS, fastDeps, rejectsWith, request } from './helpers';

/**
 * HTTP errors every adapter reads the same way, through the real SDKs: a gateway timeout (504, Gemini
 * DEADLINE_EXCEEDED, Anthropic timeout_error) and a 408 are the server giving up, retried with backoff like other
 * 5xx; a 403 is a key without permission, never retried; and no message claims a retry that did not happen.
 */
describe('HTTP status errors across providers', () => {
  let fakes: Awaited<ReturnType<typeof startFakeProviders>>;
  beforeEach(async () => {
    fakes = await startFakeProviders();
  });
  afterEach(() => fakes.close());

  for (const t of API_TARGETS) {
    const setup = (maxRetries?: number) => {
      const deps = fastDeps();
      const fake = fakes[t.provider];
      const adapter = createProviderAdapter(
        {
          provider: t.provider,
          apiKey: 'k',
          baseUrl: fake.baseUrl,
          ...('api' in t ? { api: t.api } : {}),
          ...(maxRetries !== undefined ? { maxRetries } : {}),
        },
        deps,
      );
      return { deps, fake, adapter };
    };
    const name = PROVIDER_NAMES[t.provider];

    it(`${t.name}: a 504 gateway timeout is retried with backoff, then the call succeeds`, async () => {
      const { deps, fake, adapter } = setup();
      fake.enqueue({ type: 'error', status: 504 }, { text: 'done' });
      const result = await adapter.chat(request(t.model, { stream: false }));
      assert.equal(result.text, 'done');
      assert.equal(fake.generationRequests.length, 2);
      assert.deepEqual(deps.sleeps, [375], 'the first backoff step (500 ms, jitter at its midpoint)');
    });

    it(`${t.name}: repeated 504s end as a server error that says a gateway timed out`, async () => {
      const { deps, fake, adapter } = setup();
      fake.enqueue(...Array.from({ length: 4 }, () => ({ type: 'error' as const, status: 504 })));
      const err = await rejectsWith(adapter.chat(request(t.model)), 'server');
      assert.equal(err.status, 504);
      assert.equal(fake.generationRequests.length, 4, 'first try + 3 retries');
      assert.deepEqual(deps.sleeps, [375, 750, 1500]);
      assert.equal(
        err.message,
        `A gateway timed out waiting for ${name} (504). Try again in a few minutes, or shorten the request.`,
      );
      assert.equal(err.mayHaveBilled, false, 'the provider answered with an error');
    });

    it(`${t.name}: a 408 is retried too`, async () => {
      const { fake, adapter } = setup();
      fake.enqueue({ type: 'error', status: 408 }, { text: 'done' });
      assert.equal((await adapter.chat(request(t.model))).text, 'done');
      assert.equal(fake.generationRequests.length, 2);
    });

    it(`${t.name}: a 403 is an auth error, not retried`, async () => {
      const { deps, fake, adapter } = setup();
      fake.enqueue({ type: 'error', status: 403, message: 'not allowed' }, { text: 'must not be asked for' });
      const err = await rejectsWith(adapter.chat(request(t.model)), 'auth');
      assert.equal(err.status, 403);
      assert.equal(err.retryable, false);
      assert.equal(fake.generationRequests.length, 1);
      assert.deepEqual(deps.sleeps, []);
      assert.match(
        err.message,
        new RegExp(
          `^${name} refused the API key for this request \\(403\\): the key lacks permission for ${t.model}\\.`,
        ),
      );
    });

    it(`${t.name}: a server error that was not retried does not say it was`, async () => {
      const { fake, adapter } = setup(0);
      fake.enqueue({ type: 'error', status: 500 });
      const err = await rejectsWith(adapter.chat(request(t.model)), 'server');
      assert.equal(fake.generationRequests.length, 1);
      assert.equal(err.message, `${name} had a server error (500). Try again in a few minutes.`);
    });
  }
});
