import type http from 'node:http';
import { BudgetBlockedError, type Admission, type AdmitRequest, type BudgetEngine } from '../budget/engine';
import type { Meter, MeteredCall } from '../metering';
import { formatUsd } from '../money';
import { UnknownModelError, type ResolvedPrice } from '../pricing/cost';
import type { ProviderId } from '../usage';
import { MeteredForward, type Upstream } from './forward';
import { promptBound, tokenizerCount } from './sizing';
import { parseJson } from './streams';
import { clientCaps, type ProxyClient } from './tokens';
import {
  HeldRequest,
  requestHeaders,
  upstreamJson,
  upstreamUrl,
  type UpstreamEndpoint,
  type UpstreamResolver,
} from './upstream';
import { isObject, KIND_STATUS, ProxyRequestError, sendError, type MeteredRequest, type ProxyErrorKind } from './wire';

/** The workflow proxied calls are filed under (the client is who made each one). */
export const PROXY_WORKFLOW = 'proxy';

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

/**
 * One metered call (forward.ts carries it from the upstream request on): parse, admit through the Meter (402 when the budget cannot pay), clamp the output bound, forward
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
  const sent = request.maxOutputTokens;
  // When no budget binds the call's output, the admission the store will make durable is, barring another call
  // admitted in between, the one the engine decides now in memory: the request goes upstream while the reservation
  // is written, all but its last byte, and the last byte only once the reservation is durable (docs/proxy.md,
  // "Ordering"). A budget that binds leaves the clamp to the durable admission (it may ask for an exact count).
  let early: Admission | undefined;
  try {
    early = deps.meter.preview(admit);
  } catch {
    early = undefined; // the durable admission says why (or finds the call affordable after all)
  }
  const begun = deps.meter.begin(admit);
  const url = upstreamUrl(provider, endpoint.baseUrl, incoming.url.pathname, incoming.url.searchParams);
  const send = (decided: Admission): Upstream => {
    const { payload, filtersEvents } = upstreamPayload(request, sent, decided);
    const headers = requestHeaders(incoming.req.headers, provider, endpoint.apiKey, payload.length);
    return { request: new HeldRequest(url, headers, payload), filtersEvents };
  };
  let upstream: Upstream | undefined;
  if (early && (early.clampedBy === 'model' || early.clampedBy === 'request')) {
    begun.catch(() => undefined); // awaited below, once the request is on its way
    // The store's write gets to its sync first; the request is built and sent while the disk works.
    await new Promise<void>((resolve) => setImmediate(resolve));
    upstream = send(early);
  }
  let call: MeteredCall;
  try {
    call = await begun;
  } catch (err) {
    // Never a whole request upstream: the provider cannot bill it.
    upstream?.request.cut();
    if (err instanceof BudgetBlockedError) return refuse('budget', `Agent Budget: ${err.message}`);
    if (err instanceof UnknownModelError) return refuse('badRequest', `Agent Budget: ${err.message}`);
    deps.log(`admission failed: ${(err as Error).message}`);
    return refuse('internal', `Agent Budget could not reserve the call: ${(err as Error).message}`);
  }
  const { admission } = call;
  if (upstream && (admission.maxOutputTokens !== early!.maxOutputTokens || admission.model !== early!.model)) {
    // Another call moved the budget in between: what was sent is not what was reserved. It goes again, as admitted,
    // from the client's own body (the first one was changed for the upstream).
    upstream.request.cut();
    upstream = undefined;
    request = parse(parseJson(incoming.body.toString('utf8')) as Record<string, unknown>);
  }
  upstream ??= send(admission);
  await new MeteredForward(deps, incoming, request, call, endpoint, upstream, shutdown).run();
}

/** The body to send upstream: the output bound of `admission` set where it must be, and the provider's own changes. */
function upstreamPayload(
  request: MeteredRequest,
  sent: number | undefined,
  admission: Admission,
): { payload: Buffer; filtersEvents: boolean } {
  // The clamp replaces the client's bound when it is lower, and is set when the client sent none and a budget binds
  // (with none sent and only the model's maximum binding, the provider's default is that maximum).
  if (sent !== undefined ? admission.maxOutputTokens < sent : admission.clampedBy !== 'model')
    request.setMaxOutputTokens(admission.maxOutputTokens);
  const { filtersEvents } = request.prepare();
  return { payload: Buffer.from(JSON.stringify(request.body), 'utf8'), filtersEvents };
}

/** The admission request of a proxied call: the client's scopes, the prompt bound and, when it binds, a count. */
function admitRequest(
  deps: ExchangeDeps,
  incoming: Incoming,
  request: MeteredRequest,
  endpoint: UpstreamEndpoint,
): AdmitRequest {
  const price = deps.engine.priceOf(request.provider, request.model);
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
