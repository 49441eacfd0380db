import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ProxyServer, ProxyTokens } from '../src/core/proxy';
import { Workspace } from '../src/core/workspace';
import { percentile, type Figure } from './results';
import { BENCH_TMP } from './storeSeed';

/**
 * The proxy against direct calls to the same local upstream, side by side in one run (alternating, so drift in the
 * disk or the CPU hits both alike). Three processes, as in real use: the upstream, the client (proxyPeers.child.ts)
 * and the proxy (this one, with the workspace).
 * - proxy.addedTtfb…: time to the first byte of a streamed answer, through the proxy minus direct. Through the
 *   proxy it holds the whole admission: the token check, sizing the prompt, the clamp and the durable (fsync'd)
 *   reservation of the worst case before the request is whole upstream (proxy.reserveDurable…: that write alone,
 *   back to back; proxy.reserveLoneDurable…: one at a time, as a proxied call pays it).
 * - proxy.streamThroughputRatio: bytes per second of a ~24 MB stream through the proxy ÷ direct, usage read on the
 *   side while the bytes pass (best of three each).
 * - proxy.pipe…: the same through a bare forwarding proxy (no metering) in the proxy's process: the cost of one more
 *   hop on this machine, so the proxy's own cost is the difference.
 * - proxy.concurrentStreams: of 100 streams at once (each ~2 s), how many completed, three rounds; the proxy's RSS
 *   after each round (after GC): flat when the last round ends where the first did.
 */
