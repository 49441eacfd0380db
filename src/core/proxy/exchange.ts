import type http from 'node:http';
import zlib from 'node:zlib';
import { BudgetBlockedError, type AdmitRequest, type BudgetEngine } from '../budget/engine';
import type { CallFailure, Meter, MeteredCall } from '../metering';
import { formatUsd } from '../money';
import { resolvePrice, UnknownModelError, type ResolvedPrice } from '../pricing/cost';
import type { LedgerEntry } from '../store/records';
import type { ProviderId } from '../usage';
import { promptBound, tokenizerCount } from './sizing';
import { JsonArrayReader, parseJson, SseReader, sseData } from './streams';
import { clientCaps, type ProxyClient } from './tokens';
import {
  neverSent,
  openUpstream,
  requestHeaders,
  responseHeaders,
  upstreamJson,
  upstreamUrl,
  type UpstreamEndpoint,
  type UpstreamResolver,
} from './upstream';
import {
  errorBody,
  isObject,
  KIND_STATUS,
  ProxyRequestError,
  type MeteredRequest,
  type ProxyErrorKind,
  type UsageReader,
} from './wire';

/** The workflow proxied calls are filed under (the client is who made each one). */
export const PROXY_WORKFLOW = 'proxy';

/** The largest response body read whole for its usage (beyond it the call is charged at its reservation). */
const MAX_PARSED_BODY = 64 * 2 ** 20;

export interface ExchangeDeps {
  engine: BudgetEngine;
  meter: Meter;
  upstream: UpstreamResolver;
  log: (line: string) => void;
  /** Each metered request once it is over (for the CLI's log lines and the editor's output channel). */
  report: (event: ProxyCallEvent) => void;
}

/** How one metered request ended. */
export interface ProxyCallEvent {
  client: string;
  provider: ProviderId;
  model: string | undefined;
  /**
   * `settled` from the provider's usage; `estimated` at its reservation (usage never came); `released` nothing
   * billed (the upstream answered an error status, or nothing was sent); `blocked` by the budget (402); `refused`
   * before metering (a bad request, an unknown model, no upstream key).
   */
  outcome: 'settled' | 'estimated' | 'released' | 'blocked' | 'refused';
  /** The HTTP status the client got (0 when it hung up first). */
  status: number;
  costMicros: number;
  message?: string;
}

/** One client request, authenticated, with its body read. */
export interface Incoming {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  body: Buffer;
  client: ProxyClient;
}

/** One line for a log: who called what, and how it ended (the CLI's stderr, the editor's output channel). */
export function describeCall(e: ProxyCallEvent): string {
  const what = `${e.client} ${e.provider}${e.model ? ` ${e.model}` : ''}`;
  switch (e.outcome) {
    case 'settled':
      return `${what}: ${formatUsd(e.costMicros)}`;
    case 'estimated':
      return `${what}: ${formatUsd(e.costMicros)} (estimated: no usage arrived)`;
    case 'released':
      return `${what}: not billed (HTTP ${e.status || 'none: the client left'})`;
    case 'blocked':
      return `${what}: blocked (402) — ${e.message ?? ''}`;
    case 'refused':
      return `${what}: refused (${e.status}) — ${e.message ?? ''}`;
  }
}

/** Answers with the provider's error shape (unless the response already started: then the client sees a cut). */
export function sendError(res: http.ServerResponse, provider: ProviderId, kind: ProxyErrorKind, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(errorBody(provider, kind, message));
  res.writeHead(KIND_STATUS[kind], {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    // The answer is the proxy's own, not the provider's: say so to anyone reading headers.
    'x-agent-budget': kind === 'budget' ? 'blocked' : 'refused',
  });
  res.end(text);
}

/**
 * One metered call: parse, admit through the Meter (402 when the budget cannot pay), clamp the output bound, forward
 * with the user's key, pass the answer through as it arrives while reading its usage on the side, and end the call
 * exactly once — settled from the usage, released when nothing can have been billed, charged at its reservation
 * otherwise. Resolves once the call is ended. `shutdown` aborts it (the proxy is stopping).
 */
