import type http from 'node:http';
import { anthropicBreakpointError, anthropicCacheUsage, anthropicPromptTokens } from './caching';
import {
  FakeProvider,
  chunkText,
  completeUsage,
  defaultReplyText,
  scriptsPrompt,
  sleep,
  type FakeErrorReply,
  type FakeExchange,
  type FakeMessageReply,
  type FakeUsage,
} from './server';

/**
 * Speaks the Anthropic Messages API as @anthropic-ai/sdk expects it: `POST /v1/messages` (JSON, or SSE with
 * `event: message_start` … `message_stop` when `stream: true`), `POST /v1/messages/count_tokens`, a
 * `request-id` header, and `{"type": "error", "error": {"type", "message"}}` bodies. Prompts are billed with the
 * prompt cache as Anthropic bills it (caching.ts): `cache_control` breakpoints, minimums, 5-minute and 1-hour lives.
 */
export class FakeAnthropic extends FakeProvider {
  protected requestKey(req: http.IncomingMessage): string | undefined {
    // SDK 1.x sends the key as `Authorization: Bearer`; older clients and curl examples use `x-api-key`.
    const k = req.headers['x-api-key'];
    if (typeof k === 'string') return k;
    const a = req.headers.authorization;
    return typeof a === 'string' && a.startsWith('Bearer ') ? a.slice(7) : undefined;
  }

  protected async route(x: FakeExchange): Promise<void> {
    const { path, method } = x.request;
    if (method !== 'POST' || (path !== '/v1/messages' && path !== '/v1/messages/count_tokens')) {
      return this.error(x, { type: 'error', status: 404, errorType: 'not_found_error', message: `Not found: ${path}` });
    }
    if (this.options.apiKey !== undefined && x.apiKey !== this.options.apiKey) {
      return this.error(x, {
        type: 'error',
        status: 401,
        errorType: 'authentication_error',
        message: 'invalid x-api-key',
      });
    }
    if (path === '/v1/messages/count_tokens') {
      const scripted = this.nextCount();
      if (typeof scripted === 'object') return this.error(x, scripted);
      const n = scripted ?? anthropicPromptTokens(x.body);
      return x.json(200, { input_tokens: n }, { 'request-id': this.newId('req_') });
    }
    const reply = this.nextReply(x.request) ?? {};
    if (reply.type === 'hang') return;
    if (reply.type === 'error') return this.error(x, reply);
    const tooMany = anthropicBreakpointError(x.body);
    if (tooMany) return this.error(x, { type: 'error', status: 400, message: tooMany });
    if (reply.delayMs) await sleep(reply.delayMs);
    if (x.body.stream === true) return this.stream(x, reply);
    return this.message(x, reply);
  }

  private error(x: FakeExchange, e: FakeErrorReply): Promise<void> | void {
    const type =
      e.errorType ?? ANTHROPIC_ERROR_TYPES[e.status] ?? (e.status >= 500 ? 'api_error' : 'invalid_request_error');
    const requestId = this.newId('req_');
    const send = () =>
      x.json(
        e.status,
        e.body ?? { type: 'error', error: { type, message: e.message ?? type }, request_id: requestId },
        {
          'request-id': requestId,
          ...(e.headers ?? {}),
        },
      );
    if (e.delayMs) return sleep(e.delayMs).then(send);
    send();
  }

  private plan(x: FakeExchange, reply: FakeMessageReply) {
    const text = reply.text ?? (reply.toolCalls?.length ? '' : defaultReplyText('anthropic', lastUserText(x.body)));
    const toolCalls = (reply.toolCalls ?? []).map((t) => ({ ...t, id: t.id ?? this.newId('toolu_') }));
    const usage = completeUsage(
      reply.usage,
      scriptsPrompt(reply.usage) ? anthropicPromptTokens(x.body) : anthropicCacheUsage(this.cache, x.body),
      text.length + (reply.thinking?.length ?? 0),
      { reply, body: x.body },
    );
    const stop =
      reply.stopReason === 'maxTokens'
        ? 'max_tokens'
        : reply.stopReason === 'refused'
          ? 'refusal'
          : reply.stopReason === 'toolUse' || (reply.stopReason === undefined && toolCalls.length)
            ? 'tool_use'
            : 'end_turn';
    const model = reply.model ?? String(x.body.model ?? 'claude-fake');
    return { text, toolCalls, usage, stop, model, id: this.newId('msg_') };
  }

