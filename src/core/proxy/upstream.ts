import { endpointProblem } from '../trust/origins';
import type http from 'node:http';
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import type { ProviderId } from '../usage';

/**
 * The user's own endpoints behind the proxy: where each provider's requests go and with which key. Clients never
 * see these keys, and the key (or token) a client sent is never forwarded.
 */
export interface UpstreamEndpoint {
  /** The base URL as the provider's SDK takes it (Anthropic and Gemini: the root; OpenAI: ending in `/v1`). */
  baseUrl: string;
  apiKey: string;
}

/**
 * The endpoint for a provider at call time, or why there is none (a sentence naming what to set). Asked per request,
 * so a key set or cleared while the proxy runs applies to the next call and nothing keeps it.
 */
export type UpstreamResolver = (provider: ProviderId) => Promise<UpstreamEndpoint | { missing: string }>;

export const DEFAULT_BASE_URLS: Record<ProviderId, string> = {
  anthropic: 'https://api.anthropic.com',
  openai: 'https://api.openai.com/v1',
  gemini: 'https://generativelanguage.googleapis.com',
};

/** The upstream URL of a client's path: OpenAI's base already ends in `/v1`, so the client's `/v1` is dropped. */
export function upstreamUrl(provider: ProviderId, baseUrl: string, path: string, search: URLSearchParams): URL {
  const base = baseUrl.replace(/\/+$/, '');
  const rest = provider === 'openai' ? path.replace(/^\/v1(?=\/|$)/, '') : path;
  const url = new URL(base + rest);
  for (const [k, v] of search) if (k !== 'key') url.searchParams.append(k, v); // `?key=` is the client's token
  return url;
}

/** Headers that belong to one connection (RFC 9110 §7.6.1) or carry a credential: never forwarded either way. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);
const CREDENTIALS = new Set(['authorization', 'x-api-key', 'x-goog-api-key', 'api-key', 'cookie']);

/** The client's headers as the upstream gets them: no hop-by-hop or credential, the user's key, our body length. */
export function requestHeaders(
  incoming: http.IncomingHttpHeaders,
  provider: ProviderId,
  apiKey: string,
  bodyLength: number | undefined,
): http.OutgoingHttpHeaders {
  const named = connectionTokens(incoming.connection);
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || CREDENTIALS.has(name) || named.has(name)) continue;
    // The proxy read the whole body before admitting it: a `100-continue` was the proxy's to answer.
    if (name === 'content-length' || name === 'accept-encoding' || name === 'expect') continue;
    out[name] = value;
  }
  // Plain bodies: the proxy reads usage from them on the side (and decodes anyway when an upstream compresses).
  out['accept-encoding'] = 'identity';
  if (bodyLength !== undefined) out['content-length'] = String(bodyLength);
  switch (provider) {
    case 'anthropic':
      out['x-api-key'] = apiKey;
      break;
    case 'openai':
      out.authorization = `Bearer ${apiKey}`;
      break;
    case 'gemini':
      out['x-goog-api-key'] = apiKey;
      break;
  }
  return out;
}

/** The upstream's response headers as the client gets them (minus hop-by-hop; minus length/encoding when changed). */
export function responseHeaders(
  incoming: http.IncomingHttpHeaders,
  options: { bodyChanged: boolean; decoded: boolean },
): http.OutgoingHttpHeaders {
  const named = connectionTokens(incoming.connection);
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    if (name === 'content-length' && options.bodyChanged) continue;
    if (name === 'content-encoding' && options.decoded) continue;
    out[name] = value;
  }
  return out;
}