export async function meteredExchange(
  deps: ExchangeDeps,
  incoming: Incoming,
  provider: ProviderId,
  parse: (body: Record<string, unknown>) => MeteredRequest,
  shutdown: AbortSignal,
): Promise<void> {
  const { res } = incoming;
  let model: string | undefined;
  const refuse = (kind: ProxyErrorKind, message: string) => {
    sendError(res, provider, kind, message);
    const outcome = kind === 'budget' ? 'blocked' : 'refused';
    deps.report({
      client: incoming.client.name,
      provider,
      model,
      outcome,
      status: KIND_STATUS[kind],
      costMicros: 0,
      message,
    });
  };
  const json = parseJson(incoming.body.toString('utf8'));
  if (!isObject(json)) return refuse('badRequest', 'The request body must be a JSON object.');
  let request: MeteredRequest;
  let admit: AdmitRequest;
  let endpoint: UpstreamEndpoint;
  try {
    request = parse(json);
    model = request.model;
    const resolved = await deps.upstream(provider);
    if ('missing' in resolved) return refuse('badRequest', resolved.missing);
    endpoint = resolved;
    admit = admitRequest(deps, incoming, request, endpoint);
  } catch (err) {
    if (err instanceof ProxyRequestError) return refuse(err.kind, err.message);
    if (err instanceof UnknownModelError) return refuse('badRequest', `Agent Budget: ${err.message}`);
    throw err;
  }
  let call: MeteredCall;
  try {
    call = await deps.meter.begin(admit);
  } catch (err) {
    if (err instanceof BudgetBlockedError) return refuse('budget', `Agent Budget: ${err.message}`);
    if (err instanceof UnknownModelError) return refuse('badRequest', `Agent Budget: ${err.message}`);
    deps.log(`admission failed: ${(err as Error).message}`);
    return refuse('internal', `Agent Budget could not reserve the call: ${(err as Error).message}`);
  }
  const { admission } = call;
  // The clamp replaces the client's bound when it is lower, and is set when the client sent none and a budget binds
  // (with none sent and only the model's maximum binding, the provider's default is that maximum).
  const sent = request.maxOutputTokens;
  if (sent !== undefined ? admission.maxOutputTokens < sent : admission.clampedBy !== 'model')
    request.setMaxOutputTokens(admission.maxOutputTokens);
  const { filtersEvents } = request.prepare();
  const payload = Buffer.from(JSON.stringify(request.body), 'utf8');
  await new MeteredForward(deps, incoming, request, call, endpoint, payload, filtersEvents, shutdown).run();
}

/** The admission request of a proxied call: the client's scopes, the prompt bound and, when it binds, a count. */
function admitRequest(
  deps: ExchangeDeps,
  incoming: Incoming,
  request: MeteredRequest,
  endpoint: UpstreamEndpoint,
): AdmitRequest {
  const price = resolvePrice(request.provider, request.model, deps.engine.currentPolicy.prices);
  let inputTokens = promptBound(request.prompt);
  let exact: (() => Promise<number>) | undefined;
  if (request.promptOutside) {
    // Part of the prompt is held by the provider: only the context window bounds it, and no count sees it.
    if (price.contextWindow === undefined)
      throw new ProxyRequestError(
        'badRequest',
        `Agent Budget cannot bound this request's prompt: part of it is stored by the provider (a previous response, a conversation or a cache) and ${request.model} has no known context window. Send the whole conversation, or add "contextWindow" to its price in .agent-budget/budget.json.`,
      );
    inputTokens = price.contextWindow;
  } else {
    if (price.contextWindow !== undefined) inputTokens = Math.min(inputTokens, price.contextWindow);
    const count = request.countRequest?.();
    if (count) exact = () => countUpstream(incoming, request.provider, endpoint, count);
    else if (request.prompt.referencedMedia === 0) exact = () => Promise.resolve(tokenizerCount(request.prompt));
  }
  return {
    workflow: PROXY_WORKFLOW,
    runId: null,
    taskId: null,
    task: null,
    provider: request.provider,
    model: request.model,
    inputTokens,
    exactInputTokens: exact,
    maxOutputTokens: request.maxOutputTokens,
    tokenScopes: [],
    promptCaching: writesAboveInput(price, request.promptCaching),
    client: incoming.client.name,
    clientCaps: clientCaps(incoming.client),
  };
}

/** The cache write rate matters to the worst case only where it is above the input rate. */
function writesAboveInput(
  price: ResolvedPrice,
  caching: MeteredRequest['promptCaching'],
): MeteredRequest['promptCaching'] {
  const tiers = [price.base, ...(price.above ? [price.above] : [])];
  if (caching === '5m' && tiers.some((t) => t.cacheWrite5mPerMTok > t.inputPerMTok)) return '5m';
  if (caching === '1h' && tiers.some((t) => t.cacheWrite1hPerMTok > t.inputPerMTok)) return '1h';
  return 'none';
}

