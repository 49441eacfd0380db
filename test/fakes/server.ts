import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PromptCache, type CacheUsage } from './caching';

/**
 * The shared plumbing of the fake provider servers: a scripted reply queue, a request log, SSE writing with
 * scripted delays / cuts / hangs, and a node:http server bound to 127.0.0.1 on a free port. Each provider's
 * fake (anthropic.ts, openai.ts, gemini.ts) only maps a provider-neutral `FakeReply` to its wire format.
 *
 * Used by the adapter unit tests now, and meant for the runner, e2e tests and the demo: start one with
 * `startFakeAnthropic()` (or all three on one port with `startFakeProviders()`), point the SDK's base URL at
 * `fake.baseUrl`, `enqueue()` replies, assert on `fake.requests`, and `close()` it.
 */

/** Token counts of a scripted reply, in our disjoint kinds; each fake converts them to its provider's raw shape. */
export interface FakeUsage {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  reasoning: number;
}

export interface FakeToolCall {
  id?: string;
  name: string;
  input: unknown;
}

/** A normal answer (streamed as SSE when the request asks for a stream). */
export interface FakeMessageReply {
  type?: 'message';
  /** The answer text; default: derived from the prompt. */
  text?: string;
  toolCalls?: FakeToolCall[];
  /** Reasoning text (Anthropic thinking block, Gemini thought part, OpenAI Responses reasoning item). */
  thinking?: string;
  /** Token counts; unspecified kinds default to a count derived from the prompt and reply (cache kinds to 0). */
  usage?: Partial<FakeUsage>;
  /** Sent verbatim as the provider's usage object instead of one built from `usage`. */
  rawUsage?: unknown;
  /**
   * Bill exactly the request's output bound (`max_tokens` and its kin) as output, like a model that writes until its
   * limit: the worst case a budget must have reserved for.
   */
  outputAtLimit?: boolean;
  /**
   * OpenAI Chat Completions only: answer like a compatible server that ignores `stream_options.include_usage` and
   * reports no usage at all (no usage chunk, no `usage` field).
   */
  omitUsage?: boolean;
  stopReason?: 'end' | 'maxTokens' | 'toolUse' | 'refused';
  /** Model name reported back (default: the requested one). */
  model?: string;
  /** Wait before sending the response headers. */
  delayMs?: number;
  /** Wait before each SSE event. */
  eventDelayMs?: number;
  /** Hold the stream after its first SSE event until this settles (a test's own moment, not a guessed delay). */
  holdUntil?: Promise<unknown>;
  /** Stop after this many SSE events: `cutMode` 'reset' drops the connection, 'end' ends the body cleanly. */
  cutAfterEvents?: number;
  cutMode?: 'reset' | 'end';
  /** Stop writing after this many SSE events but keep the connection open (a stalled stream). */
  hangAfterEvents?: number;
  /** After this many SSE events send the provider's in-stream error event (e.g. Anthropic `overloaded_error`). */
  errorAfterEvents?: number;
  /** The in-stream error: HTTP-like status and message (default 529/503-style overload). */
  streamError?: { status?: number; type?: string; message?: string };
  headers?: Record<string, string>;
}

/** An HTTP error response. */
export interface FakeErrorReply {
  type: 'error';
  status: number;
  /** Provider error type / status string; default derived from the status. */
  errorType?: string;
  message?: string;
  /** Replaces the provider-shaped error body. */
  body?: unknown;
  headers?: Record<string, string>;
  delayMs?: number;
}

/** Accept the request and never answer. */
export interface FakeHangReply {
  type: 'hang';
}

export type FakeReply = FakeMessageReply | FakeErrorReply | FakeHangReply;

/** A scripted answer of a count-tokens endpoint. */
export type FakeCountReply = number | FakeErrorReply;

export interface LoggedRequest {
  method: string;
  /** Path without the query string and without the `startFakeProviders()` prefix. */
  path: string;
  query: Record<string, string>;
  /** Lower-cased request headers without the API key headers. */
  headers: Record<string, string>;
  /** Whether an API key header was present (its value is never logged). */
  hadApiKey: boolean;
  body: unknown;
}

const KEY_HEADERS = ['authorization', 'x-api-key', 'x-goog-api-key', 'api-key'];

export interface FakeOptions {
  /** When set, requests must carry this key (else the provider's auth error). */
  apiKey?: string;
  /** The fake's clock, for cache lives (default Date.now): a test moves it instead of waiting. */
  now?: () => number;
}

/** Answers a generation request when nothing is queued (a scripted model: the benchmark's agent, its summariser). */
export type FakeResponder = (request: LoggedRequest) => FakeReply | undefined;

