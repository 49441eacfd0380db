import Anthropic from '@anthropic-ai/sdk';
import { ApiError } from '@google/genai';
import assert from 'node:assert/strict';
import http from 'node:http';
import OpenAI from 'openai';
import { startHarness, type Harness } from './harness';

/** Clients authenticate with proxy tokens wherever their SDK sends a key; without one nothing goes upstream. */
describe('proxy: client tokens', function () {
  this.timeout(30_000);
  let h: Harness;
  beforeEach(async () => (h = await startHarness()));
  afterEach(async () => h.close());

  const nothingUpstream = () => {
    for (const p of ['anthropic', 'openai', 'gemini'] as const)
      assert.equal(h.fakes[p].requests.length, 0, `${p} got no request`);
  };

  it('no token: 401 in each provider shape, through each SDK; nothing reaches the upstream', async () => {
    const sdk = h.sdks('sk-not-a-proxy-token');
    await assert.rejects(
      sdk.anthropic.messages.create({
        model: 'claude-haiku-4-5',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'x' }],
      }),
      (err: unknown) => {
        assert.ok(err instanceof Anthropic.AuthenticationError);
        const body = err.error as { type: string; error: { type: string; message: string } };
        assert.equal(body.error.type, 'authentication_error');
        assert.match(body.error.message, /no valid client token/);
        return true;
      },
    );
    await assert.rejects(
      sdk.openai.chat.completions.create({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.AuthenticationError);
        assert.equal(err.code, 'invalid_api_key');
        return true;
      },
    );
    await assert.rejects(
      sdk.gemini.models.generateContent({ model: 'gemini-2.5-flash', contents: 'x' }),
      (err: unknown) => {
        assert.ok(err instanceof ApiError);
        assert.equal(err.status, 401);
        assert.match(err.message, /UNAUTHENTICATED/);
        return true;
      },
    );
    const bare = await fetch(`${h.proxy.url}/v1/messages`, { method: 'POST', body: '{}' });
    assert.equal(bare.status, 401);
    nothingUpstream();
    assert.equal(h.ledger().length, 0);
  });

  it('a revoked token is refused from its next request on (401), though it worked before', async () => {
    h.fakes.openai.enqueue({ text: 'before' });
    await h.openai.chat.completions.create({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(h.tokens.revoke('test-client'), true);
    h.fakes.openai.reset();
    await assert.rejects(
      h.openai.chat.completions.create({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'x' }] }),
      OpenAI.AuthenticationError,
    );
    nothingUpstream();
  });

  it('accepts the token as x-api-key, Bearer, x-goog-api-key and ?key=', async () => {
    const ask = (headers: Record<string, string>, query = '') =>
      fetch(`${h.proxy.url}/agent-budget/v1/status${query}`, { headers }).then((r) => r.status);
    assert.equal(await ask({ 'x-api-key': h.token }), 200);
    assert.equal(await ask({ authorization: `Bearer ${h.token}` }), 200);
    assert.equal(await ask({ 'x-goog-api-key': h.token }), 200);
    assert.equal(await ask({}, `?key=${encodeURIComponent(h.token)}`), 200);
    assert.equal(await ask({ 'x-api-key': `${h.token}x` }), 401);
    assert.equal(await ask({}), 401);
  });

  it('refuses a request not addressed to the proxy (a DNS-rebinding page) and unknown paths', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${h.proxy.url}/agent-budget/v1/status`, {
        headers: { host: 'evil.example:80', 'x-api-key': h.token },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 403);
    const unknown = await fetch(`${h.proxy.url}/v1/embeddings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token}` },
      body: '{}',
    });
    assert.equal(unknown.status, 404);
    assert.match(await unknown.text(), /does not serve POST \/v1\/embeddings/);
    nothingUpstream();
  });

  it('asks for one answer: n > 1 (several answers per call) is refused with a clear 400', async () => {
    await assert.rejects(
      h.openai.chat.completions.create({ model: 'gpt-5-mini', n: 3, messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError);
        assert.match(err.message, /"n": 3 asks for several answers/);
        return true;
      },
    );
    nothingUpstream();
  });
});
