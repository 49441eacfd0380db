import type http from 'node:http';
import { openaiCacheUsage, openaiPromptTokens } from './caching';
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
 * Speaks the OpenAI API as the `openai` SDK expects it, under a base URL ending in `/v1`:
 * - `POST /v1/chat/completions`: JSON, or `data:` chunks ending in `data: [DONE]`; the usage chunk (empty
 *   `choices`) is sent only when the request has `stream_options.include_usage`, as the real API does (and never
 *   with `omitUsage`, like a compatible server that ignores it);
 * - prompts are counted with o200k and cached by themselves as OpenAI does (caching.ts): `cached_tokens` for reads
 *   and, for GPT-5.6 and later, `cache_write_tokens` for writes (both inside the prompt count);
 * - `POST /v1/responses`: JSON, or named SSE events (`response.created` … `response.completed`);
 * - an `x-request-id` header, and `{"error": {"message", "type", "code"}}` bodies.
 */
export class FakeOpenAI extends FakeProvider {
  protected requestKey(req: http.IncomingMessage): string | undefined {
    const a = req.headers.authorization;
    return typeof a === 'string' && a.startsWith('Bearer ') ? a.slice(7) : undefined;
  }

  protected async route(x: FakeExchange): Promise<void> {
    const { path, method } = x.request;
    const api = path === '/v1/chat/completions' ? 'chat' : path === '/v1/responses' ? 'responses' : undefined;
    if (method !== 'POST' || !api) {
      return this.error(x, {
        type: 'error',
        status: 404,
        message: `Unknown request URL: ${method} ${path}.`,
        errorType: 'invalid_request_error',
      });
    }
    if (this.options.apiKey !== undefined && x.apiKey !== this.options.apiKey) {
      // The real message masks all but the last four characters of the key it got.
      const shown = x.apiKey ? `${x.apiKey.slice(0, 3)}***${x.apiKey.slice(-4)}` : '';
      return this.error(
        x,
        {
          type: 'error',
          status: 401,
          errorType: 'invalid_request_error',
          message: `Incorrect API key provided: ${shown}. You can find your API key at https://platform.openai.com/account/api-keys.`,
          body: undefined,
        },
        'invalid_api_key',
      );
    }
    const reply = this.nextReply(x.request) ?? {};
    if (reply.type === 'hang') return;
    if (reply.type === 'error') return this.error(x, reply);
    if (reply.delayMs) await sleep(reply.delayMs);
    const streaming = x.body.stream === true;
    if (api === 'chat') return streaming ? this.chatStream(x, reply) : this.chat(x, reply);
    return streaming ? this.responsesStream(x, reply) : this.responses(x, reply);
  }

  private error(x: FakeExchange, e: FakeErrorReply, code?: string): Promise<void> | void {
    const type =
      e.errorType ??
      (e.status === 429 ? 'rate_limit_exceeded' : e.status >= 500 ? 'server_error' : 'invalid_request_error');
    const send = () =>
      x.json(e.status, e.body ?? { error: { message: e.message ?? type, type, param: null, code: code ?? null } }, {
        'x-request-id': this.newId('req_'),
        ...(e.headers ?? {}),
      });
    if (e.delayMs) return sleep(e.delayMs).then(send);
    send();
  }

  private plan(x: FakeExchange, reply: FakeMessageReply) {
    const text = reply.text ?? (reply.toolCalls?.length ? '' : defaultReplyText('openai', lastUserText(x.body)));
    const toolCalls = (reply.toolCalls ?? []).map((t) => ({ ...t, id: t.id ?? this.newId('call_') }));
    const usage = completeUsage(
      reply.usage,
      scriptsPrompt(reply.usage) ? openaiPromptTokens(x.body) : openaiCacheUsage(this.cache, x.body),
      text.length,
      { reply, body: x.body },
    );
    return { text, toolCalls, usage, model: reply.model ?? String(x.body.model ?? 'gpt-fake') };
  }

  // ── Chat Completions ──────────────────────────────────────────────────────────────────────────────────

  private finishReason(reply: FakeMessageReply, hasTools: boolean): string {
    if (reply.stopReason === 'maxTokens') return 'length';
    if (reply.stopReason === 'refused') return 'content_filter';
    if (reply.stopReason === 'toolUse' || (reply.stopReason === undefined && hasTools)) return 'tool_calls';
    return 'stop';
  }

  private chat(x: FakeExchange, reply: FakeMessageReply): void {
    const p = this.plan(x, reply);
    const message: Record<string, unknown> = {
      role: 'assistant',
      content: reply.stopReason === 'refused' ? null : p.text || null,
      refusal: reply.stopReason === 'refused' ? p.text || 'I can not help with that.' : null,
      annotations: [],
    };
    if (p.toolCalls.length) {
      message.tool_calls = p.toolCalls.map((t) => ({
        id: t.id,
        type: 'function',
        function: { name: t.name, arguments: JSON.stringify(t.input) },
      }));
    }
    x.json(
      200,
      {
        id: this.newId('chatcmpl-'),
        object: 'chat.completion',
        created: 1_760_000_000,
        model: p.model,
        choices: [
          { index: 0, message, logprobs: null, finish_reason: this.finishReason(reply, p.toolCalls.length > 0) },
        ],
        ...(reply.omitUsage ? {} : { usage: reply.rawUsage ?? chatUsage(p.usage) }),
        service_tier: 'default',
        system_fingerprint: 'fp_fake',
      },
      { 'x-request-id': this.newId('req_'), ...(reply.headers ?? {}) },
    );
  }

