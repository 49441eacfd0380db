import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI, type Running } from '../../fakes';
import { priceCall, resolvePrice, UnknownModelError } from '../../../src/core/pricing/cost';
import { isLoopbackEndpoint } from '../../../src/core/pricing/local';
import { Workspace } from '../../../src/core/workspace';
import type { LedgerEntry } from '../../../src/core/store/records';
import type { TokenUsage } from '../../../src/core/usage';
import { runCli } from '../../support/cli';
import { tempWorkspace, writePolicy } from '../runner/helpers';

const usage = (u: Partial<TokenUsage>): TokenUsage => ({
  input: 0,
  output: 0,
  cacheRead: 0,
  cacheWrite5m: 0,
  cacheWrite1h: 0,
  reasoning: 0,
  ...u,
});

describe('local OpenAI-compatible models (Ollama, LM Studio, vLLM)', () => {
  it('knows a loopback endpoint: localhost, 127.0.0.0/8, [::1] — and nothing that merely looks like one', () => {
    for (const url of [
      'http://localhost:11434/v1',
      'http://LOCALHOST:1234/v1',
      'http://api.localhost/v1',
      'http://127.0.0.1:8000/v1',
      'https://127.10.0.3/v1',
      'http://[::1]:11434/v1',
    ]) {
      assert.ok(isLoopbackEndpoint(url), url);
    }
    for (const url of [
      'https://api.openai.com/v1',
      'http://localhost.example.com/v1',
      'http://127.0.0.1.nip.io/v1',
      'http://10.0.0.2:11434/v1',
      'http://[::2]/v1',
      'ftp://localhost/v1',
      'not a url',
    ]) {
      assert.ok(!isLoopbackEndpoint(url), url);
    }
  });

  it('prices a model no list knows at $0 on a local endpoint, marked `local`; elsewhere it stays unknown', () => {
    const local = priceCall({
      provider: 'openai',
      model: 'llama3.2:3b',
      usage: usage({ input: 50_000, output: 2_000, cacheRead: 1_000 }),
      context: { localEndpoint: true },
    });
    assert.deepEqual([local.costMicros, local.origin, local.priceSource], [0, 'local', 'local']);
    assert.throws(() => resolvePrice('openai', 'llama3.2:3b'), UnknownModelError);
  });

  it('never takes a listed model for a local one: the table and the second source price it on any endpoint', () => {
    // gpt-5 is in the table ($1.25 / $10), gpt-4-turbo in the second source ($10 / $30): a local proxy in front of
    // OpenAI still costs money.
    const table = priceCall({
      provider: 'openai',
      model: 'gpt-5',
      usage: usage({ input: 1000, output: 100 }),
      context: { localEndpoint: true },
    });
    assert.deepEqual([table.costMicros, table.origin], [1250 + 1000, 'table']);
    const second = priceCall({
      provider: 'openai',
      model: 'gpt-4-turbo',
      usage: usage({ input: 1000, output: 100 }),
      context: { localEndpoint: true },
    });
    assert.deepEqual([second.costMicros, second.origin], [10_000 + 3000, 'genai-prices']);
  });

  describe('a run through the CLI', function () {
    this.timeout(30_000);
    let fake: Running<FakeOpenAI>;
    let ws: ReturnType<typeof tempWorkspace>;
    beforeEach(async () => {
      fake = await startFakeOpenAI();
      ws = tempWorkspace({});
    });
    afterEach(async () => {
      await fake.close();
      ws.cleanup();
    });

    const ledger = async (): Promise<LedgerEntry[]> => {
      const w = await Workspace.open(ws.folder, { pollMs: 0 });
      try {
        return [...w.store.queries.ledgerRows(0, Date.now() + 1)].flat();
      } finally {
        await w.close();
      }
    };

    it('runs against a loopback server the user set with no key, sends no Authorization, and bills $0 marked local', async () => {
      fake.enqueue({ text: 'Hello from llama.', usage: { input: 120, output: 30 } });
      const res = await runCli(
        ['run', 'explain', '--input', 'What is 2+2?', '--model', 'llama3.2:3b', '--workspace', ws.folder, '--json'],
        { OPENAI_BASE_URL: fake.baseUrl },
      );
      assert.equal(res.code, 0, res.stderr);
      const out = JSON.parse(res.stdout) as { status: string; costMicros: number };
      assert.deepEqual([out.status, out.costMicros], ['completed', 0]);
      assert.equal(fake.requests.length, 1);
      assert.equal(fake.requests[0]!.hadApiKey, false, 'no made-up key reaches the server');
      const rows = await ledger();
      assert.equal(rows.length, 1);
      assert.deepEqual([rows[0]!.model, rows[0]!.costMicros, rows[0]!.priceSource], ['llama3.2:3b', 0, 'local']);
      assert.deepEqual([rows[0]!.usage.input, rows[0]!.usage.output], [120, 30], 'usage is still recorded');
    });

    it("a repository's loopback baseUrl gets neither the no-key nor the $0 rule", async () => {
      writePolicy(ws.folder, { providers: { openai: { baseUrl: fake.baseUrl } } });
      // No key: a model the table knows still needs one (the endpoint is the repository's choice, not the user's).
      const noKey = await runCli(
        ['run', 'explain', '--input', 'hi', '--model', 'gpt-5-mini', '--workspace', ws.folder, '--json'],
        {},
      );
      assert.equal(noKey.code, 1, noKey.stderr);
      assert.match(noKey.stderr, /OPENAI_API_KEY is not set/);
      // With a key, a model no list knows is not free there.
      const withKey = await runCli(
        ['run', 'explain', '--input', 'hi', '--model', 'llama3.2:3b', '--workspace', ws.folder, '--json'],
        { OPENAI_API_KEY: 'sk-test' },
      );
      assert.equal(withKey.code, 1, withKey.stderr);
      assert.match(withKey.stderr, /No price for model "llama3.2:3b"/);
      assert.equal(fake.requests.length, 0, 'an unpriced call is never made');
      assert.deepEqual(await ledger(), []);
    });

    it('an OpenAI key set with a local endpoint is still sent (a server that checks keys keeps working)', async () => {
      fake.enqueue({ text: 'ok', usage: { input: 10, output: 2 } });
      const res = await runCli(
        ['run', 'explain', '--input', 'hi', '--model', 'llama3.2:3b', '--workspace', ws.folder, '--json'],
        { OPENAI_BASE_URL: fake.baseUrl, OPENAI_API_KEY: 'sk-local' },
      );
      assert.equal(res.code, 0, res.stderr);
      assert.equal(fake.requests[0]!.hadApiKey, true);
    });
  });
});
