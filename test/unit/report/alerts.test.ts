import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AlertNotifier, alertPayload, postWebhook, type AlertPayload } from '../../../src/core/report/alerts';
import { openWorkspace, runRecord, tempFolder } from './helpers';

interface Received {
  method: string;
  url: string;
  contentType: string | undefined;
  body: string;
}

/** A local HTTP server answering each request with the next of `answers` (the last one repeats). */
async function hookServer(answers: Array<number | 'hang' | { status: number; headers: Record<string, string> }>) {
  const received: Received[] = [];
  const hanging: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const answer = answers[Math.min(received.length, answers.length - 1)]!;
      received.push({ method: req.method!, url: req.url!, contentType: req.headers['content-type'], body });
      if (answer === 'hang') {
        hanging.push(res);
        return;
      }
      const { status, headers } = typeof answer === 'number' ? { status: answer, headers: {} } : answer;
      res.writeHead(status, headers).end(status < 300 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook/T0KEN-in-path?secret=abc`,
    received,
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const FAST = { baseDelayMs: 5, maxDelayMs: 50, random: () => 0.5 };
const ALERT = {
  scope: 'workspace.daily',
  periodKey: '2026-11-22',
  pct: 90,
  usedMicros: 4_520_000,
  limitMicros: 5_000_000,
};

describe('alert webhook', () => {
  it('POSTs the JSON payload, and retries after a 5xx until the receiver accepts it', async () => {
    const server = await hookServer([503, 200]);
    const log: string[] = [];
    try {
      const payload = alertPayload(ALERT, '/home/dev/projects/shop', Date.UTC(2026, 10, 22, 15));
      const result = await postWebhook(server.url, payload, { ...FAST, log: (l) => log.push(l) });
      assert.deepEqual(result, { ok: true, attempts: 2, status: 200 });
      assert.equal(server.received.length, 2);
      for (const r of server.received) {
        assert.equal(r.method, 'POST');
        assert.equal(r.contentType, 'application/json');
        assert.deepEqual(JSON.parse(r.body), payload);
      }
      assert.equal(log.length, 1);
      assert.match(log[0]!, /\(HTTP 503\); retry 1 of 3 in \d+ ms/);
      // The log names the host only: a webhook URL's path and query often carry its secret.
      assert.ok(!log[0]!.includes('T0KEN') && !log[0]!.includes('secret=abc'), log[0]);
    } finally {
      await server.close();
    }
  });

  it('retries 429 (honouring Retry-After) and a timeout, but not a 4xx the receiver means', async () => {
    const busy = await hookServer([{ status: 429, headers: { 'retry-after': '0' } }, 'hang', 204]);
    try {
      const result = await postWebhook(busy.url, { hello: 1 }, { ...FAST, timeoutMs: 300 });
      assert.deepEqual(result, { ok: true, attempts: 3, status: 204 });
    } finally {
      await busy.close();
    }
    const wrong = await hookServer([404]);
    try {
      const result = await postWebhook(wrong.url, { hello: 1 }, FAST);
      assert.deepEqual(result, { ok: false, attempts: 1, status: 404, error: 'HTTP 404' });
    } finally {
      await wrong.close();
    }
  });

  it('gives up after the bounded attempts on a dead receiver, with growing jittered delays, and never throws', async () => {
    const server = await hookServer([200]);
    const url = server.url;
    await server.close(); // nothing listens there any more
    const delays: number[] = [];
    const log: string[] = [];
    const result = await postWebhook(
      url,
      { x: 1 },
      {
        attempts: 4,
        baseDelayMs: 100,
        maxDelayMs: 250,
        random: () => 0.99,
        sleep: async (ms) => void delays.push(ms),
        log: (l) => log.push(l),
      },
    );
    assert.equal(result.ok, false);
    assert.equal(result.attempts, 4);
    // Full jitter of 100, 200, then 400 capped at 250 ms.
    assert.deepEqual(delays, [99, 198, 247]);
    assert.match(log.at(-1)!, /failed after 4 attempt\(s\).*not delivered/);
    assert.deepEqual(await postWebhook('file:///etc/passwd', {}, FAST), {
      ok: false,
      attempts: 0,
      error: 'alerts.webhookUrl is not an http(s) URL',
    });
  });

  it('stops at once when its signal aborts: the try in flight and the wait before the next (the CLI exiting)', async () => {
    const server = await hookServer([503, 'hang']);
    try {
      const stop = new AbortController();
      const log: string[] = [];
      // A long backoff after the 503, then a receiver that never answers: only the signal ends this quickly.
      const delivery = postWebhook(
        server.url,
        { x: 1 },
        {
          attempts: 4,
          timeoutMs: 60_000,
          baseDelayMs: 200,
          maxDelayMs: 200,
          random: () => 0.99,
          signal: stop.signal,
          log: (l) => log.push(l),
        },
      );
      while (server.received.length < 2) await new Promise((r) => setTimeout(r, 10));
      const stoppedAt = Date.now();
      stop.abort();
      const result = await delivery;
      assert.ok(Date.now() - stoppedAt < 1_000, `took ${Date.now() - stoppedAt} ms after the abort`);
      assert.equal(result.ok, false);
      assert.equal(result.attempts, 2);
      assert.equal(result.error, 'delivery stopped before it succeeded');
      assert.equal(server.received.length, 2, 'no try after the abort');
      assert.match(log.at(-1)!, /not delivered/);
      // Already stopped: nothing is sent at all.
      assert.deepEqual(await postWebhook(server.url, {}, { signal: stop.signal }), {
        ok: false,
        attempts: 0,
        error: 'delivery stopped before it succeeded',
      });
      assert.equal(server.received.length, 2);
    } finally {
      await server.close();
    }
  });
});

describe('AlertNotifier: engine alerts to the webhook', function () {
  this.timeout(20_000);

  it("posts one payload per threshold a settlement crosses, with amounts and the folder's name — no prompt, input or path", async () => {
    const server = await hookServer([500, 200]);
    const env = tempFolder({
      timeZone: 'UTC',
      limits: { workspace: { dailyUsd: 0.01 } },
      alerts: { thresholdsPct: [50, 75, 90, 100], webhookUrl: server.url },
      prices: { 'test-model': { provider: 'openai', inputPerMTok: 2, outputPerMTok: 10 } },
    });
    const prompt = 'Review the merger plans in confidential.md';
    const ws = await openWorkspace(env.folder, undefined, true);
    const seen: AlertPayload[] = [];
    const notifier = new AlertNotifier(ws, { ...FAST, onAlert: (_a, p) => seen.push(p) });
    try {
      await ws.store.commit([
        runRecord('run-1', 'code-review', Date.now(), { status: 'running', title: prompt, data: { input: prompt } }),
      ]);
      const admission = await ws.engine.admit({
        workflow: 'code-review',
        runId: 'run-1',
        taskId: 't-1',
        task: 'review',
        provider: 'openai',
        model: 'test-model',
        inputTokens: 1_000,
        maxOutputTokens: 600,
        tokenScopes: [],
      });
      // 1,000 × $2 + 600 × $10 per MTok = 8,000 µ$ = 80 % of the $0.01 daily cap: the 50 % and 75 % alerts.
      await ws.engine.settle(admission, {
        usage: { input: 1_000, output: 600, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
      });
      const results = await notifier.flush();
      assert.equal(results.length, 2);
      assert.ok(results.every((r) => r.ok));
      assert.equal(server.received.length, 3, 'one 500, retried, then both delivered');
      const delivered = server.received.slice(1).map((r) => JSON.parse(r.body) as AlertPayload);
      assert.deepEqual(delivered.map((p) => p.pct).sort(), [50, 75]);
      assert.deepEqual(seen.map((p) => p.pct).sort(), [50, 75]);
      const p = delivered.find((x) => x.pct === 75)!;
      // Exactly these fields: nothing from the run, the request or the provider (keys live in SecretStorage or the
      // environment and never reach the engine's alerts).
      assert.deepEqual(Object.keys(p).sort(), [
        'limit',
        'limitMicros',
        'pct',
        'period',
        'scope',
        'text',
        'time',
        'type',
        'used',
        'usedMicros',
        'workspace',
      ]);
      assert.equal(p.type, 'agent-budget.alert');
      assert.equal(p.scope, 'workspace.daily');
      assert.equal(p.usedMicros, 8_000);
      assert.equal(p.limitMicros, 10_000);
      assert.equal(p.used, '$0.0080');
      assert.equal(p.limit, '$0.01');
      assert.equal(p.workspace, 'ws');
      assert.match(
        p.text,
        /workspace\.daily \(\d{4}-\d\d-\d\d\) passed 75% of its cap in ws: \$0\.0080 of \$0\.01 \(80%\)/,
      );
      for (const r of server.received) {
        assert.ok(!r.body.includes('merger') && !r.body.includes('confidential'), 'no prompt or input');
        assert.ok(!r.body.includes(env.folder), 'no path');
      }
      // The same thresholds do not fire again in this period.
      const again = await ws.engine.admit({
        workflow: 'code-review',
        runId: 'run-1',
        taskId: 't-2',
        task: 'review',
        provider: 'openai',
        model: 'test-model',
        inputTokens: 10,
        maxOutputTokens: 10,
        tokenScopes: [],
      });
      await ws.engine.settle(again, {
        usage: { input: 10, output: 10, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
      });
      assert.deepEqual(await notifier.flush(), []);
    } finally {
      notifier.dispose();
      await ws.close();
      env.cleanup();
      await server.close();
    }
  });

  it('a receiver that is down never fails the settlement that fired the alert', async () => {
    const server = await hookServer([200]);
    const url = server.url;
    await server.close();
    const env = tempFolder({
      timeZone: 'UTC',
      limits: { workspace: { dailyUsd: 0.01 } },
      alerts: { webhookUrl: url },
      prices: { 'test-model': { provider: 'openai', inputPerMTok: 2, outputPerMTok: 10 } },
    });
    const ws = await openWorkspace(env.folder, undefined, true);
    const log: string[] = [];
    const notifier = new AlertNotifier(ws, { ...FAST, attempts: 2, log: (l) => log.push(l) });
    try {
      const admission = await ws.engine.admit({
        workflow: 'w',
        runId: null,
        taskId: null,
        task: null,
        provider: 'openai',
        model: 'test-model',
        inputTokens: 1_000,
        maxOutputTokens: 600,
        tokenScopes: [],
      });
      const entry = await ws.engine.settle(admission, {
        usage: { input: 1_000, output: 600, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
      });
      assert.equal(entry.costMicros, 8_000);
      const results = await notifier.flush();
      assert.equal(results.length, 2);
      assert.ok(results.every((r) => !r.ok && r.attempts === 2));
      assert.ok(log.some((l) => /not delivered/.test(l)));
    } finally {
      notifier.dispose();
      await ws.close();
      env.cleanup();
    }
  });
});
