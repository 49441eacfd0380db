import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import OpenAI from 'openai';
import { anthropicUsage } from '../../fakes';
import { expectedMicros, sse, startHarness, startUpstream, UPSTREAM_KEYS, type Harness } from './harness';

/** Streams pass through as they arrive; hang-ups, cuts and upstream errors end the call by the money rule. */
describe('proxy: streams, hang-ups and upstream errors', function () {
  this.timeout(30_000);
  let h: Harness;
  const closers: Array<() => Promise<void>> = [];
  beforeEach(async () => (h = await startHarness()));
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    await h.close();
  });

  const body = { model: 'claude-haiku-4-5', max_tokens: 300, messages: [{ role: 'user' as const, content: 'Go.' }] };

  /** An Anthropic upstream that streams one event every 20 ms for ~4 s, and records when its client goes away. */
  async function slowAnthropic() {
    const seen = { closedAt: 0, sentEvents: 0, finished: false };
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'request-id': 'req_slow' });
      const usage = anthropicUsage({
        input: 40,
        output: 1,
        cacheRead: 0,
        cacheWrite5m: 0,
        cacheWrite1h: 0,
        reasoning: 0,
      });
      res.write(
        sse('message_start', {
          type: 'message_start',
          message: {
            id: 'msg_slow',
            type: 'message',
            role: 'assistant',
            model: 'claude-haiku-4-5',
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage,
          },
        }),
      );
      res.write(
        sse('content_block_start', {
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'text', text: '' },
        }),
      );
      const timer = setInterval(() => {
        seen.sentEvents += 1;
        res.write(
          sse('content_block_delta', {
            type: 'content_block_delta',
            index: 0,
            delta: { type: 'text_delta', text: 'word ' },
          }),
        );
        if (seen.sentEvents === 200) {
          clearInterval(timer);
          seen.finished = true;
          res.end();
        }
      }, 20);
      res.on('close', () => {
        clearInterval(timer);
        seen.closedAt = Date.now();
      });
    });
    closers.push(upstream.close);
    h.setUpstream((provider) => Promise.resolve({ baseUrl: upstream.url, apiKey: UPSTREAM_KEYS[provider] }));
    return seen;
  }

  it('passes a stream through as it arrives (the first event reaches the client long before the last is written)', async () => {
    const seen = await slowAnthropic();
    const stream = h.anthropic.messages.stream(body);
    const firstText = await new Promise<number>((resolve) => stream.on('text', () => resolve(seen.sentEvents)));
    assert.ok(firstText < 20, `the first delta arrived after ${firstText} of 200 upstream events`);
    stream.abort();
  });

  it('a client that hangs up mid-stream: the upstream request is aborted and the call is charged an estimate of what streamed', async () => {
    const seen = await slowAnthropic();
    const controller = new AbortController();
    const stream = h.anthropic.messages.stream(body, { signal: controller.signal });
    await new Promise<void>((resolve) => stream.on('text', () => resolve()));
    const hungUpAt = Date.now();
    controller.abort();
    await assert.rejects(stream.finalMessage());
    const [event] = await h.calls(1);
    assert.equal(event!.outcome, 'estimated');
    for (let i = 0; i < 50 && seen.closedAt === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(seen.closedAt > 0 && seen.closedAt - hungUpAt < 1_000, 'the upstream connection was closed at once');
    assert.equal(seen.finished, false);
    const [row] = h.ledger();
    assert.equal(row!.estimated, true);
    // The cut-call rule (metering/failure.ts): the prompt and the output streamed so far, with a margin — more than
    // nothing, less than the worst case the call held.
    assert.ok(
      row!.costMicros > 0 && row!.costMicros < (row!.reservedMicros ?? 0),
      `charged ${row!.costMicros} of ${row!.reservedMicros} held`,
    );
    assert.equal(row!.client, 'test-client');
    assert.equal(row!.requestId, 'req_slow');
    assert.equal(h.workspace.store.queries.openReservations().length, 0);
  });

  it('stopping the proxy with no grace cuts a call in flight, and its charge is on the ledger when stop resolves', async () => {
    const seen = await slowAnthropic();
    const stream = h.anthropic.messages.stream(body);
    await new Promise<void>((resolve) => stream.on('text', () => resolve()));
    const finished = stream.finalMessage().then(
      () => 'completed',
      () => 'cut',
    );
    await h.proxy.stop(0);
    assert.equal(h.ledger().length, 1, 'on the ledger as soon as stop resolves');
    assert.equal(h.ledger()[0]!.estimated, true);
    assert.equal(await finished, 'cut');
    for (let i = 0; i < 50 && seen.closedAt === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(seen.closedAt > 0, 'the upstream request was aborted');
  });

  it('an upstream that drops mid-stream: the client sees the cut, the call is charged as estimated', async () => {
    h.fakes.anthropic.enqueue({ text: 'a long answer that will not finish', cutAfterEvents: 4, cutMode: 'reset' });
    await assert.rejects(h.anthropic.messages.stream(body).finalMessage());
    const [event] = await h.calls(1);
    assert.equal(event!.outcome, 'estimated');
    assert.equal(h.ledger()[0]!.estimated, true);
  });

  it('an in-stream error event after the start is charged as estimated (it may have been billed)', async () => {
    h.fakes.anthropic.enqueue({ text: 'partial answer here', errorAfterEvents: 3 });
    await assert.rejects(h.anthropic.messages.stream(body).finalMessage(), /Overloaded/);
    await h.calls(1);
    assert.equal(h.ledger()[0]!.estimated, true);
  });

  it('429 and 5xx come back unchanged (status, body, retry-after) and release the reservation', async () => {
    h.fakes.anthropic.enqueue({ type: 'error', status: 429, headers: { 'retry-after': '7' }, message: 'Slow down' });
    await assert.rejects(h.anthropic.messages.create(body), (err: unknown) => {
      assert.ok(err instanceof Anthropic.RateLimitError);
      assert.equal(err.headers.get('retry-after'), '7');
      assert.equal((err.error as { error: { type: string; message: string } }).error.type, 'rate_limit_error');
      assert.equal((err.error as { error: { message: string } }).error.message, 'Slow down');
      return true;
    });
    h.fakes.openai.enqueue({ type: 'error', status: 503, message: 'Upstream overloaded' });
    await assert.rejects(
      h.openai.chat.completions.create({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.InternalServerError);
        assert.equal(err.status, 503);
        assert.match(err.message, /Upstream overloaded/);
        return true;
      },
    );
    const events = await h.calls(2);
    assert.deepEqual(
      events.map((e) => [e.outcome, e.status]),
      [
        ['released', 429],
        ['released', 503],
      ],
    );
    assert.equal(h.ledger().length, 0);
    assert.equal(h.workspace.store.queries.openReservations().length, 0);
  });

  it('an unreachable upstream: 502 in the provider shape, nothing billed', async () => {
    const gone = await startUpstream(() => undefined);
    await gone.close();
    h.setUpstream((provider) => Promise.resolve({ baseUrl: gone.url, apiKey: UPSTREAM_KEYS[provider] }));
    await assert.rejects(h.anthropic.messages.create(body), (err: unknown) => {
      assert.ok(err instanceof Anthropic.InternalServerError);
      assert.equal(err.status, 502);
      assert.match(err.message, /Agent Budget could not reach/);
      return true;
    });
    const [event] = await h.calls(1);
    assert.equal(event!.outcome, 'released');
    assert.equal(h.ledger().length, 0);
  });

  describe('OpenAI Chat stream usage', () => {
    async function rawChatStream(extra: Record<string, unknown>): Promise<string> {
      const res = await fetch(`${h.proxy.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-5-mini',
          messages: [{ role: 'user', content: 'hi' }],
          stream: true,
          ...extra,
        }),
      });
      assert.equal(res.status, 200);
      return res.text();
    }

    it('asks for the usage chunk when the client did not, and hides it from the client', async () => {
      h.fakes.openai.enqueue({ text: 'Counted answer.', usage: { input: 55, output: 12 } });
      const text = await rawChatStream({});
      const sent = h.fakes.openai.generationRequests[0]!.body as { stream_options?: { include_usage?: boolean } };
      assert.equal(sent.stream_options?.include_usage, true, 'the upstream was asked for usage');
      const chunks = text
        .split('\n\n')
        .filter((e) => e.startsWith('data: {'))
        .map((e) => JSON.parse(e.slice(6)) as { choices: unknown[]; usage?: unknown });
      assert.ok(chunks.length > 1);
      assert.ok(
        chunks.every((c) => c.choices.length > 0),
        'no usage-only chunk reached the client',
      );
      assert.ok(text.trimEnd().endsWith('data: [DONE]'));
      await h.calls(1);
      assert.equal(h.ledger()[0]!.costMicros, expectedMicros('gpt-5-mini', { input: 55, output: 12 }));
    });

    it('keeps the usage chunk when the client asked for it itself', async () => {
      h.fakes.openai.enqueue({ text: 'Counted answer.', usage: { input: 55, output: 12 } });
      const text = await rawChatStream({ stream_options: { include_usage: true } });
      assert.match(text, /"choices":\[\],"usage":\{"prompt_tokens":55/);
    });

    it('an OpenAI-compatible server that ignores include_usage: charged at the reservation, marked estimated', async () => {
      h.fakes.openai.enqueue({ text: 'No usage from me.', omitUsage: true });
      await rawChatStream({});
      const [event] = await h.calls(1);
      assert.equal(event!.outcome, 'estimated');
      assert.equal(h.ledger()[0]!.estimated, true);
    });

    it('a gzip-compressed stream is decoded to hide the usage chunk (and read its usage)', async () => {
      const upstream = await startUpstream((_req, res) => {
        const events =
          sse(null, {
            id: 'c1',
            object: 'chat.completion.chunk',
            choices: [{ index: 0, delta: { content: 'Zipped.' } }],
            usage: null,
          }) +
          sse(null, {
            id: 'c1',
            object: 'chat.completion.chunk',
            choices: [],
            usage: { prompt_tokens: 20, completion_tokens: 3 },
          }) +
          sse(null, '[DONE]');
        res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' });
        res.end(zlib.gzipSync(events));
      });
      closers.push(upstream.close);
      h.setUpstream((provider) => Promise.resolve({ baseUrl: `${upstream.url}/v1`, apiKey: UPSTREAM_KEYS[provider] }));
      const text = await rawChatStream({});
      assert.match(text, /Zipped\./);
      assert.doesNotMatch(text, /prompt_tokens/);
      await h.calls(1);
      assert.equal(h.ledger()[0]!.costMicros, expectedMicros('gpt-5-mini', { input: 20, output: 3 }));
    });
  });

  it('Gemini without alt=sse streams a JSON array: read element by element, even split mid-string', async () => {
    const upstream = await startUpstream((req, res) => {
      assert.ok(!req.url?.includes('alt=sse'));
      const elements = [
        {
          candidates: [{ content: { parts: [{ text: 'He said "}{" ' }], role: 'model' } }],
          usageMetadata: { promptTokenCount: 9 },
        },
        {
          candidates: [{ content: { parts: [{ text: 'and left.' }], role: 'model' }, finishReason: 'STOP' }],
          usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 6, totalTokenCount: 15 },
        },
      ];
      const text = `[${elements.map((e) => JSON.stringify(e)).join(',\r\n')}]`;
      res.writeHead(200, { 'content-type': 'application/json' });
      // Split every 7 bytes, so elements, strings and escapes break across chunks.
      let i = 0;
      const timer = setInterval(() => {
        res.write(text.slice(i, i + 7));
        i += 7;
        if (i >= text.length) {
          clearInterval(timer);
          res.end();
        }
      }, 1);
    });
    closers.push(upstream.close);
    h.setUpstream((provider) => Promise.resolve({ baseUrl: upstream.url, apiKey: UPSTREAM_KEYS[provider] }));
    const res = await fetch(`${h.proxy.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': h.token, 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'Tell me.' }] }] }),
    });
    assert.equal(JSON.parse(await res.text()).length, 2, 'the client got the array whole');
    await h.calls(1);
    assert.equal(h.ledger()[0]!.costMicros, expectedMicros('gemini-2.5-flash', { input: 9, output: 6 }));
  });
});
