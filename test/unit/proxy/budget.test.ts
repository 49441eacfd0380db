import Anthropic from '@anthropic-ai/sdk';
import { ApiError } from '@google/genai';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { RATES, startHarness, type Harness } from './harness';

/** Every request is admitted by the engine: clamped to what the budget pays for, refused with 402 when it cannot. */
describe('proxy: budget admission', function () {
  this.timeout(60_000);
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const anthropicBody = (maxTokens: number) => ({
    model: 'claude-haiku-4-5',
    max_tokens: maxTokens,
    messages: [{ role: 'user' as const, content: 'Write.' }],
  });

  it("clamps each provider's output bound to what the client's cap still pays for (the fake sees the clamp)", async () => {
    // $0.02 a day for the client. Anthropic: output $5/MTok = 5 µ$ a token.
    h = await startHarness({ caps: { dailyUsd: 0.02 } });
    h.fakes.anthropic.enqueue({ text: 'ok', usage: { input: 10, output: 5 } });
    await h.anthropic.messages.create(anthropicBody(16_000));
    const sent = (h.fakes.anthropic.generationRequests[0]!.body as { max_tokens: number }).max_tokens;
    const reservation = h.ledger()[0] ?? (await h.calls(1), h.ledger()[0]!);
    // The prompt bound takes its share at the input rate; the rest of the $0.02 buys output at 5 µ$ a token.
    const promptBound = reservation.estimatedInputTokens!;
    assert.equal(sent, Math.floor((20_000 - promptBound * 1) / 5));
    assert.ok(sent < 16_000);

    // OpenAI Chat: max_completion_tokens, and the legacy max_tokens when that is what the client sent.
    h.fakes.openai.enqueue(
      { text: 'ok', usage: { input: 10, output: 5 } },
      { text: 'ok', usage: { input: 10, output: 5 } },
    );
    await h.openai.chat.completions.create({
      model: 'gpt-5-mini',
      messages: [{ role: 'user', content: 'Write.' }],
      max_completion_tokens: 100_000,
    });
    await h.openai.chat.completions.create({
      model: 'gpt-5-mini',
      messages: [{ role: 'user', content: 'Write.' }],
      max_tokens: 100_000,
    });
    const [modern, legacy] = h.fakes.openai.generationRequests.map((r) => r.body as Record<string, unknown>);
    assert.ok((modern!.max_completion_tokens as number) < 2_500, String(modern!.max_completion_tokens));
    assert.ok((legacy!.max_tokens as number) < 2_500);
    assert.equal(legacy!.max_completion_tokens, undefined, 'the field the client used');

    // Responses and Gemini.
    h.fakes.openai.enqueue({ text: 'ok', usage: { input: 10, output: 5 } });
    await h.openai.responses.create({ model: 'gpt-5-mini', input: 'Write.', max_output_tokens: 100_000 });
    assert.ok((h.fakes.openai.generationRequests[2]!.body as { max_output_tokens: number }).max_output_tokens < 2_500);
    h.fakes.gemini.enqueue({ text: 'ok', usage: { input: 10, output: 5 } });
    await h.gemini.models.generateContent({
      model: 'gemini-2.5-flash',
      contents: 'Write.',
      config: { maxOutputTokens: 60_000 },
    });
    const config = (h.fakes.gemini.generationRequests[0]!.body as { generationConfig: { maxOutputTokens: number } })
      .generationConfig;
    assert.ok(config.maxOutputTokens < 5_000, String(config.maxOutputTokens));
  });

  it('sets the bound when the client sent none and a cap binds; leaves it out when only the model limit binds', async () => {
    h = await startHarness({ caps: { dailyUsd: 0.01 } });
    h.fakes.openai.enqueue(
      { text: 'ok', usage: { input: 10, output: 5 } },
      { text: 'ok', usage: { input: 10, output: 5 } },
    );
    await h.openai.chat.completions.create({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'Write.' }] });
    const body = h.fakes.openai.generationRequests[0]!.body as Record<string, unknown>;
    assert.equal(typeof body.max_completion_tokens, 'number');
    assert.ok((body.max_completion_tokens as number) < RATES['gpt-5-mini'].maxOutputTokens);
    await h.close();

    h = await startHarness(); // $100 a day: the model's own maximum is the tightest bound
    h.fakes.openai.enqueue({ text: 'ok', usage: { input: 10, output: 5 } });
    await h.openai.chat.completions.create({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'Write.' }] });
    const free = h.fakes.openai.generationRequests[0]!.body as Record<string, unknown>;
    assert.equal(free.max_completion_tokens, undefined);
    assert.equal(free.max_tokens, undefined);
  });

  it('blocks at a cap with 402 in each provider shape, naming the scope, use, limit and reset; no paid request goes upstream', async () => {
    h = await startHarness({ caps: { dailyUsd: 0.001 } });
    // Spend the client's whole day: a call that bills its limit.
    h.fakes.anthropic.enqueue({ text: 'ok', outputAtLimit: true, usage: { input: 10 } });
    await h.anthropic.messages.create(anthropicBody(4096));
    await h.calls(1);
    // (A count-tokens request may go up: a bound that blocks is checked against the exact count, which is free.)
    const paidBefore = ['anthropic', 'openai', 'gemini'].map((p) => h!.fakes[p as 'openai'].generationRequests.length);

    await assert.rejects(h.anthropic.messages.create(anthropicBody(100)), (err: unknown) => {
      assert.ok(err instanceof Anthropic.APIError, String(err));
      assert.equal(err.status, 402);
      const body = err.error as { type: string; error: { type: string; message: string } };
      assert.equal(body.type, 'error');
      assert.equal(body.error.type, 'billing_error');
      assert.match(body.error.message, /client\.test-client\.daily cap reached: \$0\.00\d+ of \$0\.0010 spent or held/);
      assert.match(body.error.message, /resets \d{4}-\d\d-\d\dT00:00:00\.000Z/);
      return true;
    });
    await assert.rejects(
      h.openai.chat.completions.create({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.APIError);
        assert.equal(err.status, 402);
        assert.equal(err.code, 'budget_exceeded');
        assert.match(err.message, /^402 Agent Budget: client\.test-client\.daily cap reached/);
        return true;
      },
    );
    await assert.rejects(
      h.gemini.models.generateContent({ model: 'gemini-2.5-flash', contents: 'x' }),
      (err: unknown) => {
        assert.ok(err instanceof ApiError, String(err));
        assert.equal(err.status, 402);
        assert.match(err.message, /FAILED_PRECONDITION/);
        assert.match(err.message, /client\.test-client\.daily cap reached/);
        return true;
      },
    );
    const events = await h.calls(4);
    assert.deepEqual(
      events.slice(1).map((e) => [e.outcome, e.status]),
      [
        ['blocked', 402],
        ['blocked', 402],
        ['blocked', 402],
      ],
      'each SDK asked once: none retries a 402',
    );
    assert.deepEqual(
      ['anthropic', 'openai', 'gemini'].map((p) => h!.fakes[p as 'openai'].generationRequests.length),
      paidBefore,
      'no paid request reached the upstream',
    );
  });

  it('a workspace cap blocks every client; a BLOCK rule of budget.json applies to proxied calls too', async () => {
    h = await startHarness({
      policy: { rules: [{ when: { modelMatches: 'haiku' }, action: 'block' }] },
    });
    await assert.rejects(h.anthropic.messages.create(anthropicBody(100)), (err: unknown) => {
      assert.ok(err instanceof Anthropic.APIError);
      assert.equal(err.status, 402);
      assert.match(err.message, /Blocked by a rule in budget\.json: rules\[0\]/);
      return true;
    });
    assert.equal(h.fakes.anthropic.generationRequests.length, 0);
    await h.close();

    // A client without caps of its own is still under the workspace's.
    h = await startHarness({ policy: { limits: { workspace: { dailyUsd: 0.0001 } } } });
    await assert.rejects(
      h.openai.chat.completions.create({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.APIError);
        assert.equal(err.status, 402);
        assert.match(err.message, /workspace\.daily cap reached/);
        return true;
      },
    );
    assert.equal(h.fakes.openai.generationRequests.length, 0);
  });

  it('an unknown model is a clear 400 in the provider shape, never a call priced at $0', async () => {
    h = await startHarness();
    await assert.rejects(
      h.openai.chat.completions.create({ model: 'mystery-model-9', messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError);
        assert.match(err.message, /No price for openai model "mystery-model-9"/);
        assert.match(err.message, /never prices a call at \$0/);
        return true;
      },
    );
    assert.equal(h.fakes.openai.requests.length, 0);
    assert.equal(h.ledger().length, 0);
  });

  it("a Responses call that continues a stored response reserves the model's context window (its prompt is not here)", async () => {
    h = await startHarness();
    h.fakes.openai.enqueue({ text: 'ok', usage: { input: 10, output: 5 } });
    await h.openai.responses.create({
      model: 'gpt-5-mini',
      input: 'And then?',
      previous_response_id: 'resp_earlier',
      max_output_tokens: 100,
    });
    await h.calls(1);
    assert.equal(h.ledger()[0]!.estimatedInputTokens, RATES['gpt-5-mini'].contextWindow);
    await h.close();

    // 400,000 prompt tokens at up to the cache-write rate cost more than a $0.50 cap: refused before it leaves.
    h = await startHarness({ caps: { dailyUsd: 0.5 } });
    await assert.rejects(
      h.openai.responses.create({ model: 'gpt-5-mini', input: 'And then?', previous_response_id: 'resp_earlier' }),
      (err: unknown) => err instanceof OpenAI.APIError && err.status === 402,
    );
    assert.equal(h.fakes.openai.requests.length, 0);
  });

  it('50 concurrent streams against one cap, each billing its whole clamp: billed never exceeds the cap', async () => {
    const capUsd = 0.05;
    h = await startHarness({ caps: { dailyUsd: capUsd } });
    for (let i = 0; i < 50; i++) {
      h.fakes.anthropic.enqueue({ text: 'x'.repeat(60), outputAtLimit: true, usage: { input: 30 }, eventDelayMs: 5 });
      // The count endpoint agrees with what is billed (as Anthropic's does, within its margin).
      h.fakes.anthropic.enqueueCount(30);
    }
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, async () => {
        const stream = h!.anthropic.messages.stream(anthropicBody(1_500));
        return stream.finalMessage();
      }),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const blocked = results.filter(
      (r) => r.status === 'rejected' && (r.reason as { status?: number }).status === 402,
    ).length;
    assert.equal(ok + blocked, 50, 'every request either streamed or was refused with 402');
    assert.ok(ok > 0 && blocked > 0, `${ok} streamed, ${blocked} blocked`);
    await h.calls(50);
    const billed = h.ledger().reduce((n, e) => n + e.costMicros, 0);
    assert.ok(billed <= capUsd * 1e6, `billed ${billed} µ$ of a ${capUsd * 1e6} µ$ cap`);
    assert.equal(h.ledger().length, ok);
    for (const row of h.ledger()) assert.equal(row.estimated, false);
    // Each one billed exactly its clamp as output: the clamps are what kept the total under the cap.
    for (const [i, row] of h.ledger().entries()) assert.ok(row.usage.output > 0, `row ${i}`);
  });
});
