import assert from 'node:assert/strict';
import {
  describeProviderError,
  isRetryableStatus,
  parseGoogleRetryDelay,
  parseRetryAfter,
  ProviderError,
  redactSecrets,
  sanitizedCause,
} from '../../../src/core/providers/errors';
import { backoffDelay, DEFAULT_RETRY_POLICY, realSleep, withRetry } from '../../../src/core/providers/retry';

const headers = (h: Record<string, string>) => (name: string) => h[name];

describe('retry-after parsing', () => {
  it('reads retry-after-ms first, then retry-after in seconds', () => {
    assert.equal(parseRetryAfter(headers({ 'retry-after-ms': '250', 'retry-after': '9' })), 250);
    assert.equal(parseRetryAfter(headers({ 'retry-after': '2' })), 2000);
    assert.equal(parseRetryAfter(headers({ 'retry-after': '0.5' })), 500);
  });

  it('reads an HTTP date relative to now', () => {
    const now = Date.parse('Sun, 22 Nov 2026 10:00:00 GMT');
    assert.equal(
      parseRetryAfter(headers({ 'retry-after': 'Sun, 22 Nov 2026 10:00:30 GMT' }), () => now),
      30_000,
    );
    assert.equal(
      parseRetryAfter(headers({ 'retry-after': 'Sun, 22 Nov 2026 09:00:00 GMT' }), () => now),
      0,
      'a past date means now',
    );
  });

  it('ignores absent or garbage values', () => {
    assert.equal(parseRetryAfter(headers({})), undefined);
    assert.equal(parseRetryAfter(headers({ 'retry-after': 'soon' })), undefined);
  });

  it("reads Gemini's RetryInfo from the error body", () => {
    assert.equal(
      parseGoogleRetryDelay({ error: { details: [{ '@type': 'x.ErrorInfo' }, { retryDelay: '13s' }] } }),
      13_000,
    );
    assert.equal(parseGoogleRetryDelay({ error: { details: [{ retryDelay: '1.5s' }] } }), 1500);
    assert.equal(parseGoogleRetryDelay({ error: {} }), undefined);
  });
});

describe('the retry policy', () => {
  const err = (status: number, retryAfterMs?: number) =>
    new ProviderError({ provider: 'openai', kind: 'server', message: 'x', status, retryAfterMs });
  const noSleep = { sleep: async () => {}, random: () => 0.5 };

  it('retries 408, 409, 429 and 5xx only', () => {
    assert.deepEqual(
      [400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 529].filter(isRetryableStatus),
      [408, 409, 429, 500, 502, 503, 529],
    );
  });

  it('backs off exponentially with equal jitter, capped', () => {
    const p = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 1000, maxDelayMs: 4000 };
    assert.equal(
      backoffDelay(0, p, () => 0),
      500,
    );
    assert.equal(
      backoffDelay(0, p, () => 0.999999),
      1000,
    );
    assert.equal(
      backoffDelay(1, p, () => 0.5),
      1500,
    );
    assert.equal(
      backoffDelay(5, p, () => 1),
      4000,
      'capped at maxDelayMs',
    );
  });

  it('stops after maxRetries and rethrows the last error', async () => {
    let calls = 0;
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw err(503);
        },
        { policy: { ...DEFAULT_RETRY_POLICY, maxRetries: 2 }, deps: noSleep, onAbort: () => err(0) },
      ),
      (e: ProviderError) => e.status === 503,
    );
    assert.equal(calls, 3);
  });

  it('never retries an error that carries a partial result (the stream had started)', async () => {
    let calls = 0;
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw err(500).withPartial({ text: 'half', toolCalls: [] });
        },
        { policy: DEFAULT_RETRY_POLICY, deps: noSleep, onAbort: () => err(0) },
      ),
    );
    assert.equal(calls, 1);
  });

  it('an abort during the wait rejects at once with the abort error', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const started = Date.now();
    const aborted = new ProviderError({ provider: 'gemini', kind: 'aborted', message: 'cancelled' });
    await assert.rejects(
      withRetry(
        async () => {
          throw err(429, 20_000);
        },
        {
          policy: DEFAULT_RETRY_POLICY,
          deps: { sleep: realSleep, random: Math.random },
          signal: controller.signal,
          onAbort: () => aborted,
        },
      ),
      (e) => e === aborted,
    );
    assert.ok(Date.now() - started < 1000);
  });
});

describe('error messages and redaction', () => {
  it('redacts every secret and key= query values', () => {
    assert.equal(
      redactSecrets('key sk-abc123456 and ?key=AIzaXYZ&x=1', ['sk-abc123456']),
      'key [redacted] and ?key=[redacted]&x=1',
    );
  });

  it('sanitizes the cause chain (names and messages only, redacted)', () => {
    const inner = new Error('connect failed for sk-abc123456');
    const outer = new Error('fetch failed', { cause: inner });
    const clean = sanitizedCause(outer, ['sk-abc123456']);
    assert.equal(clean.message, 'fetch failed');
    assert.equal((clean.cause as Error).message, 'connect failed for [redacted]');
  });

  it('tells the user what to do for each kind', () => {
    assert.match(describeProviderError({ provider: 'gemini', kind: 'auth', status: 401 }), /GEMINI_API_KEY/);
    assert.match(
      describeProviderError({ provider: 'anthropic', kind: 'rateLimit', status: 429, retryAfterMs: 12_000 }),
      /asked to wait 12s/,
    );
    assert.match(
      describeProviderError({
        provider: 'openai',
        kind: 'network',
        baseUrl: 'http://localhost:11434/v1',
        networkCode: 'ECONNREFUSED',
      }),
      /localhost:11434.*ECONNREFUSED/,
    );
    assert.match(
      describeProviderError({ provider: 'openai', kind: 'streamCut' }),
      /charged an estimate from what streamed \(marked estimated\)/,
    );
  });
});
