/**
 * Local models: an OpenAI-compatible server on the user's own machine (Ollama, LM Studio, vLLM) needs no key and
 * costs nothing per token. Only an endpoint the user set (their settings or environment) counts: a repository's
 * `providers.*.baseUrl` never turns a price to $0.
 */

/** True for an http(s) URL whose host is loopback: `localhost` (or `*.localhost`), 127.0.0.0/8 or `[::1]`. */
export function isLoopbackEndpoint(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return false;
  const host = parsed.hostname.toLowerCase();
  return (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
  );
}
