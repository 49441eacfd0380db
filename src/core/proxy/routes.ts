import type http from 'node:http';
import type { ProviderId } from '../usage';
import { anthropicMessages } from './anthropic';
import { geminiGenerate } from './gemini';
import { openaiChat, openaiResponses } from './openai';
import type { MeteredRequest } from './wire';

/**
 * The paths the proxy serves (docs/proxy.md): the providers' own, so a client changes only its base URL, and ours under
 * `/agent-budget/v1/`. Paths that cost money are metered; the free ones (count tokens, list models) are passed
 * through with the user's key; anything else is refused, since an unknown path may cost money the budget cannot see.
 */
export type Route =
  | { kind: 'metered'; provider: ProviderId; parse(body: Record<string, unknown>): MeteredRequest }
  | { kind: 'free'; provider: ProviderId }
  | { kind: 'readApi'; resource: 'status' | 'report' | 'runs' }
  | { kind: 'unknown'; provider: ProviderId };

export const READ_API_PREFIX = '/agent-budget/v1/';

export function route(
  method: string,
  pathname: string,
  headers: http.IncomingHttpHeaders,
  search: URLSearchParams,
): Route {
  const provider = guessProvider(pathname, headers, search);
  if (pathname.startsWith(READ_API_PREFIX)) {
    const resource = pathname.slice(READ_API_PREFIX.length);
    if (method === 'GET' && (resource === 'status' || resource === 'report' || resource === 'runs'))
      return { kind: 'readApi', resource };
    return { kind: 'unknown', provider };
  }
  if (method === 'POST') {
    switch (pathname) {
      case '/v1/messages':
        return { kind: 'metered', provider: 'anthropic', parse: anthropicMessages };
      case '/v1/messages/count_tokens':
        return { kind: 'free', provider: 'anthropic' };
      case '/v1/chat/completions':
        return { kind: 'metered', provider: 'openai', parse: openaiChat };
      case '/v1/responses':
        return { kind: 'metered', provider: 'openai', parse: openaiResponses };
    }
    const gemini = /^\/(v1beta|v1|v1alpha)\/models\/([^/:]+):(generateContent|streamGenerateContent|countTokens)$/.exec(
      pathname,
    );
    if (gemini) {
      const [, version, rawModel, method] = gemini as unknown as [string, string, string, string];
      let model: string;
      try {
        model = decodeURIComponent(rawModel);
      } catch {
        return { kind: 'unknown', provider: 'gemini' };
      }
      if (method === 'countTokens') return { kind: 'free', provider: 'gemini' };
      const stream = method === 'streamGenerateContent';
      return { kind: 'metered', provider: 'gemini', parse: (body) => geminiGenerate(body, model, stream, version) };
    }
  }
  // Listing models is free; `/v1/models` is both Anthropic's and OpenAI's path: the Anthropic SDK always sends its
  // version header.
  if (method === 'GET' && /^\/v1\/models(\/[^/]+)?$/.test(pathname)) return { kind: 'free', provider };
  if (method === 'GET' && /^\/(v1beta|v1)\/models(\/[^/:]+)?$/.test(pathname) && provider === 'gemini')
    return { kind: 'free', provider };
  return { kind: 'unknown', provider };
}

/** Which provider a request speaks, for paths shared or unknown (and the shape of an error about it). */
function guessProvider(pathname: string, headers: http.IncomingHttpHeaders, search: URLSearchParams): ProviderId {
  if (headers['anthropic-version'] !== undefined || pathname.startsWith('/v1/messages')) return 'anthropic';
  if (headers['x-goog-api-key'] !== undefined || search.has('key') || /^\/v1(beta|alpha)\//.test(pathname))
    return 'gemini';
  return 'openai';
}
