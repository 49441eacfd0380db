import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { expectedMicros, sse, startHarness, startUpstream, UPSTREAM_KEYS, type Harness } from './harness';

/**
 * The relay of a streamed answer (forward.ts): what arrives in one event-loop turn goes to the client in one write,
 * byte for byte what the upstream sent, with the usage read on the side even when its event is split across reads.
 */
describe('proxy: relaying a stream', function () {
  this.timeout(30_000);
  let h: Harness;
  const closers: Array<() => Promise<void>> = [];
  beforeEach(async () => (h = await startHarness()));
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    await h.close();
  });

  const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  /** The raw HTTP/1.1 response to one request: its body de-chunked, and how many chunks the proxy wrote. */
  function rawCall(
    path: string,
    auth: Record<string, string>,
    body: unknown,
  ): Promise<{ body: Buffer; chunks: number }> {
    const payload = Buffer.from(JSON.stringify(body));
    const url = new URL(h.proxy.url);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(url.port), url.hostname);
      const parts: Buffer[] = [];
      socket.on('data', (d: Buffer) => parts.push(d));
      socket.on('error', reject);
      socket.on('end', () => {
        const raw = Buffer.concat(parts);
        const head = raw.indexOf('\r\n\r\n');
        assert.match(raw.subarray(0, head).toString('latin1'), /^HTTP\/1\.1 200 .*\r\ntransfer-encoding: chunked/is);
        const out: Buffer[] = [];
        let at = head + 4;
        let chunks = 0;
        for (;;) {
          const eol = raw.indexOf('\r\n', at);
          const size = parseInt(raw.subarray(at, eol).toString('latin1'), 16);
          if (size === 0) break;
          out.push(raw.subarray(eol + 2, eol + 2 + size));
          chunks += 1;
          at = eol + 2 + size + 2;
        }
        resolve({ body: Buffer.concat(out), chunks });
      });
      const headers = Object.entries({
        host: url.host,
        'content-type': 'application/json',
        'content-length': String(payload.length),
        connection: 'close',
        ...auth,
      })
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.write(`POST ${path} HTTP/1.1\r\n${headers}\r\n`);
      socket.write(payload);
    });
  }

  const anthropicStart = sse('message_start', {
    type: 'message_start',
    message: {
      id: 'msg_relay',
      type: 'message',
      role: 'assistant',
      model: 'claude-haiku-4-5',
      content: [],
      usage: { input_tokens: 31, output_tokens: 1 },
    },
  });
  const textEvent = (i: number) =>
    sse('content_block_delta', {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'text_delta', text: `word ${i} ` },
    });
  const anthropicDelta = sse('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: 'end_turn', stop_sequence: null },
    usage: { output_tokens: 2000 },
  });

  it('writes what arrived in one turn at once: the client gets the upstream bytes exactly, in far fewer chunks', async () => {
    const events = 2_000;
    let sentBytes: Buffer = Buffer.alloc(0);
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const written: string[] = [anthropicStart];
      res.write(anthropicStart);
      // One write per event, as fast as the socket takes them: the proxy reads many of them at a time.
      for (let i = 0; i < events; i++) {
        written.push(textEvent(i));
        res.write(textEvent(i));
      }
      written.push(anthropicDelta, sse('message_stop', { type: 'message_stop' }));
      res.end(anthropicDelta + sse('message_stop', { type: 'message_stop' }));
      sentBytes = Buffer.from(written.join(''));
    });
    closers.push(upstream.close);
    h.setUpstream((provider) => Promise.resolve({ baseUrl: upstream.url, apiKey: UPSTREAM_KEYS[provider] }));
    const got = await rawCall(
      '/v1/messages',
      { 'x-api-key': h.token, 'anthropic-version': '2023-06-01' },
      { model: 'claude-haiku-4-5', max_tokens: 3000, stream: true, messages: [{ role: 'user', content: 'Go.' }] },
    );
    assert.ok(got.body.equals(sentBytes), 'the client received exactly the bytes the upstream wrote');
    assert.ok(
      got.chunks < events / 10,
      `${got.chunks} writes to the client for ${events + 3} upstream writes: not coalesced`,
    );
    await h.calls(1);
    assert.equal(h.ledger()[0]!.costMicros, expectedMicros('claude-haiku-4-5', { input: 31, output: 2000 }));
  });

  it('reads the usage exactly when its event is split across reads (Anthropic message_delta)', async () => {
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(anthropicStart + textEvent(1));
      const cut = anthropicDelta.indexOf('"message_') + 4; // inside the marker the reader looks for
      const usageAt = anthropicDelta.indexOf('"output_tokens"') + 5;
      void (async () => {
        for (const piece of [
          anthropicDelta.slice(0, cut),
          anthropicDelta.slice(cut, usageAt),
          anthropicDelta.slice(usageAt),
        ]) {
          await delay(30); // each piece in a turn (and a read) of its own
          res.write(piece);
        }
        await delay(30);
        res.end(sse('message_stop', { type: 'message_stop' }));
      })();
    });
    closers.push(upstream.close);
    h.setUpstream((provider) => Promise.resolve({ baseUrl: upstream.url, apiKey: UPSTREAM_KEYS[provider] }));
    const got = await rawCall(
      '/v1/messages',
      { 'x-api-key': h.token, 'anthropic-version': '2023-06-01' },
      { model: 'claude-haiku-4-5', max_tokens: 3000, stream: true, messages: [{ role: 'user', content: 'Go.' }] },
    );
    assert.ok(got.chunks >= 4, 'the pieces went on as they arrived, not held back');
    assert.ok(got.body.toString().includes(anthropicDelta));
    const [event] = await h.calls(1);
    assert.equal(event!.outcome, 'settled');
    assert.equal(h.ledger()[0]!.costMicros, expectedMicros('claude-haiku-4-5', { input: 31, output: 2000 }));
  });

  it('OpenAI Chat: the usage chunk it asked for is hidden and read exactly though it arrives in pieces', async () => {
    const content = sse(null, {
      id: 'c1',
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta: { content: 'Split.' } }],
      usage: null,
    });
    const usage = sse(null, {
      id: 'c1',
      object: 'chat.completion.chunk',
      choices: [],
      usage: { prompt_tokens: 44, completion_tokens: 9 },
    });
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(content);
      void (async () => {
        for (let i = 0; i < usage.length; i += 17) {
          await delay(5);
          res.write(usage.slice(i, i + 17));
        }
        await delay(5);
        res.end(sse(null, '[DONE]'));
      })();
    });
    closers.push(upstream.close);
    h.setUpstream((provider) => Promise.resolve({ baseUrl: `${upstream.url}/v1`, apiKey: UPSTREAM_KEYS[provider] }));
    const got = await rawCall(
      '/v1/chat/completions',
      { authorization: `Bearer ${h.token}` },
      { model: 'gpt-5-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] },
    );
    assert.equal(
      got.body.toString(),
      content + sse(null, '[DONE]'),
      'the client sees its stream without the usage chunk',
    );
    await h.calls(1);
    assert.equal(h.ledger()[0]!.costMicros, expectedMicros('gpt-5-mini', { input: 44, output: 9 }));
  });

  it('a client that sends Expect: 100-continue (curl, large bodies) is answered by the proxy; the upstream never sees it', async () => {
    let upstreamHeaders: http.IncomingHttpHeaders = {};
    const upstream = await startUpstream((req, res) => {
      upstreamHeaders = req.headers;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'msg_expect',
          type: 'message',
          role: 'assistant',
          model: 'claude-haiku-4-5',
          content: [{ type: 'text', text: 'Continued.' }],
          usage: { input_tokens: 7, output_tokens: 2 },
        }),
      );
    });
    closers.push(upstream.close);
    h.setUpstream((provider) => Promise.resolve({ baseUrl: upstream.url, apiKey: UPSTREAM_KEYS[provider] }));
    const payload = JSON.stringify({
      model: 'claude-haiku-4-5',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'Go.' }],
    });
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(`${h.proxy.url}/v1/messages`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          'x-api-key': h.token,
          'anthropic-version': '2023-06-01',
          expect: '100-continue',
        },
      });
      req.on('continue', () => req.end(payload));
      req.on('error', reject);
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
    });
    assert.equal(answer.status, 200, answer.text);
    assert.match(answer.text, /Continued\./);
    assert.equal(upstreamHeaders.expect, undefined);
    await h.calls(1);
    assert.equal(h.ledger()[0]!.costMicros, expectedMicros('claude-haiku-4-5', { input: 7, output: 2 }));
  });
});