  private message(x: FakeExchange, reply: FakeMessageReply): void {
    const p = this.plan(x, reply);
    const content: unknown[] = [];
    if (reply.thinking) content.push({ type: 'thinking', thinking: reply.thinking, signature: 'sig-fake' });
    if (p.text) content.push({ type: 'text', text: p.text });
    for (const t of p.toolCalls) content.push({ type: 'tool_use', id: t.id, name: t.name, input: t.input });
    x.json(
      200,
      {
        id: p.id,
        type: 'message',
        role: 'assistant',
        model: p.model,
        content,
        stop_reason: p.stop,
        stop_sequence: null,
        usage: reply.rawUsage ?? anthropicUsage(p.usage),
      },
      { 'request-id': this.newId('req_'), ...(reply.headers ?? {}) },
    );
  }

  private async stream(x: FakeExchange, reply: FakeMessageReply): Promise<void> {
    const p = this.plan(x, reply);
    const sse = x.sse(reply, { 'request-id': this.newId('req_') }, (e) => [
      'error',
      { type: 'error', error: { type: e.type ?? ANTHROPIC_ERROR_TYPES[e.status] ?? 'api_error', message: e.message } },
    ]);
    const full = anthropicUsage(p.usage);
    const startUsage = reply.rawUsage
      ? (reply.rawUsage as Record<string, unknown>)
      : { ...full, output_tokens: 1, output_tokens_details: null };
    const send = (type: string, data: Record<string, unknown>) => sse.send(type, { type, ...data });
    if (
      !(await send('message_start', {
        message: {
          id: p.id,
          type: 'message',
          role: 'assistant',
          model: p.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: startUsage,
        },
      }))
    )
      return;
    if (!(await sse.send('ping', { type: 'ping' }))) return;
    let index = 0;
    if (reply.thinking) {
      if (
        !(await send('content_block_start', {
          index,
          content_block: { type: 'thinking', thinking: '', signature: '' },
        }))
      )
        return;
      for (const piece of chunkText(reply.thinking)) {
        if (!(await send('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: piece } }))) return;
      }
      if (!(await send('content_block_delta', { index, delta: { type: 'signature_delta', signature: 'sig-fake' } })))
        return;
      if (!(await send('content_block_stop', { index }))) return;
      index += 1;
    }
    if (p.text) {
      if (!(await send('content_block_start', { index, content_block: { type: 'text', text: '' } }))) return;
      for (const piece of chunkText(p.text)) {
        if (!(await send('content_block_delta', { index, delta: { type: 'text_delta', text: piece } }))) return;
      }
      if (!(await send('content_block_stop', { index }))) return;
      index += 1;
    }
    for (const t of p.toolCalls) {
      if (
        !(await send('content_block_start', {
          index,
          content_block: { type: 'tool_use', id: t.id, name: t.name, input: {} },
        }))
      )
        return;
      for (const piece of chunkText(JSON.stringify(t.input), 8)) {
        if (!(await send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } })))
          return;
      }
      if (!(await send('content_block_stop', { index }))) return;
      index += 1;
    }
    // message_delta.usage is cumulative: the real API repeats the input-side counts here, which is exactly what an
    // adder (instead of an overwriter) would double.
    const deltaUsage = reply.rawUsage ? reply.rawUsage : full;
    if (!(await send('message_delta', { delta: { stop_reason: p.stop, stop_sequence: null }, usage: deltaUsage })))
      return;
    if (!(await send('message_stop', {}))) return;
    sse.end();
  }
}

const ANTHROPIC_ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

export function anthropicUsage(u: FakeUsage): Record<string, unknown> {
  return {
    input_tokens: u.input,
    cache_creation_input_tokens: u.cacheWrite5m + u.cacheWrite1h,
    cache_read_input_tokens: u.cacheRead,
    cache_creation: { ephemeral_5m_input_tokens: u.cacheWrite5m, ephemeral_1h_input_tokens: u.cacheWrite1h },
    output_tokens: u.output + u.reasoning,
    output_tokens_details: u.reasoning ? { thinking_tokens: u.reasoning } : null,
    service_tier: 'standard',
  };
}

function lastUserText(body: Record<string, unknown>): string {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as { role?: string; content?: unknown };
    if (m.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content)) {
      const texts = m.content
        .filter((c: { type?: string }) => c.type === 'text')
        .map((c: { text?: string }) => c.text ?? '');
      if (texts.length) return texts.join(' ');
      const results = m.content.filter((c: { type?: string }) => c.type === 'tool_result');
      if (results.length) return `tool result ${JSON.stringify((results[0] as { content?: unknown }).content)}`;
    }
  }
  return '';
}
