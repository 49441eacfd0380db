import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProviderAdapter } from '../../../src/core/providers';
import type { AdapterDeps } from '../../../src/core/providers/adapter';
import { startFakeProviders } from '../../fakes';
import { API_TARGETS, fastDeps, rejectsWith, request } from './helpers';

/**
 * `ProviderError.mayHaveBilled` decides whether a failed call is charged (at its reservation, as estimated) or
 * released. It must be true whenever the request reached the provider without an HTTP error coming back — above
 * all for non-streaming calls, which leave no partial behind — and false when the request provably never left.
 */
describe('ProviderError.mayHaveBilled across providers', () => {
  let fakes: Awaited<ReturnType<typeof startFakeProviders>>;
  beforeEach(async () => {
    fakes = await startFakeProviders();
  });
  afterEach(() => fakes.close());

  for (const t of API_TARGETS) {
    const adapterAt = (
      baseUrl: string,
      extra: { timeoutMs?: number; maxRetries?: number } = {},
      deps: AdapterDeps = fastDeps(),
    ) =>
      createProviderAdapter(
        { provider: t.provider, apiKey: 'k', baseUrl, ...('api' in t ? { api: t.api } : {}), ...extra },
        deps,
      );
    const fake = () => fakes[t.provider];

    it(`${t.name}: cancelled before the call: nothing was sent, nothing billed`, async () => {
      const controller = new AbortController();
      controller.abort();
      const err = await rejectsWith(
        adapterAt(fake().baseUrl).chat(request(t.model, { stream: false, signal: controller.signal })),
        'aborted',
      );
      assert.equal(err.mayHaveBilled, false);
      assert.equal(fake().requests.length, 0);
    });

    it(`${t.name}: cancelled while a non-streaming request is at the provider: may be billed`, async () => {
      fake().enqueue({ type: 'hang' });
      const controller = new AbortController();
      const call = adapterAt(fake().baseUrl).chat(request(t.model, { stream: false, signal: controller.signal }));
      while (fake().generationRequests.length === 0) await new Promise((r) => setTimeout(r, 5));
      controller.abort();
      const err = await rejectsWith(call, 'aborted');
      assert.equal(err.partial, undefined, 'a non-streaming call leaves no partial: the flag is all the runner has');
      assert.equal(err.mayHaveBilled, true);
    });

    it(`${t.name}: a non-streaming call that times out at the provider: may be billed`, async () => {
      fake().enqueue({ type: 'hang' });
      const err = await rejectsWith(
        adapterAt(fake().baseUrl, { timeoutMs: 150 }).chat(request(t.model, { stream: false })),
        'timeout',
      );
      assert.equal(err.mayHaveBilled, true);
    });

    it(`${t.name}: cancelled while waiting to retry a 500: no attempt was billed`, async () => {
      fake().enqueue({ type: 'error', status: 500 });
      const controller = new AbortController();
      const deps = fastDeps({
        sleep: async () => {
          controller.abort();
          throw new Error('aborted');
        },
      });
      const err = await rejectsWith(
        adapterAt(fake().baseUrl, {}, deps).chat(request(t.model, { stream: false, signal: controller.signal })),
        'aborted',
      );
      assert.equal(err.mayHaveBilled, false);
      assert.equal(fake().generationRequests.length, 1);
    });

    it(`${t.name}: connection refused: the request never reached the provider, so it is retried`, async () => {
      const port = await closedPort();
      const err = await rejectsWith(
        adapterAt(`http://127.0.0.1:${port}`, { maxRetries: 0 }).chat(request(t.model, { stream: false })),
        'network',
      );
      assert.equal(err.mayHaveBilled, false);
      assert.equal(err.retryable, true);
    });

    it(`${t.name}: connection dropped after the request arrived: may be billed, so never retried behind the reservation`, async () => {
      let arrived = 0;
      const server = http.createServer((req) =>
        req.on('data', () => undefined).on('end', () => (arrived++, req.socket.destroy())),
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const port = (server.address() as AddressInfo).port;
        // Retries allowed: a second attempt would spend past the one call the reservation holds.
        const err = await rejectsWith(
          adapterAt(`http://127.0.0.1:${port}`, { maxRetries: 3 }).chat(request(t.model, { stream: false })),
          'network',
        );
        assert.equal(err.mayHaveBilled, true);
        assert.equal(err.retryable, false);
        assert.equal(arrived, 1, 'one attempt only');
      } finally {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  }
});

async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
