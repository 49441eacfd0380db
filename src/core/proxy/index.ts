// The budget firewall (docs/proxy.md): a local metering proxy in front of the user's provider endpoints, on the same
// engine and ledger as our workflows. server.ts is the entry; exchange.ts meters one call.
export { DEFAULT_PROXY_PORT, PROXY_HOST, ProxyServer, type ProxyServerOptions } from './server';
export { describeCall, PROXY_WORKFLOW, type ProxyCallEvent } from './exchange';
export { ClientNameError, ProxyTokens, TOKEN_PREFIX, TokenFileError, type ProxyClient } from './tokens';
export { DEFAULT_BASE_URLS, type UpstreamEndpoint, type UpstreamResolver } from './upstream';
