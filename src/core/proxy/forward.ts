import type http from 'node:http';
import zlib from 'node:zlib';
import type { CallFailure, MeteredCall } from '../metering';
import type { LedgerEntry } from '../store/records';
import type { ExchangeDeps, Incoming } from './exchange';
import { JsonArrayReader, parseJson, SseReader, sseData } from './streams';
import { neverSent, responseHeaders, type HeldRequest, type UpstreamEndpoint } from './upstream';
import { sendError, type MeteredRequest, type UsageReader } from './wire';

/** The largest response body read whole for its usage (beyond it the call is charged at its reservation). */
const MAX_PARSED_BODY = 64 * 2 ** 20;

/** A call's request to the upstream, sent but for its last byte, and whether its events are filtered for the client. */
export interface Upstream {
  request: HeldRequest;
  /** The proxy changed the request (asked for a usage chunk): the events the client did not ask for are dropped. */
  filtersEvents: boolean;
}

/** Completes one admitted call's upstream request, relays the answer, and ends the call exactly once. */
export class MeteredForward {
  private readonly reader: UsageReader;
  private readonly started = Date.now();
  private readonly filtersEvents: boolean;
  private status: number | undefined;
  /** Where the answer's body goes once its head arrived (and what its end or a failure mid-body does). */
  private body: { data(chunk: Buffer): void; end(): void; cut(): void } | undefined;
  private requestId: string | null = null;
  private ended = false;
  private done: () => void = () => undefined;

  constructor(
    private readonly deps: ExchangeDeps,
    private readonly incoming: Incoming,
    private readonly request: MeteredRequest,
    private readonly call: MeteredCall,
    private readonly endpoint: UpstreamEndpoint,
    private readonly upstream: Upstream,
    private readonly shutdown: AbortSignal,
  ) {
    this.reader = request.usageReader();
    this.filtersEvents = upstream.filtersEvents;
  }

  run(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.done = resolve;
      const { req, res } = this.incoming;
      // The client may have left, or the proxy begun to stop, while the call was admitted: nothing is sent or billed.
      if (res.destroyed || req.socket.destroyed || this.shutdown.aborted) {
        this.upstream.request.cut();
        if (!res.destroyed) sendError(res, this.request.provider, 'upstream', 'The Agent Budget proxy is stopping.');
        this.end({ mayHaveBilled: false });
        return;
      }
      res.on('close', () => {
        if (!res.writableFinished) this.abort();
      });
      this.shutdown.addEventListener('abort', this.onShutdown, { once: true });
      // The reservation is durable: the request may now be whole.
      this.upstream.request.complete({
        response: (status, headers) => this.respond(status, headers),
        data: (chunk) => this.body?.data(chunk),
        end: () => this.body?.end(),
        error: (err) => (this.body ? this.body.cut() : this.upstreamFailed(err)),
      });
    });
  }

  private readonly onShutdown = () => this.abort();

  /** The client hung up, or the proxy is stopping: stop the upstream call and end the metered one. */
  private abort(): void {
    if (this.ended) return;
    // The request left: the provider may bill it (unless it already answered with an error status). Ended first,
    // so what cutting the upstream reports is not taken for an upstream failure.
    this.end(this.failure(this.status === undefined || isSuccess(this.status)));
    this.upstream.request.cut();
    this.incoming.res.destroy();
  }

  private upstreamFailed(err: Error): void {
    if (this.ended) return;
    // Before an answer, a request never whole or a refused connection was not billed; after an error status, nothing was.
    const billed = this.status === undefined ? this.upstream.request.whole && !neverSent(err) : isSuccess(this.status);
    this.deps.log(`upstream ${this.request.provider} failed: ${err.message}`);
    sendError(
      this.incoming.res,
      this.request.provider,
      'upstream',
      `Agent Budget could not reach ${this.endpoint.baseUrl}: ${err.message}`,
    );
    this.end(this.failure(billed));
  }

  private respond(status: number, headers: http.IncomingHttpHeaders): void {
    if (this.ended) return;
    const { res } = this.incoming;
    this.status = status;
    const header = headers['request-id'] ?? headers['x-request-id'];
    this.requestId = typeof header === 'string' ? header : null;
    const ok = isSuccess(status);
    const type = String(headers['content-type'] ?? '');
    const sse = type.includes('text/event-stream');
    const encoding = String(headers['content-encoding'] ?? '')
      .toLowerCase()
      .trim();
    const decoder = ok && encoding !== '' && encoding !== 'identity' ? decoderFor(encoding) : undefined;
    // Dropping the usage chunk needs the events' text: an encoding we cannot decode passes through as it is.
    const transform = ok && sse && this.filtersEvents && (encoding === '' || encoding === 'identity' || !!decoder);
    res.writeHead(status, responseHeaders(headers, { bodyChanged: transform, decoded: transform && !!decoder }));
    // The headers go out with the first bytes of the body (one write, one wake-up of the client), or on their own
    // once the event loop turns without a body byte (an upstream that sent its headers and is still thinking).
    setImmediate(() => {
      if (!res.headersSent && !res.destroyed) res.flushHeaders();
    });

    // Bytes that arrived in the same event-loop turn are relayed in one write: the upstream's parser hands over each
    // chunk of its chunked encoding on its own (a ~200-byte event each), and a write per chunk costs the proxy as
    // much as the upstream's writes cost the upstream. Nothing waits past the turn the bytes arrived in.
    const out: Buffer[] = [];
    const write = () => {
      if (out.length === 0 || res.destroyed) return void (out.length = 0);
      const chunk = out.length === 1 ? out[0]! : Buffer.concat(out);
      out.length = 0;
      if (!res.write(chunk)) {
        this.upstream.request.pause();
        res.once('drain', () => this.upstream.request.resume());
      }
    };
    // What reads the (decoded) body for usage: SSE events, a streamed JSON array, or one JSON document.
    let feed: (chunk: Buffer) => void = () => undefined;
    let finish: () => void = () => undefined;
    if (ok && sse) {
      const events = new SseReader(this.reader.markers);
      const take = (parts: ReturnType<SseReader['push']>) => {
        for (const part of parts) {
          if (Buffer.isBuffer(part)) {
            if (transform) out.push(part);
            continue;
          }
          const keep = this.reader.event(part.event, parseJson(sseData(part)));
          if (transform && keep) out.push(part.raw);
        }
        if (transform) write();
      };
      feed = (chunk) => take(events.push(chunk));
      finish = () => take(events.end());
    } else if (ok && this.request.stream && this.request.provider === 'gemini') {
      const elements = new JsonArrayReader();
      const take = (list: string[]) => {
        for (const text of list)
          if (this.reader.markers.some((m) => text.includes(m))) this.reader.event(null, parseJson(text));
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
    // This turn's bytes: passed on first (unless the events are filtered), then read for usage on the side.
    const arrived: Buffer[] = [];
    const relay = () => {
      if (arrived.length === 0) return;
      const chunk = arrived.length === 1 ? arrived[0]! : Buffer.concat(arrived);
      arrived.length = 0;
      if (!transform) {
        out.push(chunk);
        write();
      }
      if (decoder) decoder.write(chunk);
      else feed(chunk);
    };
    this.body = {
      data: (chunk) => {
        if (arrived.push(chunk) === 1) process.nextTick(relay);
      },
      end: () => {
        relay();
        if (decoder) decoder.end();
        else complete();
      },
      cut: () => {
        if (this.ended) return;
        relay();
        // The upstream dropped mid-body: the client sees the same cut.
        res.destroy();
        this.end(this.failure(ok));
      },
    };
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