function connectionTokens(value: string | string[] | undefined): Set<string> {
  const text = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(
    text
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
}

/**
 * The proxy's HTTP client (undici, the client behind Node's fetch): kept-alive connections (a TLS handshake per call
 * would add tens of milliseconds to every answer's first byte), and a response parser that hands over a streamed
 * body for about half the CPU of node:http's, which calls into JavaScript once per chunk of the chunked encoding (a
 * ~200-byte event each): that is most of what relaying a stream costs. No time limits: a stream can be quiet for
 * minutes (a model thinking), and the client decides when to give up.
 */
let agent: Agent | undefined;
const dispatcher = () => (agent ??= new Agent({ connections: 256, headersTimeout: 0, bodyTimeout: 0 }));

/** What an upstream request reports, in order: the answer's head, its body chunk by chunk, its end; or a failure. */
export interface UpstreamHandler {
  response(status: number, headers: http.IncomingHttpHeaders): void;
  data(chunk: Buffer): void;
  end(): void;
  /** The exchange failed: before the answer's head, or in the middle of its body. */
  error(err: Error): void;
}

/**
 * A paid request sent upstream all but its last byte, until `complete`: the provider cannot act on (or bill) a
 * request whose body has not all arrived, so the proxy sends it while the call's reservation is being made durable,
 * and lets the last byte go only once it is (docs/proxy.md, "Ordering"). What the upstream does meanwhile (an early
 * answer, a reset) is kept for the handler `complete` is given.
 */
export class HeldRequest {
  /** The last byte was handed to the connection (before that, the upstream cannot have billed the request). */
  whole = false;
  private controller: Dispatcher.DispatchController | undefined;
  private handler: UpstreamHandler | undefined;
  private readonly early: Array<(handler: UpstreamHandler) => void> = [];
  private release: (go: boolean) => void = () => undefined;

  constructor(url: URL, headers: http.OutgoingHttpHeaders, payload: Buffer) {
    const gate = new Promise<boolean>((resolve) => (this.release = resolve));
    const split = Math.max(0, payload.length - 1);
    const becameWhole = () => (this.whole = true);
    async function* body(): AsyncGenerator<Buffer> {
      if (split > 0) yield payload.subarray(0, split);
      if (!(await gate)) throw new Error('The request was cut before it was whole.');
      becameWhole();
      yield payload.subarray(split);
    }
    dispatcher().dispatch(
      {
        origin: url.origin,
        path: url.pathname + url.search,
        method: 'POST',
        headers: plainHeaders(headers),
        // undici takes an async iterable body (docs/api/Dispatcher.md); its dispatch types leave that out.
        body: body() as unknown as Readable,
      },
      {
        onRequestStart: (controller) => (this.controller = controller),
        onResponseStart: (_c, status, head) => this.emit((h) => h.response(status, head)),
        onResponseData: (_c, chunk) => this.emit((h) => h.data(chunk)),
        onResponseEnd: () => this.emit((h) => h.end()),
        onResponseError: (_c, err) => this.emit((h) => h.error(err)),
      },
    );
  }

  /** Hands `handler` what already happened and what happens from now on, and sends the last byte. */
  complete(handler: UpstreamHandler): void {
    this.handler = handler;
    for (const event of this.early.splice(0)) event(handler);
    this.release(true);
  }

  /**
   * Cuts the connection. Before `complete` the body is a byte short, so the upstream drops the request unanswered
   * (nothing billed); after it, the upstream sees its client hang up.
   */
  cut(): void {
    this.release(false);
    if (this.controller && !this.controller.aborted)
      this.controller.abort(new Error('The Agent Budget proxy cut the request.'));
  }

  /** Stops reading the answer while the client is slow to take it. */
  pause(): void {
    this.controller?.pause();
  }

  resume(): void {
    this.controller?.resume();
  }

  private emit(event: (handler: UpstreamHandler) => void): void {
    if (this.handler) event(this.handler);
    else this.early.push(event);
  }
}

/** Connection failures that prove the request never reached the provider (nothing can have been billed). */
const NEVER_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_INVALID_URL',
]);

export function neverSent(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && NEVER_SENT.has(code);
}

/** A request of a free endpoint (count tokens, list models) with the user's key: its answer, the body streaming. */
export async function upstreamCall(
  url: URL,
  method: string,
  headers: http.OutgoingHttpHeaders,
  body: Buffer | undefined,
  signal?: AbortSignal,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Readable }> {
  const answer = await request(url, {
    dispatcher: dispatcher(),
    method: method as Dispatcher.HttpMethod,
    headers: plainHeaders(headers),
    body,
    signal,
  });
  return { status: answer.statusCode, headers: answer.headers, body: answer.body };
}

/** Sends a small JSON request upstream and reads the JSON answer (the count endpoints). */
export async function upstreamJson(
  url: URL,
  headers: http.OutgoingHttpHeaders,
  body: unknown,
  signal?: AbortSignal,
): Promise<{ status: number; json: unknown }> {
  const text = Buffer.from(JSON.stringify(body), 'utf8');
  const answer = await upstreamCall(
    url,
    'POST',
    { ...headers, 'content-type': 'application/json', 'content-length': String(text.length) },
    text,
    signal,
  );
  const chunks: Buffer[] = [];
  for await (const chunk of answer.body) chunks.push(chunk as Buffer);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    json = undefined;
  }
  return { status: answer.status, json };
}

/** Outgoing headers as undici takes them: strings (a number, such as a length, written out). */
function plainHeaders(headers: http.OutgoingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = typeof value === 'number' ? String(value) : value;
  }
  return out;
}

/**
 * Why an endpoint cannot be this proxy's upstream, or undefined: it points back at the proxy (a loop), or its key is a
 * proxy token (the proxy was started where another proxy's variables are set: every call would be metered twice).
 * `names` are the setting or variable names to mention.
 */
export function upstreamProblem(
  endpoint: UpstreamEndpoint,
  ownPort: number,
  tokenPrefix: string,
  names: { key: string; baseUrl: string },
): string | undefined {
  if (endpoint.apiKey.startsWith(tokenPrefix))
    return `${names.key} holds an Agent Budget proxy token, not a provider key (this terminal is already behind a budget proxy): set the provider's own key.`;
  // The same rule as every call of ours (trust/origins.ts): https, or plain http to this machine, no credentials.
  const refused = endpointProblem(endpoint.baseUrl);
  if (refused) return `${names.baseUrl} ${refused}.`;
  const url = new URL(endpoint.baseUrl);
  const local = ['127.0.0.1', 'localhost', '[::1]', '0.0.0.0'].includes(url.hostname);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  if (local && port === ownPort)
    return `${names.baseUrl} (${endpoint.baseUrl}) points at this proxy: set it to the provider's real endpoint, or unset it.`;
  return undefined;
}
