import type http from 'node:http';
import { geminiCacheUsage, geminiPromptTokens } from './caching';
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
 * Speaks the Gemini API (generativelanguage) as @google/genai expects it:
 * `POST /v1beta/models/{model}:generateContent` (JSON), `:streamGenerateContent?alt=sse` (`data:` chunks, the
 * last with `finishReason` and the final `usageMetadata`), `:countTokens`; key in `x-goog-api-key`; errors as
 * `{"error": {"code", "message", "status", "details"}}`. A bad key is a 400 INVALID_ARGUMENT / API_KEY_INVALID,
 * as the real API answers it.
 */
export class FakeGemini extends FakeProvider {
  protected requestKey(req: http.IncomingMessage): string | undefined {
    const k = req.headers['x-goog-api-key'];
    return typeof k === 'string' ? k : undefined;
  }

  protected async route(x: FakeExchange): Promise<void> {
    const m = /^\/v1beta\/models\/([^:/]+):(generateContent|streamGenerateContent|countTokens)$/.exec(x.request.path);
    if (x.request.method !== 'POST' || !m) {
      return this.error(x, { type: 'error', status: 404, message: `Not found: ${x.request.path}` });
    }
    if (this.options.apiKey !== undefined && x.apiKey !== this.options.apiKey) {
      return this.error(x, {
        type: 'error',
        status: 400,
        errorType: 'INVALID_ARGUMENT',
        message: 'API key not valid. Please pass a valid API key.',
        body: {
          error: {
            code: 400,
            message: 'API key not valid. Please pass a valid API key.',
            status: 'INVALID_ARGUMENT',
            details: [
              {
                '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
                reason: 'API_KEY_INVALID',
                domain: 'googleapis.com',
              },
            ],
          },
        },
      });
    }
    const [, model, method] = m;
    if (method === 'countTokens') {
      const scripted = this.nextCount();
      if (typeof scripted === 'object') return this.error(x, scripted);
      const n = scripted ?? geminiPromptTokens(x.body, model!);
      return x.json(200, { totalTokens: n, promptTokensDetails: [{ modality: 'TEXT', tokenCount: n }] });
    }
    const reply = this.nextReply(x.request) ?? {};
    if (reply.type === 'hang') return;
    if (reply.type === 'error') return this.error(x, reply);
    if (reply.delayMs) await sleep(reply.delayMs);
    if (method === 'streamGenerateContent') return this.stream(x, reply, model!);
    return this.generate(x, reply, model!);
  }

  private error(x: FakeExchange, e: FakeErrorReply): Promise<void> | void {
    const status = e.errorType ?? GOOGLE_STATUS[e.status] ?? (e.status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT');
    const send = () =>
      x.json(e.status, e.body ?? { error: { code: e.status, message: e.message ?? status, status } }, e.headers ?? {});
    if (e.delayMs) return sleep(e.delayMs).then(send);
    send();
  }

  private plan(x: FakeExchange, reply: FakeMessageReply, model: string) {
    const text = reply.text ?? (reply.toolCalls?.length ? '' : defaultReplyText('gemini', lastUserText(x.body)));
    const usage = completeUsage(
      reply.usage,
      scriptsPrompt(reply.usage) ? geminiPromptTokens(x.body, model) : geminiCacheUsage(this.cache, x.body, model),
      text.length,
      { reply, body: x.body },
    );
    const finishReason =
      reply.stopReason === 'maxTokens' ? 'MAX_TOKENS' : reply.stopReason === 'refused' ? 'SAFETY' : 'STOP';
    return { text, usage, finishReason, model: reply.model ?? model, responseId: this.newId('resp') };
  }

  private parts(reply: FakeMessageReply, text: string): Record<string, unknown>[] {
    const parts: Record<string, unknown>[] = [];
    if (reply.thinking) parts.push({ text: reply.thinking, thought: true });
    if (text) parts.push({ text });
    for (const t of reply.toolCalls ?? []) {
      // Gemini 3 signs function calls; the signature must come back with the call in the next request.
      parts.push({
        functionCall: { name: t.name, args: t.input, ...(t.id ? { id: t.id } : {}) },
        thoughtSignature: `sig-${t.name}`,
      });
    }
    return parts;
  }

  private generate(x: FakeExchange, reply: FakeMessageReply, model: string): void {
    const p = this.plan(x, reply, model);
    const refused = reply.stopReason === 'refused';
    x.json(
      200,
      {
        candidates: [
          {
            content: { parts: refused ? [] : this.parts(reply, p.text), role: 'model' },
            finishReason: p.finishReason,
            index: 0,
            ...(refused
              ? { safetyRatings: [{ category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true }] }
              : {}),
          },
        ],
        usageMetadata: reply.rawUsage ?? geminiUsage(p.usage),
        modelVersion: p.model,
        responseId: p.responseId,
      },
      reply.headers ?? {},
    );
  }

  private async stream(x: FakeExchange, reply: FakeMessageReply, model: string): Promise<void> {
    const p = this.plan(x, reply, model);
    const sse = x.sse(reply, {}, (e) => [
      null,
      { error: { code: e.status, message: e.message, status: e.type ?? GOOGLE_STATUS[e.status] ?? 'UNAVAILABLE' } },
    ]);
    const usage = geminiUsage(p.usage);
    // Interim chunks carry the prompt side of the usage only, as the real API does; the last chunk is complete.
    const interim = { promptTokenCount: usage.promptTokenCount, totalTokenCount: usage.promptTokenCount };
    const chunk = (parts: unknown[], last: boolean) => ({
      candidates: [{ content: { parts, role: 'model' }, index: 0, ...(last ? { finishReason: p.finishReason } : {}) }],
      usageMetadata: last ? (reply.rawUsage ?? usage) : interim,
      modelVersion: p.model,
      responseId: p.responseId,
    });
    const pieces: unknown[][] = [];
    if (reply.thinking) pieces.push([{ text: reply.thinking, thought: true }]);
    if (reply.stopReason !== 'refused') for (const t of chunkText(p.text)) if (t) pieces.push([{ text: t }]);
    const calls = this.parts({ toolCalls: reply.toolCalls }, '');
    if (calls.length) pieces.push(calls);
    for (const parts of pieces) {
      if (!(await sse.send(null, chunk(parts, false)))) return;
    }
    if (!(await sse.send(null, chunk([], true)))) return;
    sse.end();
  }
}

const GOOGLE_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export function geminiUsage(u: FakeUsage): { promptTokenCount: number; [key: string]: unknown } {
  const prompt = u.input + u.cacheRead;
  return {
    promptTokenCount: prompt,
    candidatesTokenCount: u.output,
    totalTokenCount: prompt + u.output + u.reasoning,
    ...(u.cacheRead ? { cachedContentTokenCount: u.cacheRead } : {}),
    ...(u.reasoning ? { thoughtsTokenCount: u.reasoning } : {}),
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
  };
}

function lastUserText(body: Record<string, unknown>): string {
  const contents = Array.isArray(body.contents) ? body.contents : [];
  for (let i = contents.length - 1; i >= 0; i--) {
    const c = contents[i] as { role?: string; parts?: Array<{ text?: string; functionResponse?: unknown }> };
    if (c.role !== 'user' || !Array.isArray(c.parts)) continue;
    const texts = c.parts.filter((p) => typeof p.text === 'string').map((p) => p.text);
    if (texts.length) return texts.join(' ');
    const fr = c.parts.find((p) => p.functionResponse);
    if (fr) return `tool result ${JSON.stringify(fr.functionResponse)}`;
  }
  return '';
}
