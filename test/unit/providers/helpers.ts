import assert from 'node:assert/strict';
import { ProviderError, type ProviderErrorKind } from '../../../src/core/providers/errors';
import type { AdapterDeps } from '../../../src/core/providers/adapter';
import type { ChatMessage, ChatRequest } from '../../../src/core/providers/types';

/** A key no test output may ever contain. */
export const SECRET_KEY = 'sk-SECRET-do-not-leak-7f3a9c1e5b';

/** Retry waits are recorded, not slept (an abort still interrupts them); jitter is fixed at the midpoint. */
export function fastDeps(extra: Partial<AdapterDeps> = {}): AdapterDeps & { sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    sleeps,
    random: () => 0.5,
    sleep: async (ms, signal) => {
      sleeps.push(ms);
      if (signal?.aborted) throw signal.reason;
    },
    ...extra,
  };
}

export function user(text: string): ChatMessage {
  return { role: 'user', content: [{ type: 'text', text }] };
}

export function request(model: string, extra: Partial<ChatRequest> = {}): ChatRequest {
  return { model, maxOutputTokens: 256, messages: [user('Summarize the README in one line.')], ...extra };
}

export const READ_FILE_TOOL = {
  name: 'readFile',
  description: 'Read a file in the workspace',
  inputSchema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
};

/** Awaits a rejection and checks it is a ProviderError of `kind`. */
export async function rejectsWith(promise: Promise<unknown>, kind: ProviderErrorKind): Promise<ProviderError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ProviderError, `expected a ProviderError, got ${String(err)}`);
    assert.equal(err.kind, kind, `expected kind ${kind}, got ${err.kind}: ${err.message}`);
    return err;
  }
  assert.fail(`expected the call to fail with ${kind}`);
}

/** Everything an error exposes as text: message, stack, the cause chain, and the partial result. */
export function everythingSaid(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let i = 0; e && i < 10; i++) {
    parts.push(String(e), (e as Error).message ?? '', (e as Error).stack ?? '');
    e = (e as { cause?: unknown }).cause;
  }
  if (err instanceof ProviderError) parts.push(JSON.stringify(err.partial ?? null), JSON.stringify(err));
  return parts.join('\n');
}

/** One of each wire format the adapters speak, with a model the fakes and the price table know. */
export const API_TARGETS = [
  { name: 'Anthropic', provider: 'anthropic', model: 'claude-haiku-4-5' },
  { name: 'OpenAI Chat', provider: 'openai', api: 'chat', model: 'gpt-5' },
  { name: 'OpenAI Responses', provider: 'openai', api: 'responses', model: 'gpt-5' },
  { name: 'Gemini', provider: 'gemini', model: 'gemini-2.5-flash' },
] as const;