  private async chatStream(x: FakeExchange, reply: FakeMessageReply): Promise<void> {
    const p = this.plan(x, reply);
    const id = this.newId('chatcmpl-');
    const sse = x.sse(reply, { 'x-request-id': this.newId('req_') }, (e) => [
      null,
      { error: { message: e.message, type: e.type ?? 'server_error', param: null, code: e.type ?? 'server_error' } },
    ]);
    const includeUsage =
      !reply.omitUsage && (x.body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    const chunk = (choices: unknown[], usage: unknown = null) => ({
      id,
      object: 'chat.completion.chunk',
      created: 1_760_000_000,
      model: p.model,
      service_tier: 'default',
      system_fingerprint: 'fp_fake',
      choices,
      ...(includeUsage ? { usage } : {}),
    });
    const delta = (d: Record<string, unknown>, finish: string | null = null) =>
      chunk([{ index: 0, delta: d, logprobs: null, finish_reason: finish }]);
    if (!(await sse.send(null, delta({ role: 'assistant', content: '', refusal: null })))) return;
    if (reply.stopReason === 'refused') {
      for (const piece of chunkText(p.text || 'I can not help with that.')) {
        if (!(await sse.send(null, delta({ refusal: piece })))) return;
      }
    } else if (p.text) {
      for (const piece of chunkText(p.text)) {
        if (!(await sse.send(null, delta({ content: piece })))) return;
      }
    }
    for (const [i, t] of p.toolCalls.entries()) {
      if (
        !(await sse.send(
          null,
          delta({ tool_calls: [{ index: i, id: t.id, type: 'function', function: { name: t.name, arguments: '' } }] }),
        ))
      )
        return;
      for (const piece of chunkText(JSON.stringify(t.input), 8)) {
        if (!(await sse.send(null, delta({ tool_calls: [{ index: i, function: { arguments: piece } }] })))) return;
      }
    }
    if (!(await sse.send(null, delta({}, this.finishReason(reply, p.toolCalls.length > 0))))) return;
    if (includeUsage && !(await sse.send(null, chunk([], reply.rawUsage ?? chatUsage(p.usage))))) return;
    if (!(await sse.send(null, '[DONE]'))) return;
    sse.end();
  }

  // ── Responses ─────────────────────────────────────────────────────────────────────────────────────────

  private responseOutput(p: ReturnType<FakeOpenAI['plan']>, reply: FakeMessageReply, ids: { msg: string; rs: string }) {
    const output: Record<string, unknown>[] = [];
    if (reply.thinking !== undefined || p.usage.reasoning > 0) {
      output.push({
        type: 'reasoning',
        id: ids.rs,
        summary: reply.thinking ? [{ type: 'summary_text', text: reply.thinking }] : [],
      });
    }
    if (p.text || reply.stopReason === 'refused') {
      const part =
        reply.stopReason === 'refused'
          ? { type: 'refusal', refusal: p.text || 'I can not help with that.' }
          : { type: 'output_text', text: p.text, annotations: [], logprobs: [] };
      output.push({ type: 'message', id: ids.msg, status: 'completed', role: 'assistant', content: [part] });
    }
    for (const t of p.toolCalls) {
      output.push({
        type: 'function_call',
        id: `fc_${t.id}`,
        call_id: t.id,
        name: t.name,
        arguments: JSON.stringify(t.input),
        status: 'completed',
      });
    }
    return output;
  }

  private responseObject(
    x: FakeExchange,
    p: ReturnType<FakeOpenAI['plan']>,
    id: string,
    status: string,
    output: unknown[],
    usage: unknown,
  ) {
    return {
      id,
      object: 'response',
      created_at: 1_760_000_000,
      status,
      error: null,
      incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
      instructions: x.body.instructions ?? null,
      max_output_tokens: x.body.max_output_tokens ?? null,
      model: p.model,
      output,
      parallel_tool_calls: true,
      previous_response_id: null,
      store: x.body.store ?? true,
      temperature: 1,
      tool_choice: 'auto',
      tools: x.body.tools ?? [],
      top_p: 1,
      truncation: 'disabled',
      usage,
      metadata: {},
    };
  }

  private responses(x: FakeExchange, reply: FakeMessageReply): void {
    const p = this.plan(x, reply);
    const output = this.responseOutput(p, reply, { msg: this.newId('msg_'), rs: this.newId('rs_') });
    const status = reply.stopReason === 'maxTokens' ? 'incomplete' : 'completed';
    x.json(
      200,
      this.responseObject(x, p, this.newId('resp_'), status, output, reply.rawUsage ?? responsesUsage(p.usage)),
      {
        'x-request-id': this.newId('req_'),
        ...(reply.headers ?? {}),
      },
    );
  }

  private async responsesStream(x: FakeExchange, reply: FakeMessageReply): Promise<void> {
    const p = this.plan(x, reply);
    const id = this.newId('resp_');
    const ids = { msg: this.newId('msg_'), rs: this.newId('rs_') };
    const sse = x.sse(reply, { 'x-request-id': this.newId('req_') }, (e) => [
      'error',
      { type: 'error', code: e.type ?? 'server_error', message: e.message, param: null, sequence_number: 999 },
    ]);
    let seq = 0;
    const send = (type: string, data: Record<string, unknown>) =>
      sse.send(type, { type, sequence_number: seq++, ...data });
    const inProgress = this.responseObject(x, p, id, 'in_progress', [], null);
    if (!(await send('response.created', { response: inProgress }))) return;
    if (!(await send('response.in_progress', { response: inProgress }))) return;
    const output = this.responseOutput(p, reply, ids);
    for (const [outputIndex, item] of output.entries()) {
      if (item.type === 'reasoning') {
        if (!(await send('response.output_item.added', { output_index: outputIndex, item: { ...item, summary: [] } })))
          return;
        if (!(await send('response.output_item.done', { output_index: outputIndex, item }))) return;
      } else if (item.type === 'message') {
        const part = (item.content as Record<string, unknown>[])[0]!;
        if (
          !(await send('response.output_item.added', {
            output_index: outputIndex,
            item: { ...item, status: 'in_progress', content: [] },
          }))
        )
          return;
        const base = { item_id: ids.msg, output_index: outputIndex, content_index: 0 };
        if (part.type === 'refusal') {
          if (!(await send('response.content_part.added', { ...base, part: { type: 'refusal', refusal: '' } }))) return;
          for (const piece of chunkText(String(part.refusal))) {
            if (!(await send('response.refusal.delta', { ...base, delta: piece }))) return;
          }
          if (!(await send('response.refusal.done', { ...base, refusal: part.refusal }))) return;
        } else {
          if (
            !(await send('response.content_part.added', {
              ...base,
              part: { type: 'output_text', text: '', annotations: [] },
            }))
          )
            return;
          for (const piece of chunkText(String(part.text))) {
            if (!(await send('response.output_text.delta', { ...base, delta: piece, logprobs: [] }))) return;
          }
          if (!(await send('response.output_text.done', { ...base, text: part.text, logprobs: [] }))) return;
        }
        if (!(await send('response.content_part.done', { ...base, part }))) return;
        if (!(await send('response.output_item.done', { output_index: outputIndex, item }))) return;
      } else {
        if (
          !(await send('response.output_item.added', {
            output_index: outputIndex,
            item: { ...item, arguments: '', status: 'in_progress' },
          }))
        )
          return;
        for (const piece of chunkText(String(item.arguments), 8)) {
          if (
            !(await send('response.function_call_arguments.delta', {
              item_id: item.id,
              output_index: outputIndex,
              delta: piece,
            }))
          )
            return;
        }
        if (
          !(await send('response.function_call_arguments.done', {
            item_id: item.id,
            output_index: outputIndex,
            arguments: item.arguments,
          }))
        )
          return;
        if (!(await send('response.output_item.done', { output_index: outputIndex, item }))) return;
      }
    }
    const status = reply.stopReason === 'maxTokens' ? 'incomplete' : 'completed';
    const final = this.responseObject(x, p, id, status, output, reply.rawUsage ?? responsesUsage(p.usage));
    if (!(await send(status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: final })))
      return;
    sse.end();
  }
}