/** The provider's count endpoint, with the user's key and the client's version headers. */
async function countUpstream(
  incoming: Incoming,
  provider: ProviderId,
  endpoint: UpstreamEndpoint,
  count: NonNullable<ReturnType<NonNullable<MeteredRequest['countRequest']>>>,
): Promise<number> {
  const url = upstreamUrl(provider, endpoint.baseUrl, count.path, new URLSearchParams());
  const headers = requestHeaders(incoming.req.headers, provider, endpoint.apiKey, undefined);
  const answer = await upstreamJson(url, headers, count.body, AbortSignal.timeout(15_000));
  const n = answer.status === 200 ? count.read(answer.json) : undefined;
  if (n === undefined) throw new Error(`count endpoint answered ${answer.status}`);
  return n;
}

/** Forwards one admitted call and ends it exactly once, however the exchange ends. */
class MeteredForward {
  private readonly reader: UsageReader;
  private readonly started = Date.now();
  private upstream: http.ClientRequest | undefined;
  private status: number | undefined;
  private requestId: string | null = null;
  private ended = false;
  private done: () => void = () => undefined;

  constructor(
    private readonly deps: ExchangeDeps,
    private readonly incoming: Incoming,
    private readonly request: MeteredRequest,
    private readonly call: MeteredCall,
    private readonly endpoint: UpstreamEndpoint,
    private readonly payload: Buffer,
    private readonly filtersEvents: boolean,
    private readonly shutdown: AbortSignal,
  ) {
    this.reader = request.usageReader();
  }

