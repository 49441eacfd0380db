import assert from 'node:assert/strict';
import { PROXY_WORKFLOW } from '../../../src/core/proxy';
import type { LedgerEntry } from '../../../src/core/store/records';
import { UPSTREAM_KEYS, expectedMicros, startHarness, type Harness } from './harness';

/**
 * The official SDKs, pointed at the proxy in front of the fake providers: each call reaches the fake with the user's
 * key (never the client's token), comes back as the fake sent it, and lands on the ledger with the fake's usage,
 * priced, under the client's name.
 */
describe('proxy: the official SDKs through the proxy, stream and not', function () {
  this.timeout(30_000);
  let h: Harness;
  beforeEach(async () => (h = await startHarness()));
  afterEach(async () => h.close());

  function onlyRow(): LedgerEntry {
    const rows = h.ledger();
    assert.equal(rows.length, 1, `one ledger row, got ${rows.length}`);
    return rows[0]!;
  }

  function assertRow(row: LedgerEntry, provider: string, model: string, micros: number) {
    assert.equal(row.provider, provider);
    assert.equal(row.model, model);
    assert.equal(row.client, 'test-client');
    assert.equal(row.workflow, PROXY_WORKFLOW);
    assert.equal(row.runId, null);
    assert.equal(row.estimated, false);
    assert.equal(row.costMicros, micros);
    assert.equal(h.workspace.store.queries.openReservations().length, 0, 'no reservation left open');
  }

  /** The upstream got the user's key and none of the client's credentials. */
  function assertKeysKept(provider: 'anthropic' | 'openai' | 'gemini') {
    const requests = h.fakes[provider].requests;
    assert.ok(requests.length > 0);
    for (const r of requests) {
      assert.equal(r.hadApiKey, true);
      assert.ok(!JSON.stringify(r).includes(h.token), 'the client token never goes upstream');
      assert.equal(r.query.key, undefined);
    }
  }

  it('Anthropic Messages: a message and a stream, usage as the fake reported it (cache reads included)', async () => {
    h.fakes.anthropic.enqueue(
      { text: 'Hello there.', usage: { input: 1200, output: 345, cacheRead: 2000 } },
      { text: 'Streamed hello.', usage: { input: 900, output: 120 }, eventDelayMs: 2 },
    );
    const message = await h.anthropic.messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 500,
      messages: [{ role: 'user', content: 'Say hello.' }],
    });
    assert.equal(message.content[0]?.type === 'text' && message.content[0].text, 'Hello there.');
    assert.equal(message.usage.input_tokens, 1200);
    await h.calls(1);
    assertRow(
      onlyRow(),
      'anthropic',
      'claude-haiku-4-5',
      expectedMicros('claude-haiku-4-5', { input: 1200, output: 345, cacheRead: 2000 }),
    );
    assert.deepEqual(onlyRow().usage, {
      input: 1200,
      output: 345,
      cacheRead: 2000,
      cacheWrite5m: 0,
      cacheWrite1h: 0,
      reasoning: 0,
    });
    assert.equal(onlyRow().requestId?.startsWith('req_'), true);

    const stream = h.anthropic.messages.stream({
      model: 'claude-haiku-4-5',
      max_tokens: 500,
      messages: [{ role: 'user', content: 'Stream hello.' }],
    });
    const final = await stream.finalMessage();
    assert.equal(final.content[0]?.type === 'text' && final.content[0].text, 'Streamed hello.');
    await h.calls(2);
    const row = h.ledger()[1]!;
    assert.equal(row.costMicros, expectedMicros('claude-haiku-4-5', { input: 900, output: 120 }));
    assert.deepEqual([row.usage.input, row.usage.output], [900, 120], 'message_delta usage overwrites, never adds');
    assertKeysKept('anthropic');
    assert.equal(
      h.fakes.anthropic.generationRequests[0]?.body &&
        (h.fakes.anthropic.generationRequests[0].body as { max_tokens: number }).max_tokens,
      500,
    );
  });

  it('OpenAI Chat Completions: a completion and a stream', async () => {
    h.fakes.openai.enqueue(
      { text: 'Chat answer.', usage: { input: 700, output: 90, reasoning: 30 } },
      { text: 'Streamed chat answer.', usage: { input: 400, output: 60 } },
    );
    const completion = await h.openai.chat.completions.create({
      model: 'gpt-5-mini',
      messages: [{ role: 'user', content: 'Answer me.' }],
    });
    assert.equal(completion.choices[0]?.message.content, 'Chat answer.');
    await h.calls(1);
    assertRow(
      onlyRow(),
      'openai',
      'gpt-5-mini',
      expectedMicros('gpt-5-mini', { input: 700, output: 90, reasoning: 30 }),
    );
    assert.equal(onlyRow().usage.reasoning, 30);

    const stream = await h.openai.chat.completions.create({
      model: 'gpt-5-mini',
      messages: [{ role: 'user', content: 'Stream me.' }],
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, 'Streamed chat answer.');
    await h.calls(2);
    assert.equal(h.ledger()[1]!.costMicros, expectedMicros('gpt-5-mini', { input: 400, output: 60 }));
    assertKeysKept('openai');
  });

  it('OpenAI Responses: a response and a stream (usage from response.completed)', async () => {
    h.fakes.openai.enqueue(
      { text: 'Responses answer.', usage: { input: 500, output: 40 } },
      { text: 'Streamed responses answer.', usage: { input: 300, output: 25, reasoning: 10 } },
    );
    const response = await h.openai.responses.create({ model: 'gpt-5-mini', input: 'Answer.' });
    assert.equal(response.output_text, 'Responses answer.');
    await h.calls(1);
    assertRow(onlyRow(), 'openai', 'gpt-5-mini', expectedMicros('gpt-5-mini', { input: 500, output: 40 }));

    const stream = await h.openai.responses.create({ model: 'gpt-5-mini', input: 'Stream.', stream: true });
    let completed = false;
    for await (const event of stream) if (event.type === 'response.completed') completed = true;
    assert.ok(completed);
    await h.calls(2);
    assert.equal(h.ledger()[1]!.costMicros, expectedMicros('gpt-5-mini', { input: 300, output: 25, reasoning: 10 }));
    assertKeysKept('openai');
  });

  it('Gemini: generateContent and generateContentStream (usage from the chunk with the finish reason)', async () => {
    h.fakes.gemini.enqueue(
      { text: 'Gemini answer.', usage: { input: 610, output: 70, reasoning: 20 } },
      { text: 'A streamed Gemini answer in pieces.', usage: { input: 320, output: 44 } },
    );
    const answer = await h.gemini.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Answer.' });
    assert.equal(answer.text, 'Gemini answer.');
    await h.calls(1);
    assertRow(
      onlyRow(),
      'gemini',
      'gemini-2.5-flash',
      expectedMicros('gemini-2.5-flash', { input: 610, output: 70, reasoning: 20 }),
    );

    const stream = await h.gemini.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Stream.' });
    let text = '';
    for await (const chunk of stream) text += chunk.text ?? '';
    assert.equal(text, 'A streamed Gemini answer in pieces.');
    await h.calls(2);
    // The interim chunks' prompt-only usage is not the call's usage: the last chunk's is.
    assert.equal(h.ledger()[1]!.costMicros, expectedMicros('gemini-2.5-flash', { input: 320, output: 44 }));
    assertKeysKept('gemini');
  });

  it('free endpoints pass through with the user key and cost nothing: Anthropic count_tokens, Gemini countTokens', async () => {
    h.fakes.anthropic.enqueueCount(1234);
    const counted = await h.anthropic.messages.countTokens({
      model: 'claude-haiku-4-5',
      messages: [{ role: 'user', content: 'Count me.' }],
    });
    assert.equal(counted.input_tokens, 1234);
    h.fakes.gemini.enqueueCount(77);
    const gemini = await h.gemini.models.countTokens({ model: 'gemini-2.5-flash', contents: 'Count me.' });
    assert.equal(gemini.totalTokens, 77);
    assert.equal(h.ledger().length, 0);
    assert.equal(h.fakes.anthropic.requests[0]?.hadApiKey, true);
    assert.ok(!JSON.stringify(h.fakes.gemini.requests).includes(h.token));
  });

  it('the upstream keys stay with the proxy: nothing a client receives contains them', async () => {
    h.fakes.openai.enqueue({ text: 'fine' });
    const raw = await fetch(`${h.proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    const text = await raw.text();
    const headers = JSON.stringify([...raw.headers]);
    for (const key of Object.values(UPSTREAM_KEYS)) {
      assert.ok(!text.includes(key));
      assert.ok(!headers.includes(key));
    }
    assert.equal(raw.headers.get('x-request-id')?.startsWith('req_'), true, "the upstream's headers come through");
  });
});