/** OpenAI has one cache write rate: `cacheWrite5m` is what goes out as `cache_write_tokens` (`cacheWrite1h` is not sent). */
export function chatUsage(u: FakeUsage): Record<string, unknown> {
  const prompt = u.input + u.cacheRead + u.cacheWrite5m;
  const completion = u.output + u.reasoning;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: u.cacheRead, cache_write_tokens: u.cacheWrite5m, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: u.reasoning,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

export function responsesUsage(u: FakeUsage): Record<string, unknown> {
  const input = u.input + u.cacheRead + u.cacheWrite5m;
  const output = u.output + u.reasoning;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: u.cacheRead, cache_write_tokens: u.cacheWrite5m },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: u.reasoning },
    total_tokens: input + output,
  };
}

function lastUserText(body: Record<string, unknown>): string {
  const list = Array.isArray(body.messages) ? body.messages : Array.isArray(body.input) ? body.input : [body.input];
  for (let i = list.length - 1; i >= 0; i--) {
    const m = list[i] as { role?: string; content?: unknown; type?: string; output?: unknown } | string | undefined;
    if (typeof m === 'string') return m;
    if (!m) continue;
    if (m.type === 'function_call_output' || m.role === 'tool')
      return `tool result ${JSON.stringify(m.output ?? m.content)}`;
    if (m.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content)) {
      return m.content.map((c: { text?: string }) => c.text ?? '').join(' ');
    }
  }
  return '';
}