  run(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.done = resolve;
      const { req, res } = this.incoming;
      // The client may have left, or the proxy begun to stop, while the call was admitted: nothing is sent or billed.
      if (res.destroyed || req.socket.destroyed || this.shutdown.aborted) {
        if (!res.destroyed) sendError(res, this.request.provider, 'upstream', 'The Agent Budget proxy is stopping.');
        this.end({ mayHaveBilled: false });
        return;
      }
      res.on('close', () => {
        if (!res.writableFinished) this.abort();
      });
      this.shutdown.addEventListener('abort', this.onShutdown, { once: true });
      const url = upstreamUrl(
        this.request.provider,
        this.endpoint.baseUrl,
        this.incoming.url.pathname,
        this.incoming.url.searchParams,
      );
      const headers = requestHeaders(req.headers, this.request.provider, this.endpoint.apiKey, this.payload.length);
      const upstream = openUpstream(url, 'POST', headers);
      this.upstream = upstream;
      upstream.on('error', (err) => this.upstreamFailed(err));
      upstream.on('response', (upRes) => this.respond(upRes));
      upstream.end(this.payload);
    });
  }

  private readonly onShutdown = () => this.abort();

  /** The client hung up, or the proxy is stopping: stop the upstream call and end the metered one. */
  private abort(): void {
    if (this.ended) return;
    this.upstream?.destroy();
    this.incoming.res.destroy();
    // The request left: the provider may bill it (unless it already answered with an error status).
    this.end(this.failure(this.status === undefined || isSuccess(this.status)));
  }

  private upstreamFailed(err: Error): void {
    if (this.ended) return;
    // Before an answer, a refused connection proves nothing was sent; after an error status, nothing was billed.
    const billed = this.status === undefined ? !neverSent(err) : isSuccess(this.status);
    this.deps.log(`upstream ${this.request.provider} failed: ${err.message}`);
    sendError(
      this.incoming.res,
      this.request.provider,
      'upstream',
      `Agent Budget could not reach ${this.endpoint.baseUrl}: ${err.message}`,
    );
    this.end(this.failure(billed));
  }

  private respond(upRes: http.IncomingMessage): void {
    if (this.ended) {
      upRes.destroy();
      return;
    }
    const { res } = this.incoming;
    const status = upRes.statusCode ?? 502;
    this.status = status;
    const header = upRes.headers['request-id'] ?? upRes.headers['x-request-id'];
    this.requestId = typeof header === 'string' ? header : null;
    const ok = isSuccess(status);
    const type = String(upRes.headers['content-type'] ?? '');
    const sse = type.includes('text/event-stream');
    const encoding = String(upRes.headers['content-encoding'] ?? '')
      .toLowerCase()
      .trim();
    const decoder = ok && encoding !== '' && encoding !== 'identity' ? decoderFor(encoding) : undefined;
    // Dropping the usage chunk needs the events' text: an encoding we cannot decode passes through as it is.
    const transform = ok && sse && this.filtersEvents && (encoding === '' || encoding === 'identity' || !!decoder);
    res.writeHead(status, responseHeaders(upRes.headers, { bodyChanged: transform, decoded: transform && !!decoder }));
    res.flushHeaders();

    const write = (chunk: Buffer | string) => {
      if (!res.write(chunk)) {
        upRes.pause();
        res.once('drain', () => upRes.resume());
      }
    };
    // What reads the (decoded) body for usage: SSE events, a streamed JSON array, or one JSON document.
    let feed: (chunk: Buffer) => void = () => undefined;
    let finish: () => void = () => undefined;
    if (ok && sse) {
      const events = new SseReader();
      const take = (list: ReturnType<SseReader['push']>) => {
        for (const e of list) {
          const keep = this.reader.wants(e.event, e.raw) ? this.reader.event(e.event, parseJson(sseData(e))) : true;
          if (transform && keep) write(e.raw);
        }
      };
      feed = (chunk) => take(events.push(chunk));
      finish = () => take(events.end());
    } else if (ok && this.request.stream && this.request.provider === 'gemini') {
      const elements = new JsonArrayReader();
      const take = (list: string[]) => {
        for (const text of list) if (this.reader.wants(null, text)) this.reader.event(null, parseJson(text));
      };
      feed = (chunk) => take(elements.push(chunk));
      finish = () => take(elements.end());
    } else if (ok) {
      const chunks: Buffer[] = [];
      let size = 0;
      feed = (chunk) => {
        size += chunk.length;
        if (size <= MAX_PARSED_BODY) chunks.push(chunk);
      };
      finish = () => {
        if (size <= MAX_PARSED_BODY) this.reader.body(parseJson(Buffer.concat(chunks).toString('utf8')));
      };
    }

    const complete = () => {
      if (this.ended) return;
      try {
        finish();
      } catch (err) {
        this.deps.log(`could not read the usage of a ${this.request.api} response: ${(err as Error).message}`);
      }
      res.end();
      if (!ok) this.end({ mayHaveBilled: false, requestId: this.requestId });
      else this.settle();
    };
    if (decoder) {
      decoder.on('data', (chunk: Buffer) => feed(chunk));
      decoder.on('end', complete);
      decoder.on('error', (err) => {
        this.deps.log(`could not decode the ${this.request.api} response: ${err.message}`);
        feed = () => undefined; // the bytes still pass through; the usage is unknown (charged at the reservation)
        finish = () => undefined;
        complete();
      });
    }
    upRes.on('data', (chunk: Buffer) => {
      if (!transform) write(chunk);
      if (decoder) decoder.write(chunk);
      else feed(chunk);
    });
    upRes.on('end', () => {
      if (decoder) decoder.end();
      else complete();
    });
    upRes.on('close', () => {
      if (upRes.complete || this.ended) return;
      // The upstream dropped mid-body: the client sees the same cut.
      res.destroy();
      this.end(this.failure(ok));
    });
  }

  /** A call that answered 2xx and ended: its usage, or its reservation when the answer carried none. */
  private settle(): void {
    this.ended = true;
    this.shutdown.removeEventListener('abort', this.onShutdown);
    const latencyMs = Date.now() - this.started;
    const requestId = this.requestId ?? this.reader.responseId ?? null;
    this.call
      .settle({ usage: this.reader.usage, requestId, latencyMs })
      .then((entry) => this.reportEnd(entry))
      .catch((err: unknown) => this.deps.log(`could not settle a call (charged as estimated later): ${String(err)}`))
      .finally(this.done);
  }

  private reportEnd(entry: LedgerEntry | undefined): void {
    this.deps.report({
      client: this.incoming.client.name,
      provider: this.request.provider,
      model: this.request.model,
      outcome: !entry ? 'released' : entry.estimated ? 'estimated' : 'settled',
      status: this.incoming.res.headersSent ? this.incoming.res.statusCode : 0,
      costMicros: entry?.costMicros ?? 0,
    });
  }

  private failure(mayHaveBilled: boolean): CallFailure {
    return {
      finalUsage: this.reader.usage,
      mayHaveBilled,
      partial: { inputTokens: this.reader.partialInputTokens },
      requestId: this.requestId ?? this.reader.responseId ?? null,
    };
  }

  private end(failure: CallFailure): void {
    if (this.ended) return;
    this.ended = true;
    this.shutdown.removeEventListener('abort', this.onShutdown);
    this.call
      .fail(failure)
      .then((entry) => this.reportEnd(entry))
      .catch((err: unknown) => this.deps.log(`could not end a call (charged as estimated later): ${String(err)}`))
      .finally(this.done);
  }
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

function decoderFor(encoding: string): zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | undefined {
  switch (encoding) {
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip();
    case 'deflate':
      return zlib.createInflate();
    case 'br':
      return zlib.createBrotliDecompress();
    default:
      return undefined;
  }
}
