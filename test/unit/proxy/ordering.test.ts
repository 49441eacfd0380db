import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AdmitRequest } from '../../../src/core/budget/engine';
import { Meter } from '../../../src/core/metering';
import { ProxyServer, type ProxyCallEvent } from '../../../src/core/proxy';
import { startHarness, UPSTREAM_KEYS, type Harness } from './harness';

/**
 * The request goes upstream while its reservation is being made durable, all but its last byte, and the last byte
 * only once the reservation is durable (docs/proxy.md, "Ordering"): no request is ever complete at the upstream
 * without its reservation on disk.
 */
describe('proxy: a request is never whole upstream before its reservation is durable', function () {
  this.timeout(30_000);
  let h: Harness;
  let proxy: ProxyServer | undefined;
  let upstream: http.Server | undefined;
  afterEach(async () => {
    await proxy?.stop(0);
    upstream?.closeAllConnections();
    upstream?.close();
    await h.close();
  });

  const body = { model: 'claude-haiku-4-5', max_tokens: 300, messages: [{ role: 'user' as const, content: 'Go.' }] };
  const until = async (what: () => boolean, label: string) => {
    for (let i = 0; i < 250 && !what(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(what(), `timed out waiting until ${label}`);
  };

  interface Seen {
    length: number;
    received: number;
    complete: boolean;
    cut: boolean;
    body: string;
  }

  /**
   * An upstream that records each request as its bytes arrive (length announced, bytes received, whole or cut) and
   * answers a whole one with a message; and a proxy on the harness's workspace whose Meter makes each reservation
   * durable only when `durable` is called (or fails it with `fail`).
   */
  async function gatedProxy() {
    const seen: Seen[] = [];
    upstream = http.createServer((req, res) => {
      const request: Seen = {
        length: Number(req.headers['content-length']),
        received: 0,
        complete: false,
        cut: false,
        body: '',
      };
      seen.push(request);
      req.on('data', (c: Buffer) => {
        request.received += c.length;
        request.body += c.toString('utf8');
      });
      req.on('close', () => (request.cut = !request.complete));
      req.on('end', () => {
        request.complete = true;
        res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_gated' });
        res.end(
          JSON.stringify({
            id: 'msg_gated',
            type: 'message',
            role: 'assistant',
            model: 'claude-haiku-4-5',
            content: [{ type: 'text', text: 'Held, then sent.' }],
            stop_reason: 'end_turn',
            stop_sequence: null,
            usage: { input_tokens: 12, output_tokens: 5 },
          }),
        );
      });
    });
    await new Promise<void>((resolve) => upstream!.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const real = new Meter(h.workspace.engine);
    const gate: { open?: () => void; fail?: (err: Error) => void } = {};
    let preview = (request: AdmitRequest) => real.preview(request);
    const meter = {
      preview: (request: AdmitRequest) => preview(request),
      begin: async (request: AdmitRequest) => {
        await new Promise<void>((resolve, reject) => {
          gate.open = resolve;
          gate.fail = reject;
        });
        return real.begin(request);
      },
    } as unknown as Meter;
    proxy = await ProxyServer.start({
      workspace: h.workspace,
      tokens: h.tokens,
      port: 0,
      meter,
      upstream: (provider) => Promise.resolve({ baseUrl: url, apiKey: UPSTREAM_KEYS[provider] }),
    });
    const events: ProxyCallEvent[] = [];
    proxy.onDidCall((e) => events.push(e));
    const anthropic = new Anthropic({ baseURL: proxy.url, apiKey: h.token, maxRetries: 0 });
    return {
      seen,
      gate,
      events,
      anthropic,
      setPreview: (next: typeof preview) => (preview = next),
    };
  }

  beforeEach(async () => (h = await startHarness()));

  it('sends all but the last byte while the reservation is written, and the rest once it is durable', async () => {
    const { seen, gate, events, anthropic } = await gatedProxy();
    const answer = anthropic.messages.create(body);
    await until(
      () => seen[0] !== undefined && seen[0].received === seen[0].length - 1,
      'the upstream has all but the last byte',
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(seen[0]!.complete, false, 'not whole while the reservation is not durable');
    assert.equal(h.workspace.store.queries.openReservations().length, 0);
    gate.open!();
    const message = await answer;
    assert.equal(message.id, 'msg_gated');
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.complete, true);
    assert.equal(JSON.parse(seen[0]!.body).max_tokens, 300);
    await until(() => events.length === 1, 'the call is settled');
    assert.equal(events[0]!.outcome, 'settled');
    assert.equal(h.ledger().length, 1);
  });

  it('a reservation that cannot be made durable: the upstream never gets the whole request, the client a 500', async () => {
    const { seen, gate, events, anthropic } = await gatedProxy();
    const answer = anthropic.messages.create(body);
    await until(
      () => seen[0] !== undefined && seen[0].received === seen[0].length - 1,
      'the upstream has all but the last byte',
    );
    gate.fail!(new Error('ENOSPC: no space left on device'));
    await assert.rejects(answer, (err: unknown) => {
      assert.ok(err instanceof Anthropic.InternalServerError);
      assert.match(err.message, /could not reserve the call: ENOSPC/);
      return true;
    });
    await until(() => seen[0]!.cut, 'the upstream connection is cut');
    assert.equal(seen[0]!.complete, false, 'the upstream never had a whole request (nothing it could bill)');
    assert.equal(seen.length, 1, 'and nothing was sent again');
    await until(() => events.length === 1, 'the call is reported');
    assert.equal(events[0]!.outcome, 'refused');
    assert.deepEqual(h.ledger(), []);
    assert.equal(h.workspace.store.queries.openReservations().length, 0);
  });

  it('a durable admission other than the one decided in memory: the request is cut and sent again as admitted', async () => {
    const { seen, gate, events, anthropic, setPreview } = await gatedProxy();
    // As if another call had moved the budget between the decision in memory and the durable one.
    const real = new Meter(h.workspace.engine);
    setPreview((request) => ({ ...real.preview(request), maxOutputTokens: 120 }));
    const answer = anthropic.messages.create(body);
    await until(
      () => seen[0] !== undefined && seen[0].received === seen[0].length - 1,
      'the upstream has all but the last byte',
    );
    gate.open!();
    await answer;
    assert.equal(seen.length, 2);
    assert.equal(seen[0]!.complete, false, 'the first request never became whole');
    assert.match(seen[0]!.body, /"max_tokens":120/);
    assert.equal(seen[1]!.complete, true);
    assert.equal(JSON.parse(seen[1]!.body).max_tokens, 300, 'the request as the durable admission allows');
    await until(() => events.length === 1, 'the call is settled');
    assert.equal(h.ledger().length, 1, 'one call, charged once');
  });
});