export async function proxyBenchmarks(): Promise<Figure[]> {
  const children: ChildProcess[] = [];
  const closers: Array<() => Promise<void>> = [];
  const pipeAgent = new http.Agent({ keepAlive: true, maxSockets: 200 });
  const peer = (...args: string[]) => {
    const child = fork(path.join(__dirname, 'proxyPeers.child.ts'), args, { execArgv: ['--import', 'tsx'] });
    children.push(child);
    return child;
  };
  const folder = path.join(BENCH_TMP, 'proxy-workspace');
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(path.join(folder, '.agent-budget'), { recursive: true });
  writeFileSync(
    path.join(folder, '.agent-budget', 'budget.json'),
    JSON.stringify({ timeZone: 'UTC', limits: { workspace: { dailyUsd: 1e6, weeklyUsd: 1e6, monthlyUsd: 1e6 } } }),
  );
  const workspace = await Workspace.open(folder, { pollMs: 0 });
  let proxy: ProxyServer | undefined;
  try {
    const upstream = peer('upstream');
    const upstreamUrl = await new Promise<string>((resolve) =>
      upstream.once('message', (m: { url: string }) => resolve(m.url)),
    );
    const tokens = ProxyTokens.in(workspace.store.dir);
    const { token } = tokens.create('bench', { dailyUsd: 1e5 });
    proxy = await ProxyServer.start({
      workspace,
      tokens,
      port: 0,
      upstream: () => Promise.resolve({ baseUrl: upstreamUrl, apiKey: 'bench-key' }),
    });
    let calls = 0;
    let waiting: { count: number; resolve: () => void } | undefined;
    proxy.onDidCall(() => {
      calls += 1;
      if (waiting && calls >= waiting.count) waiting.resolve();
    });
    const settledCalls = (count: number) =>
      calls >= count ? Promise.resolve() : new Promise<void>((resolve) => (waiting = { count, resolve }));

    // A bare forwarding proxy in this same process: what one more hop costs here, metering or not.
    const pipe = http.createServer((req, res) => {
      const out = http.request(`${upstreamUrl}${req.url}`, {
        method: req.method,
        headers: req.headers,
        agent: pipeAgent,
      });
      out.on('response', (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(out);
    });
    await new Promise<void>((resolve) => pipe.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => pipe.close(() => resolve())));
    const pipeUrl = `http://127.0.0.1:${(pipe.address() as AddressInfo).port}`;
    const client = peer('client', upstreamUrl, proxy.url, pipeUrl, token);
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const rss: number[] = [];
    const results = await new Promise<{
      direct: number[];
      proxied: number[];
      piped: number[];
      directBps: number;
      proxyBps: number;
      pipeBps: number;
      completed: number;
    }>((resolve, reject) => {
      client.on('exit', (code) => reject(new Error(`the benchmark client exited (${code})`)));
      client.on('message', (m: { kind: string; i?: number; round?: number }) => {
        if (m.kind === 'proxied') void settledCalls(m.i! + 1).then(() => client.send({ kind: 'settled' }));
        else if (m.kind === 'round') {
          // Every stream so far is on the ledger before measuring (630 + 3 calls before the rounds, 100 a round).
          void settledCalls(630 + 3 + 100 * (m.round! + 1)).then(() => {
            global.gc?.();
            rss.push(process.memoryUsage().rss);
            client.send({ kind: 'measured' });
          });
        } else if (m.kind === 'results') resolve(m as never);
      });
    });
    const direct = results.direct.sort((a, b) => a - b);
    const proxied = results.proxied.sort((a, b) => a - b);
    const piped = results.piped.sort((a, b) => a - b);

    // The durable reservation alone, in the same run: back to back (the store keeps its lock and skips catching up
    // between writes), and one at a time after the event loop turned, as a proxied call pays it (the lock taken
    // again, other processes' records looked for): the floor of the added TTFB.
    const reservations = async (apart: boolean): Promise<number[]> => {
      const times: number[] = [];
      for (let i = 0; i < 300; i++) {
        if (apart) await new Promise((resolve) => setTimeout(resolve, 2));
        const t = process.hrtime.bigint();
        const admission = await workspace.engine.admit({
          workflow: 'proxy',
          runId: null,
          taskId: null,
          task: null,
          provider: 'anthropic',
          model: 'claude-haiku-4-5',
          inputTokens: 300,
          maxOutputTokens: 1024,
          tokenScopes: [],
          client: 'bench',
        });
        times.push(Number(process.hrtime.bigint() - t) / 1e6);
        await workspace.engine.release(admission);
      }
      return times.sort((a, b) => a - b);
    };
    const reserve = await reservations(false);
    const reserveLone = await reservations(true);
    const mb = (n: number) => n / 2 ** 20;
    return [
      { key: 'proxy.directTtfbP50Ms', value: percentile(direct, 50), unit: 'ms' },
      { key: 'proxy.reserveDurableP50Ms', value: percentile(reserve, 50), unit: 'ms' },
      { key: 'proxy.reserveDurableP99Ms', value: percentile(reserve, 99), unit: 'ms' },
      { key: 'proxy.reserveLoneDurableP50Ms', value: percentile(reserveLone, 50), unit: 'ms' },
      { key: 'proxy.reserveLoneDurableP99Ms', value: percentile(reserveLone, 99), unit: 'ms' },
      {
        key: 'proxy.addedTtfbP50Ms',
        value: percentile(proxied, 50) - percentile(direct, 50),
        unit: 'ms',
        target: '<= 1',
      },
      {
        key: 'proxy.addedTtfbP99Ms',
        value: percentile(proxied, 99) - percentile(direct, 99),
        unit: 'ms',
        target: '<= 5',
      },
      { key: 'proxy.pipeAddedTtfbP50Ms', value: percentile(piped, 50) - percentile(direct, 50), unit: 'ms' },
      { key: 'proxy.streamDirectMBps', value: results.directBps / 2 ** 20, unit: 'MB/s' },
      { key: 'proxy.pipeThroughputRatio', value: results.pipeBps / results.directBps, unit: 'ratio' },
      {
        key: 'proxy.streamThroughputRatio',
        value: results.proxyBps / results.directBps,
        unit: 'ratio',
        target: '>= 0.95',
      },
      { key: 'proxy.concurrentStreams', value: results.completed, unit: 'streams', target: '>= 100' },
      { key: 'proxy.concurrentRssBeforeMb', value: mb(rssBefore), unit: 'MB' },
      { key: 'proxy.concurrentRssAfterMb', value: mb(rss[rss.length - 1]!), unit: 'MB' },
      {
        key: 'proxy.concurrentRssGrowthMb',
        value: mb(rss[rss.length - 1]! - rss[0]!),
        unit: 'MB',
        target: '<= 10',
      },
    ];
  } finally {
    for (const child of children) child.kill();
    for (const close of closers) await close();
    pipeAgent.destroy();
    await proxy?.stop(0);
    await workspace.close();
  }
}
