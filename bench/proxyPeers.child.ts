// The two peers of the proxy benchmark, each in a process of its own as in real use (bench/proxy.bench.ts):
// `upstream` — a minimal Anthropic server; `client` — a client calling it directly and through the proxy.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

type ToParent =
  | { kind: 'listening'; url: string }
  | { kind: 'proxied'; i: number }
  | { kind: 'round'; round: number }
  | {
      kind: 'results';
      direct: number[];
      proxied: number[];
      piped: number[];
      directBps: number;
      proxyBps: number;
      pipeBps: number;
      completed: number;
    };

const send = (message: ToParent) => process.send!(message);
const TEXT_EVENT = `event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'x'.repeat(160) } })}\n\n`;

/**
 * `message_start`, `events` text deltas written as fast as the socket takes them (one every 20 ms when the request
 * says `slow`), `message_delta` with the usage, `message_stop`. The benchmark's `events` and `slow` ride in the
 * request body, which the proxy forwards as it is.
 */
function upstream(): void {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events: number; slow: boolean };
      res.writeHead(200, { 'content-type': 'text/event-stream', 'request-id': 'req_bench' });
      res.write(
        `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { id: 'msg_b', type: 'message', role: 'assistant', model: 'claude-haiku-4-5', content: [], usage: { input_tokens: 20, output_tokens: 1 } } })}\n\n`,
      );
      let sent = 0;
      const finish = () =>
        res.end(
          `event: message_delta\ndata: ${JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { input_tokens: 20, output_tokens: body.events } })}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n`,
        );
      if (body.slow) {
        const timer = setInterval(() => {
          res.write(TEXT_EVENT);
          if (++sent >= body.events) {
            clearInterval(timer);
            finish();
          }
        }, 20);
        res.on('close', () => clearInterval(timer));
        return;
      }
      const pump = () => {
        while (sent < body.events) {
          sent += 1;
          if (!res.write(TEXT_EVENT)) return void res.once('drain', pump);
        }
        finish();
      };
      pump();
    });
  });
  server.listen(0, '127.0.0.1', () => {
    send({ kind: 'listening', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  });
}

/** One streamed Messages call as the SDK makes it; resolves with the bytes received. */
function call(
  base: string,
  token: string,
  script: { events: number; slow?: boolean },
  agent: http.Agent,
  onFirstByte?: () => void,
): Promise<number> {
  const body = JSON.stringify({
    model: 'claude-haiku-4-5',
    max_tokens: 1024,
    stream: true,
    ...script,
    messages: [{ role: 'user', content: 'Stream something for the benchmark, please.' }],
  });
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/v1/messages`, {
      method: 'POST',
      agent,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'x-api-key': token,
        'anthropic-version': '2023-06-01',
      },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`status ${res.statusCode}`));
      }
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        if (bytes === 0) onFirstByte?.();
        bytes += c.length;
      });
      res.on('end', () => resolve(bytes));
      res.on('error', reject);
    });
    req.end(body);
  });
}

/** `pipeUrl`: a bare forwarding proxy (no metering), the reference for what any extra hop costs on this machine. */
async function client(upstreamUrl: string, proxyUrl: string, pipeUrl: string, token: string): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 200 });
  // The parent answers each `proxied` once that call is settled: a client's next call comes after its last answer.
  let settled: () => void = () => undefined;
  process.on('message', (m: { kind: string }) => {
    if (m.kind === 'settled' || m.kind === 'measured') settled();
  });
  const parent = (message: ToParent) =>
    new Promise<void>((resolve) => {
      settled = resolve;
      send(message);
    });

  const ttfb = new Map<string, number[]>([
    [upstreamUrl, []],
    [proxyUrl, []],
    [pipeUrl, []],
  ]);
  for (let i = 0; i < 630; i++) {
    for (const [base, into] of ttfb) {
      const t = process.hrtime.bigint();
      let first = 0;
      await call(base, token, { events: 8 }, agent, () => (first = Number(process.hrtime.bigint() - t) / 1e6));
      if (base === proxyUrl) await parent({ kind: 'proxied', i });
      if (i >= 30) into.push(first);
    }
  }
  const best = new Map<string, number>([
    [upstreamUrl, 0],
    [proxyUrl, 0],
    [pipeUrl, 0],
  ]);
  for (let i = 0; i < 3; i++) {
    for (const base of best.keys()) {
      const t = process.hrtime.bigint();
      const bytes = await call(base, token, { events: 120_000 }, agent);
      best.set(base, Math.max(best.get(base)!, bytes / (Number(process.hrtime.bigint() - t) / 1e9)));
    }
  }
  let completed = 0;
  for (let round = 0; round < 3; round++) {
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, () => call(proxyUrl, token, { events: 100, slow: true }, agent)),
    );
    completed = results.filter((r) => r.status === 'fulfilled').length;
    await parent({ kind: 'round', round });
  }
  agent.destroy();
  send({
    kind: 'results',
    direct: ttfb.get(upstreamUrl)!,
    proxied: ttfb.get(proxyUrl)!,
    piped: ttfb.get(pipeUrl)!,
    directBps: best.get(upstreamUrl)!,
    proxyBps: best.get(proxyUrl)!,
    pipeBps: best.get(pipeUrl)!,
    completed,
  });
}

const [role, ...args] = process.argv.slice(2);
if (role === 'upstream') upstream();
else if (role === 'client') void client(args[0]!, args[1]!, args[2]!, args[3]!);
