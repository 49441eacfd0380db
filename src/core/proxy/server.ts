import { setMaxListeners } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Emitter } from '../events';
import { Meter } from '../metering';
import type { ProviderId } from '../usage';
import type { Workspace } from '../workspace';
import { meteredExchange, type Incoming, type ProxyCallEvent } from './exchange';
import { readApi } from './readApi';
import { route, type Route } from './routes';
import { TokenFileError, type ProxyClient, type ProxyTokens } from './tokens';
import { requestHeaders, responseHeaders, upstreamCall, upstreamUrl, type UpstreamResolver } from './upstream';
import { sendError } from './wire';

export const DEFAULT_PROXY_PORT = 8788;
/** The proxy listens on the loopback interface only: it spends the user's money on behalf of whoever reaches it. */
export const PROXY_HOST = '127.0.0.1';
/** The largest request body accepted (Anthropic's own limit is 32 MB; Gemini's inline data 20 MB). */
const MAX_REQUEST_BODY = 64 * 2 ** 20;

export interface ProxyServerOptions {
  workspace: Workspace;
  tokens: ProxyTokens;
  upstream: UpstreamResolver;
  /** Default 8788; 0 picks a free port. */
  port?: number;
  /** The metered-call seam (default: a Meter over the workspace's engine). */
  meter?: Meter;
  log?: (line: string) => void;
}

/**
 * The budget firewall (docs/proxy.md): an HTTP server on 127.0.0.1 serving the providers' own paths in front of the user's
 * upstreams, each request authenticated by a client token and each paid one admitted, clamped, reserved and settled
 * through the same engine and ledger as our workflows; and the read API under `/agent-budget/v1/`.
 */
