import type { PromptCaching } from '../budget/types';
import type { CachingPolicy } from '../policy/types';
import { ANTHROPIC_MAX_BREAKPOINTS, cacheMinimum } from '../pricing/caching';
import type { CacheBreakpoint, ChatRequest, PromptCacheRequest } from '../providers/types';
import type { ProviderId } from '../usage';

/**
 * Which prefix of a call to cache, and how to ask each provider for it (policy `caching`, default `auto`). The
 * conversation is laid out stable-first — tools, system prompt, the step's context block (a file, notes, findings),
 * then the prompt and the turns of a loop — so every provider's prefix cache can hit:
 *
 * - Anthropic caches only up to `cache_control` breakpoints. One goes after the system prompt (or the tools), one
 *   after the context block, and in an agent loop one after the conversation so far (the next turn re-sends all of
 *   it) — each only where the prefix up to it reaches the model's minimum (pricing/caching.ts), at most 4. A
 *   single call's prompt is not marked: its own text is rarely sent again, and a write bills 1.25× (2× for an hour).
 * - OpenAI caches by itself; the run's `prompt_cache_key` keeps its calls on one cache. Not sent to a local server.
 * - Gemini caches implicitly: the layout is all it needs.
 *
 * `promptCaching` is what the reservation must price: a call that asks for writes holds its prompt at the write rate.
 */

export interface CacheContext {
  caching: CachingPolicy;
  provider: ProviderId;
  model: string;
  /** `prompt_cache_key` of OpenAI calls: one per run. */
  key: string;
  /** The step is an agent loop: the conversation so far is sent again next turn. */
  loop: boolean;
  /** The opening message starts with the step's context block. */
  contextPart: boolean;
  localEndpoint: boolean;
  /** Likely provider tokens of a piece of text (runner/estimates.ts). */
  tokens: (text: string) => number;
}

export function promptCacheFor(
  request: Omit<ChatRequest, 'maxOutputTokens'>,
  ctx: CacheContext,
): { cache?: PromptCacheRequest; promptCaching: PromptCaching } {
  if (ctx.caching === 'off') return { promptCaching: 'none' };
  const ttl = ctx.caching === '1h' ? '1h' : '5m';
  if (ctx.provider === 'openai')
    return { ...(ctx.localEndpoint ? {} : { cache: { ttl, breakpoints: [], key: ctx.key } }), promptCaching: 'none' };
  if (ctx.provider !== 'anthropic') return { promptCaching: 'none' };

  const min = cacheMinimum('anthropic', ctx.model).tokens;
  const breakpoints: CacheBreakpoint[] = [];
  let prefix = 0;
  for (const t of request.tools ?? [])
    prefix += ctx.tokens(t.name) + ctx.tokens(t.description) + ctx.tokens(JSON.stringify(t.inputSchema));
  if (request.system) prefix += ctx.tokens(request.system);
  if (prefix >= min) breakpoints.push(request.system ? { after: 'system' } : { after: 'tools' });

  const last = request.messages.length - 1;
  request.messages.forEach((m, index) => {
    m.content.forEach((part, i) => {
      prefix += partTokens(part, ctx.tokens);
      if (index === 0 && i === 0 && ctx.contextPart && prefix >= min)
        breakpoints.push({ after: 'message', index, part: i });
    });
    if (ctx.loop && index === last && prefix >= min) breakpoints.push({ after: 'message', index });
  });
  const kept = breakpoints.slice(-ANTHROPIC_MAX_BREAKPOINTS);
  return kept.length ? { cache: { ttl, breakpoints: kept }, promptCaching: ttl } : { promptCaching: 'none' };
}

function partTokens(
  part: ChatRequest['messages'][number]['content'][number],
  tokens: (text: string) => number,
): number {
  switch (part.type) {
    case 'text':
    case 'thinking':
      return tokens(part.text);
    case 'toolCall':
      return tokens(part.name) + tokens(JSON.stringify(part.input ?? {}));
    case 'toolResult':
      return tokens(part.content);
  }
}
