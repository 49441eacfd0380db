import { endpointProblem } from '../trust/origins';
import http from 'node:http';
import https from 'node:https';
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
    if (name === 'content-length' || name === 'accept-encoding') continue;
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

// Kept-alive connections: a TLS handshake per call would add tens of milliseconds to every answer's first byte.
const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 256 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 256 }),
};

/** Starts an upstream request (the caller writes or ends it, and listens for `response` and `error`). */
export function openUpstream(url: URL, method: string, headers: http.OutgoingHttpHeaders): http.ClientRequest {
  const client = url.protocol === 'https:' ? https : http;
  return client.request(url, { method, headers, agent: agents[url.protocol as 'http:' | 'https:'] });
}

/**
 * A paid request sent upstream all but its last byte, until `complete`: the provider cannot act on (or bill) a
 * request whose body has not all arrived, so the proxy sends it while the call's reservation is being made durable,
 * and lets the last byte go only once it is (docs/proxy.md, "Ordering"). What the upstream does meanwhile (an early
 * answer, a reset) is kept for whoever completes the request.
 */
export class HeldRequest {
  readonly request: http.ClientRequest;
  /** The whole request was handed to the socket (before that, the upstream cannot have billed it). */
  whole = false;
  private early: { error?: Error; response?: http.IncomingMessage } = {};
  private readonly onError = (err: Error) => void (this.early.error ??= err);
  private readonly onResponse = (res: http.IncomingMessage) => void (this.early.response ??= res);

  constructor(
    url: URL,
    headers: http.OutgoingHttpHeaders,
    private readonly payload: Buffer,
  ) {
    this.request = openUpstream(url, 'POST', headers);
    this.request.on('error', this.onError);
    this.request.on('response', this.onResponse);
    if (payload.length > 1) this.request.write(payload.subarray(0, payload.length - 1));
  }

  /** Sends the last byte, after handing `on` what already happened and what happens from now on. */
  complete(on: { error(err: Error): void; response(res: http.IncomingMessage): void }): void {
    this.request.off('error', this.onError);
    this.request.off('response', this.onResponse);
    this.request.on('error', on.error);
    this.request.on('response', on.response);
    const { error, response } = this.early;
    if (error) return on.error(error);
    this.whole = true;
    this.request.end(this.payload.length > 1 ? this.payload.subarray(this.payload.length - 1) : this.payload);
    if (response) on.response(response);
  }

  /**
   * Cuts the connection. Before `complete` the body is a byte short, so the upstream drops the request unanswered
   * (nothing billed); after it, the upstream sees its client hang up.
   */
  cut(): void {
    this.request.destroy();
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

/** Sends a small JSON request upstream and reads the JSON answer (the count endpoints). */
export function upstreamJson(
  url: URL,
  headers: http.OutgoingHttpHeaders,
  body: unknown,
  signal?: AbortSignal,
): Promise<{ status: number; json: unknown }> {
  const text = Buffer.from(JSON.stringify(body), 'utf8');
  return new Promise((resolve, reject) => {
    const req = openUpstream(url, 'POST', {
      ...headers,
      'content-type': 'application/json',
      'content-length': String(text.length),
    });
    const abort = () => req.destroy(new Error('aborted'));
    signal?.addEventListener('abort', abort, { once: true });
    req.on('error', (err) => {
      signal?.removeEventListener('abort', abort);
      reject(err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        signal?.removeEventListener('abort', abort);
        let json: unknown;
        try {
          json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.end(text);
  });
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
