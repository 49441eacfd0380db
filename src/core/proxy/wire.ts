import type http from 'node:http';
import type { ProviderId, TokenUsage } from '../usage';

/**
 * What the proxy needs to know of each provider's wire format, and nothing more: where a request keeps its prompt
 * and its output bound, how a response reports usage (whole, or event by event in a stream), and how an error body
 * looks. anthropic.ts, openai.ts and gemini.ts implement it; exchange.ts drives one metered call with it.
 */

/** The prompt of a request, as the budget sizes it. */
export interface PromptShape {
  /**
   * UTF-8 bytes of the prompt's JSON (system, messages, tools; inline base64 media included): no tokenizer makes more
   * tokens than bytes, and a base64 image or recording is far more bytes than the tokens it bills.
   */
  jsonBytes: number;
  /** Every text the request sends the model (system, messages, tool results, tool schemas as JSON), for a tokenizer. */
  texts: string[];
  /** Media parts (images, audio, documents) inline: a tokenizer cannot count them. */
  inlineMedia: number;
  /** Media the request only references (a URL or a file id): their size is unknown here. */
  referencedMedia: number;
  /** Messages and content parts: each carries role markers and separators no text has. */
  parts: number;
  hasTools: boolean;
}

/** Reads a response's usage: the whole JSON body, or a stream one event at a time. */
export interface UsageReader {
  /** A non-streamed response body. */
  body(json: unknown): void;
  /**
   * Byte strings found only in the streamed events that can carry what the reader needs (usage, the response id):
   * only events containing one are parsed. A marker that also turns up in other events costs a parse, nothing more.
   */
  readonly markers: readonly string[];
  /**
   * One streamed event (an SSE event's data, or one element of a streamed JSON array). Returns false when the
   * event must not reach the client (the usage chunk the proxy asked OpenAI for on the client's behalf).
   */
  event(name: string | null, data: unknown): boolean;
  /** The provider's final usage, once it arrived (undefined before, or when it never does). */
  readonly usage: TokenUsage | undefined;
  /** Prompt tokens reported before the end (Anthropic `message_start`, Gemini's interim chunks). */
  readonly partialInputTokens: number | undefined;
  /** The provider's response id, when one came. */
  readonly responseId: string | undefined;
}

/** One metered request, parsed. */
export interface MeteredRequest {
  provider: ProviderId;
  /** Which API, for messages and logs: `messages`, `chat.completions`, `responses`, `generateContent`. */
  api: string;
  model: string;
  stream: boolean;
  prompt: PromptShape;
  /**
   * Part of the prompt is kept by the provider and not in this request (OpenAI `previous_response_id`, Gemini
   * `cachedContent`): only the model's context window bounds it.
   */
  promptOutside: boolean;
  /** The output bound the client sent (`max_tokens` and its kin), if any. */
  maxOutputTokens: number | undefined;
  /** Whether the prompt may be written to a cache at a rate above input (Anthropic `cache_control`, OpenAI). */
  promptCaching: 'none' | '5m' | '1h';
  /** Sets the output bound in the body (in the field the client used, or the API's own when it sent none). */
  setMaxOutputTokens(n: number): void;
  /**
   * Changes the client's request before it goes upstream, for metering (OpenAI Chat streams: ask for the usage
   * chunk). Returns whether the response needs the reader's `event` filter applied (events dropped).
   */
  prepare(): { filtersEvents: boolean };
  /** The request body to send upstream (after setMaxOutputTokens and prepare). */
  readonly body: Record<string, unknown>;
  usageReader(): UsageReader;
  /** The provider's count endpoint for this prompt, if it has one: path (after the base URL) and body. */
  countRequest?(): { path: string; body: unknown; read(json: unknown): number | undefined };
}

/** Why the proxy answers itself (no upstream call), as each provider's error shape names it. */
export type ProxyErrorKind =
  | 'auth' // 401: no token, an unknown or revoked one
  | 'budget' // 402: the budget cannot afford the call
  | 'badRequest' // 400: unreadable body, unknown model, unsupported option
  | 'forbidden' // 403: a request not addressed to the proxy's own host and port
  | 'notFound' // 404: a path the proxy does not serve
  | 'tooLarge' // 413
  | 'upstream' // 502: the upstream could not be reached
  | 'internal'; // 500: the store failed

export const KIND_STATUS: Record<ProxyErrorKind, number> = {
  auth: 401,
  budget: 402,
  badRequest: 400,
  forbidden: 403,
  notFound: 404,
  tooLarge: 413,
  upstream: 502,
  internal: 500,
};