export abstract class FakeProvider {
  readonly requests: LoggedRequest[] = [];
  private readonly replies: FakeReply[] = [];
  private readonly counts: FakeCountReply[] = [];
  private readonly openResponses = new Set<http.ServerResponse>();
  private idCounter = 0;
  /** Set by the server once listening: the URL to give the SDK. */
  baseUrl = '';
  /** The provider's prompt cache (caching.ts): what requests wrote, read by later ones. */
  readonly cache: PromptCache;
  /** Answers generation requests when the queue is empty; default: the deterministic reply. */
  responder: FakeResponder | undefined;

  constructor(protected readonly options: FakeOptions = {}) {
    this.cache = new PromptCache(options.now ?? Date.now);
  }

  /** Queues replies, answered in order; an empty queue answers with `defaultReply`. */
  enqueue(...replies: FakeReply[]): this {
    this.replies.push(...replies);
    return this;
  }

  /** Queues count-tokens answers; an empty queue counts ~4 characters per token of the request body. */
  enqueueCount(...replies: FakeCountReply[]): this {
    this.counts.push(...replies);
    return this;
  }

  /** Requests to the generation endpoints (not count-tokens). */
  get generationRequests(): LoggedRequest[] {
    return this.requests.filter((r) => !/count_?tokens/i.test(r.path));
  }

  pendingReplies(): number {
    return this.replies.length;
  }

  reset(): void {
    this.requests.length = 0;
    this.replies.length = 0;
    this.counts.length = 0;
    this.cache.clear();
  }

  protected nextReply(request: LoggedRequest): FakeReply | undefined {
    return this.replies.shift() ?? this.responder?.(request);
  }

  protected nextCount(): FakeCountReply | undefined {
    return this.counts.shift();
  }

  protected newId(prefix: string): string {
    this.idCounter += 1;
    return `${prefix}${String(this.idCounter).padStart(6, '0')}fake`;
  }

  /** The key the request carried, in this provider's header. */
  protected abstract requestKey(req: http.IncomingMessage): string | undefined;

  protected abstract route(exchange: FakeExchange): Promise<void>;

  async handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> {
    this.openResponses.add(res);
    res.on('close', () => this.openResponses.delete(res));
    const raw = await readBody(req);
    let body: unknown = raw;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      // keep the raw text: a test may assert on a malformed body
    }
    const url = new URL(path, 'http://fake');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (!KEY_HEADERS.includes(k.toLowerCase()) && typeof v === 'string') headers[k.toLowerCase()] = v;
    }
    const key = this.requestKey(req);
    const entry: LoggedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      hadApiKey: !!key,
      body,
    };
    this.requests.push(entry);
    await this.route(new FakeExchange(this, req, res, entry, key));
  }

  /** Ends every open response (hung ones included), so `close()` never waits on them. */
  destroyOpen(): void {
    for (const res of this.openResponses) res.socket?.destroy();
    this.openResponses.clear();
  }
}

/** One request being answered. */
export class FakeExchange {
  constructor(
    readonly fake: FakeProvider,
    readonly req: http.IncomingMessage,
    readonly res: http.ServerResponse,
    readonly request: LoggedRequest,
    readonly apiKey: string | undefined,
  ) {}

  get body(): Record<string, unknown> {
    const b = this.request.body;
    return typeof b === 'object' && b !== null ? (b as Record<string, unknown>) : {};
  }

  json(status: number, value: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(value);
    this.res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    this.res.end(text);
  }

  /**
   * Opens an SSE response governed by the reply's delays, cut, hang and in-stream error; `errorEvent` renders
   * the provider's error event.
   */
  sse(reply: FakeMessageReply, headers: Record<string, string>, errorEvent?: StreamErrorRenderer): SseWriter {
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      ...headers,
      ...(reply.headers ?? {}),
    });
    this.res.flushHeaders();
    return new SseWriter(this.res, reply, errorEvent);
  }
}

/** Renders a provider's in-stream error event: [event name or null, data]. */
export type StreamErrorRenderer = (e: { status: number; type?: string; message: string }) => [string | null, unknown];

export class SseWriter {
  private sent = 0;
  /** False once the script cut or stalled the stream: stop producing events. */
  open = true;

  constructor(
    private readonly res: http.ServerResponse,
    private readonly reply: FakeMessageReply,
    private readonly errorEvent?: StreamErrorRenderer,
  ) {}

