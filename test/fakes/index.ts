import { FakeAnthropic } from './anthropic';
import { FakeGemini } from './gemini';
import { FakeOpenAI } from './openai';
import { listen, type FakeOptions, type FakeServer } from './server';

/**
 * Fake Anthropic, OpenAI and Gemini servers that speak the real HTTP + SSE wire formats, for tests, the runner's
 * e2e tests and the demo. No real provider is ever called.
 *
 *   const fake = await startFakeAnthropic();
 *   fake.enqueue({ text: 'hi', usage: { input: 10, output: 2 } }, { type: 'error', status: 429, headers: { 'retry-after': '1' } });
 *   const adapter = new AnthropicAdapter({ provider: 'anthropic', apiKey: 'k', baseUrl: fake.baseUrl });
 *   …; fake.requests[0].body; await fake.close();
 */
export { FakeAnthropic, anthropicUsage } from './anthropic';
export { FakeGemini, geminiUsage } from './gemini';
export { FakeOpenAI, chatUsage, responsesUsage } from './openai';
export type {
  FakeCountReply,
  FakeErrorReply,
  FakeHangReply,
  FakeMessageReply,
  FakeOptions,
  FakeReply,
  FakeToolCall,
  FakeUsage,
  LoggedRequest,
} from './server';

export type Running<T> = T & { close(): Promise<void>; url: string };

function running<T extends object>(fake: T, server: FakeServer): Running<T> {
  return Object.assign(fake, { close: server.close, url: server.url });
}

/** Anthropic on its own port; `baseUrl` is the server root (the SDK appends `/v1/messages`). */
export async function startFakeAnthropic(options?: FakeOptions): Promise<Running<FakeAnthropic>> {
  const fake = new FakeAnthropic(options);
  return running(fake, await listen([{ prefix: '', fake, basePath: '' }]));
}

/** OpenAI on its own port; `baseUrl` ends in `/v1`, like the SDK's default. */
export async function startFakeOpenAI(options?: FakeOptions): Promise<Running<FakeOpenAI>> {
  const fake = new FakeOpenAI(options);
  return running(fake, await listen([{ prefix: '', fake, basePath: '/v1' }]));
}

/** Gemini on its own port; `baseUrl` is the server root (the SDK appends `/v1beta/models/…`). */
export async function startFakeGemini(options?: FakeOptions): Promise<Running<FakeGemini>> {
  const fake = new FakeGemini(options);
  return running(fake, await listen([{ prefix: '', fake, basePath: '' }]));
}

/**
 * All three on one port under `/anthropic`, `/openai` and `/gemini` (handy for the demo and e2e tests, which
 * set `ANTHROPIC_BASE_URL`, `OPENAI_BASE_URL` and `GEMINI_BASE_URL` to the three `baseUrl`s).
 */
export async function startFakeProviders(
  options: {
    anthropic?: FakeOptions;
    openai?: FakeOptions;
    gemini?: FakeOptions;
  } = {},
): Promise<{ anthropic: FakeAnthropic; openai: FakeOpenAI; gemini: FakeGemini; url: string; close(): Promise<void> }> {
  const anthropic = new FakeAnthropic(options.anthropic);
  const openai = new FakeOpenAI(options.openai);
  const gemini = new FakeGemini(options.gemini);
  const server = await listen([
    { prefix: '/anthropic', fake: anthropic, basePath: '' },
    { prefix: '/openai', fake: openai, basePath: '/v1' },
    { prefix: '/gemini', fake: gemini, basePath: '' },
  ]);
  return { anthropic, openai, gemini, url: server.url, close: server.close };
}
