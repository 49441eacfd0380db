import assert from 'node:assert/strict';
import { anthropicMessages } from '../../../src/core/proxy/anthropic';
import { geminiGenerate } from '../../../src/core/proxy/gemini';
import { openaiChat, openaiResponses } from '../../../src/core/proxy/openai';
import { MEDIA_TOKENS, promptBound, tokenizerCount } from '../../../src/core/proxy/sizing';
import { ProxyRequestError } from '../../../src/core/proxy/wire';

/** How each provider's request is read for the budget: prompt size, output bound, caching, and what is refused. */
describe('proxy wire formats', () => {
  const longText = 'Budgets hold because every call reserves its worst case first. '.repeat(40);

  it('Anthropic: the bound covers the JSON prompt; cache_control asks for the write rate; media by reference add an allowance', () => {
    const plain = anthropicMessages({
      model: 'claude-haiku-4-5',
      max_tokens: 100,
      system: 'Be brief.',
      messages: [{ role: 'user', content: longText }],
    });
    assert.equal(plain.maxOutputTokens, 100);
    assert.equal(plain.promptCaching, 'none');
    assert.ok(promptBound(plain.prompt) >= Buffer.byteLength(longText));
    assert.ok(tokenizerCount(plain.prompt) <= promptBound(plain.prompt), 'a count never above the bound');
    const cached = anthropicMessages({
      model: 'claude-haiku-4-5',
      max_tokens: 100,
      system: [{ type: 'text', text: 'Long rules.', cache_control: { type: 'ephemeral', ttl: '1h' } }],
      messages: [{ role: 'user', content: 'x' }],
    });
    assert.equal(cached.promptCaching, '1h');
    const media = anthropicMessages({
      model: 'claude-haiku-4-5',
      max_tokens: 100,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'A'.repeat(50_000) } },
            { type: 'text', text: 'What is in these?' },
          ],
        },
      ],
    });
    assert.equal(media.prompt.referencedMedia, 1);
    assert.equal(media.prompt.inlineMedia, 1);
    assert.ok(promptBound(media.prompt) >= 50_000 + MEDIA_TOKENS, 'inline bytes and the referenced allowance');
    media.setMaxOutputTokens(42);
    assert.equal(media.body.max_tokens, 42);
    assert.throws(() => anthropicMessages({ messages: [] }), /"model" is required/);
    assert.throws(() => anthropicMessages({ model: 'm', messages: [], max_tokens: -3 }), ProxyRequestError);
  });

  it('OpenAI Chat: the smaller bound of the two fields, the field the client used, usage asked for and its chunk hidden', () => {
    const both = openaiChat({
      model: 'gpt-5-mini',
      messages: [{ role: 'user', content: 'x' }],
      max_tokens: 900,
      max_completion_tokens: 500,
    });
    assert.equal(both.maxOutputTokens, 500);
    assert.throws(() => openaiChat({ model: 'gpt-5-mini', messages: [], n: 2 }), /several answers/);
    const streamed = openaiChat({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'x' }], stream: true });
    assert.deepEqual(streamed.prepare(), { filtersEvents: true });
    assert.deepEqual(streamed.body.stream_options, { include_usage: true });
    const reader = streamed.usageReader();
    const content = { id: 'c', choices: [{ index: 0, delta: { content: 'hi' } }], usage: null };
    const usage = { id: 'c', choices: [], usage: { prompt_tokens: 10, completion_tokens: 2 } };
    const marked = (chunk: unknown) => reader.markers.some((m) => JSON.stringify(chunk).includes(m));
    assert.equal(marked(content), false, 'text chunks are not parsed');
    assert.equal(marked(usage), true);
    assert.equal(reader.event(null, usage), false, 'the usage chunk the client did not ask for is dropped');
    assert.equal(reader.usage?.input, 10);
    const asked = openaiChat({
      model: 'gpt-5-mini',
      messages: [],
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.deepEqual(asked.prepare(), { filtersEvents: false });
    assert.equal(asked.usageReader().event(null, usage), true, 'kept when the client asked for it');
  });

  it('OpenAI Responses: a previous response or conversation makes the prompt unbounded here', () => {
    const r = openaiResponses({
      model: 'gpt-5-mini',
      input: 'x',
      previous_response_id: 'resp_1',
      max_output_tokens: 50,
    });
    assert.equal(r.promptOutside, true);
    assert.equal(r.maxOutputTokens, 50);
    assert.equal(
      openaiResponses({ model: 'gpt-5-mini', input: [{ role: 'user', content: 'x' }] }).promptOutside,
      false,
    );
  });

  it('Gemini: maxOutputTokens set inside generationConfig (other settings kept); several candidates refused; the count request', () => {
    const g = geminiGenerate(
      {
        contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
        systemInstruction: { parts: [{ text: 'Be brief.' }] },
        generationConfig: { temperature: 0.2 },
      },
      'gemini-2.5-flash',
      true,
      'v1beta',
    );
    assert.equal(g.maxOutputTokens, undefined);
    g.setMaxOutputTokens(77);
    assert.deepEqual(g.body.generationConfig, { temperature: 0.2, maxOutputTokens: 77 });
    const count = g.countRequest!();
    assert.equal(count.path, '/v1beta/models/gemini-2.5-flash:countTokens');
    const contents = (count.body as { contents: Array<{ parts: Array<{ text: string }> }> }).contents;
    assert.equal(contents.length, 2, 'the system instruction counted as one more turn');
    assert.match(contents[0]!.parts[0]!.text, /Be brief/);
    assert.equal(count.read({ totalTokens: 100 }), 102, 'the endpoint margin');
    assert.throws(
      () => geminiGenerate({ contents: [], generationConfig: { candidateCount: 3 } }, 'm', false, 'v1beta'),
      /several answers/,
    );
    assert.equal(
      geminiGenerate({ contents: [], cachedContent: 'cachedContents/1' }, 'm', false, 'v1beta').promptOutside,
      true,
    );
  });
});
