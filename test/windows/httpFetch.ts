// `fetch` for the windows tier only (test/windows/index.ts installs it; nothing in src/ or the shipped bundles sees
// it). Why: under Wine, undici's fetch cannot connect at all: it turns TCP keep-alive on before the socket connects,
// and Wine's sockets fail such a connect ("connect UNKNOWN"). That is Wine's limit, not Windows': real Windows
// connects fine. node:http sets keep-alive only once connected, so this fetch speaks HTTP through it and hands back
// a standard Response whose body streams as it arrives (the providers' SSE streams, headers before the first byte).
// It does what the SDKs need against the local fake servers: no redirects, no decompression (node:http asks for none).
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

/** Statuses whose response has no body (the Response constructor refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

export async function httpFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  // The Request constructor does fetch's own normalising: headers, the body's bytes and content type, the signal.
  const request = new Request(input, init);
  const signal = request.signal;
  signal.throwIfAborted();
  const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
  const url = new URL(request.url);
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => (headers[name] = value));
  return new Promise<Response>((resolve, reject) => {
    const outgoing = (url.protocol === 'https:' ? https : http).request(url, { method: request.method, headers });
    let incoming: http.IncomingMessage | undefined;
    // As fetch does: an abort rejects with the signal's reason before the headers, and errors the body after.
    const onAbort = () => {
      outgoing.destroy();
      incoming?.destroy(signal.reason as Error);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    outgoing.on('error', (error) => {
      signal.removeEventListener('abort', onAbort);
      // fetch's shape for a network failure: TypeError('fetch failed') with the system error (ECONNREFUSED…) as cause.
      reject(new TypeError('fetch failed', { cause: error }));
    });
    outgoing.on('response', (response) => {
      incoming = response;
      response.on('close', () => signal.removeEventListener('abort', onAbort));
      const responseHeaders = new Headers();
      for (let i = 0; i < response.rawHeaders.length; i += 2) {
        responseHeaders.append(response.rawHeaders[i]!, response.rawHeaders[i + 1]!);
      }
      const status = response.statusCode ?? 0;
      const hasBody = !NULL_BODY.has(status) && request.method !== 'HEAD';
      if (!hasBody) response.resume();
      const result = new Response(hasBody ? (Readable.toWeb(response) as ReadableStream<Uint8Array>) : null, {
        status,
        statusText: response.statusMessage ?? '',
        headers: responseHeaders,
      });
      Object.defineProperty(result, 'url', { value: request.url });
      resolve(result);
    });
    outgoing.end(body);
  });
}
