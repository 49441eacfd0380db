// An in-memory provider: a ProviderAdapter that answers from a script (text, tool calls, usage) or fails as told,
// with no server, SDK or wire format in between. It is the static fake of the metered-call seam (AGENTS.md):
// tests of the meter and of the runner's money rules hand it in where a real adapter would go. The wire fakes
// (test/fakes/) remain the tests of the adapters themselves.
import { ProviderError, type PartialCallResult } from '../../../src/core/providers/errors';
import { estimateByHeuristic } from '../../../src/core/providers/estimate';
import type { ChatRequest, ChatResult, ProviderAdapter, StopReason, ToolCall } from '../../../src/core/providers/types';
import { MissingApiKeyError, type ProviderAccess } from '../../../src/core/runner/runner';
import { ZERO_USAGE, type ProviderId, type TokenUsage } from '../../../src/core/usage';

/** One scripted reply: an answer (streamed in `chunks`), or a failure. */
export type MemoryReply =
  | {
      text?: string;
      /** The text is streamed in this many pieces (default 1). */
      chunks?: number;
      toolCalls?: ToolCall[];
      /** Reported usage; `null` for a call that finished without any (an OpenAI-compatible server ignoring it). */
      usage?: Partial<TokenUsage> | null;
      stopReason?: StopReason;
    }
  | {
      /** The call fails with this error once the request has "left" (after onText of `streamed`, if any). */
      fail: ProviderError;
      /** Text streamed before the failure. */
      streamed?: string;
    }
  /** The call waits until its signal fires (a hung provider); the abort then fails it as the adapters do. */
  | { hang: true };

export class MemoryProvider implements ProviderAdapter {
  private readonly replies: MemoryReply[] = [];
  /** Every request `chat` received, in order. */
  readonly requests: ChatRequest[] = [];
  /** How many times `estimateInputTokens` was asked. */
  counts = 0;
  private sequence = 0;

  constructor(readonly provider: ProviderId = 'anthropic') {}

  enqueue(...replies: MemoryReply[]): this {
    this.replies.push(...replies);
    return this;
  }

  get pending(): number {
    return this.replies.length;
  }

  async estimateInputTokens(request: Parameters<ProviderAdapter['estimateInputTokens']>[0]) {
    this.counts += 1;
    return estimateByHeuristic(request);
  }

  async chat(request: ChatRequest): Promise<ChatResult> {
    if (request.signal?.aborted) throw this.error('aborted', 'The call was cancelled.', { mayHaveBilled: false });
    this.requests.push(request);
    const reply = this.replies.shift();
    if (!reply) throw new Error(`MemoryProvider: no scripted reply for call ${this.requests.length}`);
    const requestId = `mem_${++this.sequence}`;
    if ('hang' in reply) return this.hang(request);
    if ('fail' in reply) {
      if (reply.streamed) request.onText?.(reply.streamed);
      throw reply.fail;
    }
    const text = reply.text ?? '';
    const chunks = Math.max(1, reply.chunks ?? 1);
    const size = Math.ceil(text.length / chunks) || 1;
    for (let i = 0; i < text.length; i += size) request.onText?.(text.slice(i, i + size));
    const toolCalls = reply.toolCalls ?? [];
    const usage = reply.usage === null ? undefined : { ...ZERO_USAGE, ...(reply.usage ?? { input: 10, output: 5 }) };
    return {
      message: {
        role: 'assistant',
        content: [
          ...(text ? [{ type: 'text' as const, text }] : []),
          ...toolCalls.map((c) => ({ type: 'toolCall' as const, id: c.id, name: c.name, input: c.input })),
        ],
      },
      text,
      toolCalls,
      stopReason: reply.stopReason ?? (toolCalls.length ? 'toolUse' : 'end'),
      usage,
      usageRaw: { memory: usage ?? null },
      requestId,
      latencyMs: 1,
    };
  }

  /** A failure as the adapters build it (kind, billing flag, partial stream). */
  error(
    kind: ProviderError['kind'],
    message: string,
    extra: { status?: number; mayHaveBilled?: boolean; partial?: PartialCallResult; retryAfterMs?: number } = {},
  ): ProviderError {
    return new ProviderError({ provider: this.provider, kind, message, requestId: `mem_${this.sequence}`, ...extra });
  }

  private hang(request: ChatRequest): Promise<never> {
    return new Promise((_, reject) => {
      const onAbort = () => reject(this.error('aborted', 'The call was cancelled.', { mayHaveBilled: true }));
      if (request.signal?.aborted) onAbort();
      else request.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** Provider access over in-memory providers (one per provider id); a provider without one has no key. */
export function memoryAccess(providers: Partial<Record<ProviderId, MemoryProvider>>): ProviderAccess {
  return {
    hasKey: (p) => providers[p] !== undefined,
    async adapter(provider) {
      const adapter = providers[provider];
      if (!adapter) throw new MissingApiKeyError(provider, `No ${provider} key in this test.`);
      return adapter;
    },
  };
}
