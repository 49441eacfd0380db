import type { ProviderId, TokenUsage } from '../usage';

/**
 * The provider-neutral conversation the runner keeps in checkpoints. Each adapter maps it to its SDK's shape,
 * so a run can be resumed (or degraded to another model) without knowing which provider produced it.
 */
export type ContentPart =
  | { type: 'text'; text: string }
  /**
   * A tool call the model asked for; `id` is the provider's call id (Gemini has none: the adapter makes one).
   * `signature` is Gemini's opaque `thoughtSignature`, which Gemini 3 models require back with the call.
   */
  | { type: 'toolCall'; id: string; name: string; input: unknown; signature?: string }
  /**
   * The model's visible reasoning (Anthropic `thinking` / `redacted_thinking` blocks). Kept in the conversation because
   * Anthropic requires the signed block back when a tool round trip follows it; other providers' adapters skip it.
   */
  | { type: 'thinking'; text: string; signature?: string; redacted?: string }
  /** The result the runner sends back for `callId`. */
  | { type: 'toolResult'; callId: string; name: string; content: string; isError?: boolean };

export interface ChatMessage {
  role: 'user' | 'assistant';
  content: ContentPart[];
}

export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema of the tool's input object. */
  inputSchema: Record<string, unknown>;
}

/** Where a cached prefix ends: after the tools, after the system prompt, or after a block of a message. */
export type CacheBreakpoint =
  | { after: 'tools' }
  | { after: 'system' }
  /** After part `part` of message `index` (default: its last part). */
  | { after: 'message'; index: number; part?: number };

/**
 * The prompt caching a request asks for (src/core/runner/caching.ts decides it; each adapter speaks it its way):
 * Anthropic `cache_control` breakpoints with a life, OpenAI's `prompt_cache_key`. Gemini caches implicitly.
 */
export interface PromptCacheRequest {
  ttl: '5m' | '1h';
  /** Anthropic: at most 4, in prompt order. */
  breakpoints: CacheBreakpoint[];
  /** OpenAI: requests with the same key and prefix land on the same cache. */
  key?: string;
}

export interface ChatRequest {
  model: string;
  system?: string;
  messages: ChatMessage[];
  tools?: ToolSpec[];
  /** Prompt caching to ask for; absent: none asked (OpenAI and Gemini may still cache by themselves). */
  cache?: PromptCacheRequest;
  /** The clamp the budget engine computed; the adapter always sends it (max_tokens / max_output_tokens / maxOutputTokens). */
  maxOutputTokens: number;
  temperature?: number;
  /** Aborting stops the stream at once; the adapter then throws a ProviderError of kind `aborted`. */
  signal?: AbortSignal;
  /** Default true. */
  stream?: boolean;
  /** Streaming text as it arrives (not called for the non-streaming path until the end). */
  onText?: (delta: string) => void;
}

export type StopReason = 'end' | 'maxTokens' | 'toolUse' | 'refused' | 'other';

export interface ToolCall {
  id: string;
  name: string;
  input: unknown;
}

export interface ChatResult {
  /** The assistant message to append to the conversation (text and tool calls, in order). */
  message: ChatMessage;
  /** Concatenated text of the message. */
  text: string;
  toolCalls: ToolCall[];
  stopReason: StopReason;
  /**
   * Normalized usage from the provider's response metadata — never from a local count. Undefined when a call that
   * finished reported none (an OpenAI-compatible server ignoring `stream_options.include_usage`): settle it as
   * unknown usage, i.e. at the reservation, marked estimated, and show `warning`.
   */
  usage?: TokenUsage;
  /** Something the user should know about this call although it succeeded (e.g. why its cost is estimated). */
  warning?: string;
  /** The provider's own usage object(s), kept for audits (e.g. `{message_start, message_delta}` for Anthropic). */
  usageRaw: unknown;
  /** The provider's request or response id (`req_…`, `chatcmpl-…`, `resp_…`, Gemini `responseId`). */
  requestId?: string;
  /** Model name the provider reported (may be a dated snapshot of the requested one). */
  responseModel?: string;
  latencyMs: number;
}

export interface TokenEstimate {
  /** Prompt tokens the request will bill (input + cache), as an upper-leaning estimate. */
  inputTokens: number;
  /** How it was obtained: an exact count from the provider's endpoint, a local tokenizer, or a character heuristic. */
  method: 'endpoint' | 'tokenizer' | 'heuristic';
  /** Why a better method was not used (e.g. the count endpoint failed), for logs; never contains the key. */
  fallbackReason?: string;
}

/** What a provider adapter needs to reach its API. Keys come from SecretStorage (extension) or env (CLI). */
export interface ProviderConfig {
  provider: ProviderId;
  apiKey: string;
  /** Overrides the SDK's default endpoint (OpenAI-compatible local servers, test fakes). */
  baseUrl?: string;
  /** OpenAI only: Chat Completions (default) or the Responses API. */
  api?: 'chat' | 'responses';
  /** Per-request timeout; a stalled stream fails with kind `timeout`. */
  timeoutMs?: number;
  /** Bounded retries of 429 / 5xx / overload with jittered backoff (default 3). */
  maxRetries?: number;
  /** Extra HTTP headers sent with every request (e.g. a gateway's routing header); never logged. */
  headers?: Record<string, string>;
}

export interface ProviderAdapter {
  readonly provider: ProviderId;
  chat(request: ChatRequest): Promise<ChatResult>;
  estimateInputTokens(request: Omit<ChatRequest, 'maxOutputTokens' | 'signal' | 'onText'>): Promise<TokenEstimate>;
}