  /** Writes one event (`event:` line only when `event` is given) and resolves when it reached the socket. */
  async send(event: string | null, data: unknown): Promise<boolean> {
    if (!this.open) return false;
    if (this.reply.cutAfterEvents !== undefined && this.sent >= this.reply.cutAfterEvents) {
      this.open = false;
      if (this.reply.cutMode === 'end') this.res.end();
      else this.res.socket?.destroy();
      return false;
    }
    if (this.reply.hangAfterEvents !== undefined && this.sent >= this.reply.hangAfterEvents) {
      this.open = false;
      return false;
    }
    if (this.reply.errorAfterEvents !== undefined && this.sent >= this.reply.errorAfterEvents && this.errorEvent) {
      this.open = false;
      const e = this.reply.streamError ?? {};
      const [name, body] = this.errorEvent({
        status: e.status ?? 529,
        type: e.type,
        message: e.message ?? 'Overloaded',
      });
      const text = `${name ? `event: ${name}\n` : ''}data: ${JSON.stringify(body)}\n\n`;
      await new Promise<void>((resolve) => this.res.write(text, () => resolve()));
      this.res.end();
      return false;
    }
    if (this.reply.eventDelayMs) await sleep(this.reply.eventDelayMs);
    if (this.res.destroyed) {
      this.open = false;
      return false;
    }
    const payload = typeof data === 'string' ? data : JSON.stringify(data);
    const text = `${event ? `event: ${event}\n` : ''}data: ${payload}\n\n`;
    await new Promise<void>((resolve) => this.res.write(text, () => resolve()));
    this.sent += 1;
    if (this.sent === 1 && this.reply.holdUntil) await this.reply.holdUntil;
    return true;
  }

  /** Ends the stream normally (unless the script cut or stalled it). */
  end(): void {
    if (this.open) this.res.end();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The output bound a request sent, in whichever field its API uses (undefined when none). */
export function requestedMaxOutput(body: Record<string, unknown>): number | undefined {
  const config = body.generationConfig as { maxOutputTokens?: unknown } | undefined;
  for (const v of [body.max_tokens, body.max_completion_tokens, body.max_output_tokens, config?.maxOutputTokens])
    if (typeof v === 'number') return v;
  return undefined;
}

/** Whether a scripted reply gives the prompt side of its usage itself (then the prompt cache is not consulted). */
export function scriptsPrompt(partial: Partial<FakeUsage> | undefined): boolean {
  return (
    partial?.input !== undefined ||
    partial?.cacheRead !== undefined ||
    partial?.cacheWrite5m !== undefined ||
    partial?.cacheWrite1h !== undefined
  );
}

/**
 * The reply's usage: what the script gives, else the prompt as the provider's cache billed it (`prompt`, from
 * caching.ts; or `promptTokens` as plain input when scripted) and output ~ reply characters / 4.
 */
export function completeUsage(
  partial: Partial<FakeUsage> | undefined,
  prompt: CacheUsage | number,
  replyChars: number,
  atLimit?: { reply: FakeMessageReply; body: Record<string, unknown> },
): FakeUsage {
  const limit = atLimit?.reply.outputAtLimit ? requestedMaxOutput(atLimit.body) : undefined;
  if (limit !== undefined) partial = { ...partial, output: limit };
  const billed =
    typeof prompt === 'number' ? { input: prompt, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 } : prompt;
  const scripted = scriptsPrompt(partial);
  return {
    input: partial?.input ?? billed.input,
    output: partial?.output ?? Math.max(1, Math.ceil(replyChars / 4)),
    cacheRead: scripted ? (partial?.cacheRead ?? 0) : billed.cacheRead,
    cacheWrite5m: scripted ? (partial?.cacheWrite5m ?? 0) : billed.cacheWrite5m,
    cacheWrite1h: scripted ? (partial?.cacheWrite1h ?? 0) : billed.cacheWrite1h,
    reasoning: partial?.reasoning ?? 0,
  };
}

/** The reply a fake gives when nothing is queued: deterministic, derived from the last user text. */
export function defaultReplyText(provider: string, lastUserText: string): string {
  const gist = lastUserText.replace(/\s+/g, ' ').trim().slice(0, 80);
  return `(${provider} fake) You said: "${gist}". This is a deterministic reply.`;
}

/** Splits text into a few deltas, the way a real stream sends it. */
export function chunkText(text: string, size = 12): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out.length ? out : [''];
}

export interface FakeServer {
  url: string;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 and routes `prefix + path` to each fake. */
export async function listen(
  routes: Array<{ prefix: string; fake: FakeProvider; basePath: string }>,
): Promise<FakeServer> {
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const route = routes.find((r) => r.prefix === '' || url === r.prefix || url.startsWith(`${r.prefix}/`));
    if (!route) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `no fake at ${url}` } }));
      return;
    }
    route.fake.handle(req, res, url.slice(route.prefix.length) || '/').catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `fake server bug: ${String(err)}` } }));
      } else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  for (const r of routes) r.fake.baseUrl = `${url}${r.prefix}${r.basePath}`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of routes) r.fake.destroyOpen();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