export class ProxyServer {
  private readonly calls = new Emitter<ProxyCallEvent>();
  /** Every metered request once it is over. */
  readonly onDidCall = this.calls.event;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly shutdown = new AbortController();
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly server: http.Server,
    private readonly options: ProxyServerOptions,
    private readonly meter: Meter,
    readonly port: number,
  ) {
    // Every call in flight listens for the shutdown: hundreds at once are expected, not a leak.
    setMaxListeners(0, this.shutdown.signal);
  }

  /** Starts listening; rejects when the port is taken (with the port in the message). */
  static async start(options: ProxyServerOptions): Promise<ProxyServer> {
    // Requests can arrive only once listening, and the proxy is made just after: until then they are dropped.
    const ready: { proxy?: ProxyServer } = {};
    const server = http.createServer((req, res) => {
      const proxy = ready.proxy;
      if (!proxy) return res.destroy();
      proxy.handle(req, res).catch((err: unknown) => {
        proxy.log(`request failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        if (!res.headersSent) sendError(res, 'openai', 'internal', `Agent Budget proxy error: ${String(err)}`);
        else res.destroy();
      });
    });
    // Streams can be quiet for minutes (a model thinking); the client decides when to give up.
    server.requestTimeout = 0;
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      const failed = (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'EADDRINUSE'
            ? new Error(
                `Port ${options.port ?? DEFAULT_PROXY_PORT} on ${PROXY_HOST} is in use: choose another with --port.`,
              )
            : err,
        );
      server.once('error', failed);
      server.listen(options.port ?? DEFAULT_PROXY_PORT, PROXY_HOST, () => {
        server.off('error', failed);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    ready.proxy = new ProxyServer(
      server,
      options,
      options.meter ?? new Meter(options.workspace.engine, () => options.workspace.team?.gate),
      port,
    );
    return ready.proxy;
  }

  get url(): string {
    return `http://${PROXY_HOST}:${this.port}`;
  }

  /** Requests being answered now. */
  get active(): number {
    return this.inFlight.size;
  }

  /**
   * Stops accepting requests and lets those in flight finish for up to `graceMs`; the rest are aborted upstream and
   * charged as estimated (or settled, when their usage had arrived). Resolves once every call is on the ledger.
   * With `graceMs` 0 the aborts happen before this returns, so their ledger writes are queued ahead of anything the
   * caller does next (closing the store).
   */
  stop(graceMs = 5_000): Promise<void> {
    if (this.stopping) {
      if (graceMs <= 0) this.shutdown.abort(); // a second, impatient stop cuts the grace short
      return this.stopping;
    }
    this.server.close();
    this.server.closeIdleConnections();
    if (graceMs <= 0) this.shutdown.abort();
    this.stopping = (async () => {
      if (this.inFlight.size > 0 && !this.shutdown.signal.aborted) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.allSettled([...this.inFlight]),
          new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
          new Promise<void>((resolve) => this.shutdown.signal.addEventListener('abort', () => resolve())),
        ]);
        clearTimeout(timer);
      }
      this.shutdown.abort();
      await Promise.allSettled([...this.inFlight]);
      this.server.closeAllConnections();
      this.calls.dispose();
    })();
    return this.stopping;
  }

  private log(line: string): void {
    this.options.log?.(`agent-budget proxy: ${line}`);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://${PROXY_HOST}`);
    const where = route(req.method ?? 'GET', url.pathname, req.headers, url.searchParams);
    const provider: ProviderId = where.kind === 'readApi' ? 'openai' : where.provider;
    // A web page cannot use the proxy through a DNS name that points at 127.0.0.1 (DNS rebinding).
    if (!this.addressedToUs(req.headers.host)) {
      req.resume();
      return sendError(res, provider, 'forbidden', `Requests must be addressed to ${this.url}.`);
    }
    let client: ProxyClient | undefined;
    try {
      client = this.authenticate(req, url);
    } catch (err) {
      if (!(err instanceof TokenFileError)) throw err;
      req.resume();
      return sendError(res, provider, 'internal', `Agent Budget proxy: ${err.message}`);
    }
    if (!client) {
      req.resume(); // nothing goes upstream; the body is read and dropped
      return sendError(
        res,
        provider,
        'auth',
        'Agent Budget proxy: no valid client token. Send the token from `agent-budget proxy token create --name <client>` as the API key (it may have been revoked).',
      );
    }
    if (where.kind === 'unknown') {
      req.resume();
      return sendError(
        res,
        provider,
        'notFound',
        `Agent Budget proxy does not serve ${req.method} ${url.pathname} (only the paths whose cost it can meter; see docs/proxy.md).`,
      );
    }
    const body = await readBody(req);
    if (body === 'gone') return;
    if (body === 'tooLarge') return sendError(res, provider, 'tooLarge', 'The request body is larger than 64 MiB.');
    const incoming: Incoming = { req, res, url, body, client };
    await this.track(this.dispatch(where, incoming));
  }

  private dispatch(where: Exclude<Route, { kind: 'unknown' }>, incoming: Incoming): Promise<void> {
    switch (where.kind) {
      case 'metered':
        return meteredExchange(
          {
            engine: this.options.workspace.engine,
            meter: this.meter,
            upstream: this.options.upstream,
            log: (line) => this.log(line),
            report: (event) => this.calls.fire(event),
          },
          incoming,
          where.provider,
          where.parse,
          this.shutdown.signal,
        );
      case 'free':
        return this.passThrough(where.provider, incoming);
      case 'readApi': {
        const answer = readApi(
          this.options.workspace,
          where.resource,
          incoming.url.searchParams,
          this.options.tokens.list(),
        );
        const text = JSON.stringify(answer.body, null, 2);
        incoming.res.writeHead(answer.status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
          'cache-control': 'no-store',
        });
        incoming.res.end(text);
        return Promise.resolve();
      }
    }
  }

  private async track(work: Promise<void>): Promise<void> {
    this.inFlight.add(work);
    try {
      await work;
    } finally {
      this.inFlight.delete(work);
    }
  }

  /** The client's token, wherever its SDK puts a key: `x-api-key`, `Authorization: Bearer`, `x-goog-api-key`, `?key=`. */
  private authenticate(req: http.IncomingMessage, url: URL): ProxyClient | undefined {
    const candidates: string[] = [];
    const add = (v: string | string[] | undefined | null) => {
      if (typeof v === 'string' && v !== '') candidates.push(v.trim());
    };
    add(req.headers['x-api-key']);
    const auth = req.headers.authorization;
    if (typeof auth === 'string' && /^bearer\s+/i.test(auth)) add(auth.replace(/^bearer\s+/i, ''));
    add(req.headers['x-goog-api-key']);
    add(url.searchParams.get('key'));
    for (const token of candidates) {
      const client = this.options.tokens.verify(token);
      if (client) return client;
    }
    return undefined;
  }

  private addressedToUs(host: string | undefined): boolean {
    return host === `${PROXY_HOST}:${this.port}` || host === `localhost:${this.port}`;
  }

  /** Free endpoints (count tokens, list models): forwarded with the user's key, not metered. */
  private async passThrough(provider: ProviderId, incoming: Incoming): Promise<void> {
    const { req, res, url, body } = incoming;
    const endpoint = await this.options.upstream(provider);
    if ('missing' in endpoint) return sendError(res, provider, 'badRequest', endpoint.missing);
    const target = upstreamUrl(provider, endpoint.baseUrl, url.pathname, url.searchParams);
    const headers = requestHeaders(req.headers, provider, endpoint.apiKey, body.length > 0 ? body.length : undefined);
    // The client leaving stops the upstream request (a hang-up before the answer, or while it streams).
    const left = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) left.abort();
    });
    let answer: Awaited<ReturnType<typeof upstreamCall>>;
    try {
      answer = await upstreamCall(
        target,
        req.method ?? 'GET',
        headers,
        body.length > 0 ? body : undefined,
        left.signal,
      );
    } catch (err) {
      if (!left.signal.aborted)
        sendError(
          res,
          provider,
          'upstream',
          `Agent Budget could not reach ${endpoint.baseUrl}: ${(err as Error).message}`,
        );
      return;
    }
    if (res.destroyed) return void answer.body.destroy(); // the client left as the answer came
    res.writeHead(answer.status, responseHeaders(answer.headers, { bodyChanged: false, decoded: false }));
    await new Promise<void>((resolve) => {
      answer.body.on('error', () => res.destroy());
      res.on('close', resolve);
      answer.body.pipe(res);
    });
  }
}

/** The whole request body; `tooLarge` past the limit; `gone` when the client left before sending it all. */
function readBody(req: http.IncomingMessage): Promise<Buffer | 'tooLarge' | 'gone'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_REQUEST_BODY) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_REQUEST_BODY ? 'tooLarge' : Buffer.concat(chunks)));
    req.on('close', () => {
      if (!req.complete) resolve('gone');
    });
    req.on('error', () => resolve('gone'));
  });
}