/** A provider's own error JSON for `kind` with `message` (what its SDK parses into its error class). */
export function errorBody(provider: ProviderId, kind: ProxyErrorKind, message: string): unknown {
  const status = KIND_STATUS[kind];
  switch (provider) {
    case 'anthropic':
      return { type: 'error', error: { type: ANTHROPIC_TYPES[kind], message } };
    case 'openai':
      return { error: { message, type: OPENAI_TYPES[kind], param: null, code: OPENAI_CODES[kind] } };
    case 'gemini':
      return { error: { code: status, message, status: GOOGLE_STATUS[kind] } };
  }
}

const ANTHROPIC_TYPES: Record<ProxyErrorKind, string> = {
  auth: 'authentication_error',
  budget: 'billing_error',
  badRequest: 'invalid_request_error',
  forbidden: 'permission_error',
  notFound: 'not_found_error',
  tooLarge: 'request_too_large',
  upstream: 'api_error',
  internal: 'api_error',
};
const OPENAI_TYPES: Record<ProxyErrorKind, string> = {
  auth: 'invalid_request_error',
  budget: 'budget_exceeded',
  badRequest: 'invalid_request_error',
  forbidden: 'invalid_request_error',
  notFound: 'invalid_request_error',
  tooLarge: 'invalid_request_error',
  upstream: 'server_error',
  internal: 'server_error',
};
const OPENAI_CODES: Record<ProxyErrorKind, string | null> = {
  auth: 'invalid_api_key',
  budget: 'budget_exceeded',
  badRequest: null,
  forbidden: null,
  notFound: 'unknown_url',
  tooLarge: null,
  upstream: null,
  internal: null,
};
// Not RESOURCE_EXHAUSTED for the budget: clients read that as a rate limit or quota and retry or switch models.
const GOOGLE_STATUS: Record<ProxyErrorKind, string> = {
  auth: 'UNAUTHENTICATED',
  budget: 'FAILED_PRECONDITION',
  badRequest: 'INVALID_ARGUMENT',
  forbidden: 'PERMISSION_DENIED',
  notFound: 'NOT_FOUND',
  tooLarge: 'INVALID_ARGUMENT',
  upstream: 'UNAVAILABLE',
  internal: 'INTERNAL',
};

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

/** A request the proxy refuses before metering, with the error to answer. */
export class ProxyRequestError extends Error {
  constructor(
    readonly kind: ProxyErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A non-negative whole number of tokens the client sent, or undefined when absent; anything else is its error. */
export function tokenBound(
  body: Record<string, unknown>,
  field: string,
  value: unknown = body[field],
): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    throw new ProxyRequestError('badRequest', `"${field}" must be a whole number of tokens ≥ 1.`);
  return value;
}

/** A bounded count of alternatives (OpenAI `n`, Gemini `candidateCount`): each would multiply the output. */
export function singleAnswer(value: unknown, field: string): void {
  if (value === undefined || value === null || value === 1) return;
  throw new ProxyRequestError(
    'badRequest',
    `"${field}": ${JSON.stringify(value)} asks for several answers, which the Agent Budget proxy cannot bound: send one request per answer.`,
  );
}

/**
 * Collects the texts of a JSON prompt value: every string leaf except media parts (counted apart) and the wire's own
 * markers (`type`, `role`). `media(obj)` says when an object is a media part and how it is sent.
 */
export function collectTexts(
  value: unknown,
  shape: PromptShape,
  media: (obj: Record<string, unknown>) => 'inline' | 'referenced' | undefined,
): void {
  if (typeof value === 'string') {
    shape.texts.push(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectTexts(v, shape, media);
    return;
  }
  if (!isObject(value)) return;
  const kind = media(value);
  if (kind === 'referenced') {
    shape.referencedMedia += 1;
    return;
  }
  if (kind === 'inline') {
    shape.inlineMedia += 1;
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    if (key === 'type' || key === 'role') continue;
    collectTexts(v, shape, media);
  }
}

/** A prompt made of `fields` of the body (the ones the model reads), with its JSON size. */
export function promptShape(fields: Record<string, unknown>): PromptShape {
  return {
    jsonBytes: Buffer.byteLength(JSON.stringify(fields), 'utf8'),
    texts: [],
    inlineMedia: 0,
    referencedMedia: 0,
    parts: 0,
    hasTools: false,
  };
}

/** The fields of `body` named in `keys` that are set. */
export function pick(body: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) if (body[key] !== undefined) out[key] = body[key];
  return out;
}
