import type { AdapterDeps } from './adapter';
import { AnthropicAdapter } from './anthropic';
import { GeminiAdapter } from './gemini';
import { OpenAIAdapter } from './openai';
import type { ProviderAdapter, ProviderConfig } from './types';

/** The adapter for a provider config (extension: key from SecretStorage; CLI: key and base URL from env). */
export function createProviderAdapter(config: ProviderConfig, deps?: AdapterDeps): ProviderAdapter {
  switch (config.provider) {
    case 'anthropic':
      return new AnthropicAdapter(config, deps);
    case 'openai':
      return new OpenAIAdapter(config, deps);
    case 'gemini':
      return new GeminiAdapter(config, deps);
  }
}

export { AnthropicAdapter, GeminiAdapter, OpenAIAdapter };
export type { AdapterDeps } from './adapter';
export { ProviderError, type PartialCallResult, type ProviderErrorKind } from './errors';
export { compareEstimate, type EstimateReport } from './estimate';
