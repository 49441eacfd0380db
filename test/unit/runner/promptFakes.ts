// Providers that answer by what each request asks, for sub-agents running concurrently: whichever order their calls
// arrive in, each gets its own answer (a reply queue would hand answers out in arrival order).
import type http from 'node:http';
import { FakeAnthropic, type FakeReply, type Running } from '../../fakes';
import { listen, type LoggedRequest } from '../../fakes/server';
import { estimateByHeuristic, inputTokenBound } from '../../../src/core/providers/estimate';
import type { ChatRequest, ChatResult, ProviderAdapter } from '../../../src/core/providers/types';
import { ZERO_USAGE } from '../../../src/core/usage';

/** The first user text of a request: the task's rendered prompt. */
export function promptOfBody(body: unknown): string {
  const messages = (body as { messages?: Array<{ role: string; content: unknown }> } | undefined)?.messages ?? [];
  const first = messages.find((m) => m.role === 'user');
  if (!first) return '';
  if (typeof first.content === 'string') return first.content;
  return (first.content as Array<{ type: string; text?: string }>)
    .filter((p) => p.type === 'text')
    .map((p) => p.text ?? '')
    .join('');
}

/**
 * The fake Anthropic server (the real wire format through the official SDK) answering each generation request by
 * its prompt: `answer(prompt, nth)` (nth: how many times this prompt was asked before). Queued replies still go
 * first. It also knows which requests got their whole response (`finished`).
 */
export class PromptAnthropic extends FakeAnthropic {
  readonly finished = new Set<number>();
  private readonly asked = new Map<string, number>();

  constructor(private readonly answer: (prompt: string, nth: number) => FakeReply | undefined) {
    super();
  }

  /** How many generation requests asked `prompt` (by prefix). */
  requestsFor(prefix: string): number {
    return this.generationRequests.filter((r) => promptOfBody(r.body).startsWith(prefix)).length;
  }

  override async handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> {
    const index = this.requests.length;
    res.on('finish', () => this.finished.add(index));
    return super.handle(req, res, path);
  }

  protected override nextReply(request: LoggedRequest): FakeReply | undefined {
    const queued = super.nextReply(request);
    if (queued) return queued;
    const prompt = promptOfBody(request.body);
    const nth = this.asked.get(prompt) ?? 0;
    this.asked.set(prompt, nth + 1);
    return this.answer(prompt, nth);
  }
}

export async function startPromptAnthropic(
  answer: (prompt: string, nth: number) => FakeReply | undefined,
): Promise<Running<PromptAnthropic>> {
  const fake = new PromptAnthropic(answer);
  const server = await listen([{ prefix: '', fake, basePath: '' }]);
  return Object.assign(fake, { close: server.close, url: server.url });
}

/**
 * An in-memory adapter for races: every call is held until `width` calls are in flight together (or `holdMs`
 * passed), answers `text(prompt)`, and bills its whole worst case — the prompt bound it was reserved with and every
 * output token it was allowed — so any overshoot of a limit would show in the ledger.
 */
export class RacingProvider implements ProviderAdapter {
  readonly provider = 'anthropic' as const;
  inFlight = 0;
  maxInFlight = 0;
  readonly maxTokensSent: number[] = [];
  readonly prompts: string[] = [];
  private waiters: Array<() => void> = [];

  constructor(
    private readonly width: number,
    private readonly text: (prompt: string) => string,
    private readonly holdMs = 2_000,
  ) {}

  async estimateInputTokens(request: Parameters<ProviderAdapter['estimateInputTokens']>[0]) {
    return estimateByHeuristic(request);
  }

  async chat(request: ChatRequest): Promise<ChatResult> {
    const prompt = promptOfBody({ messages: request.messages });
    this.prompts.push(prompt);
    this.maxTokensSent.push(request.maxOutputTokens);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    if (this.inFlight >= this.width) for (const w of this.waiters.splice(0)) w();
    else
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.holdMs);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    this.inFlight -= 1;
    const text = this.text(prompt);
    // Never more prompt than was reserved (the bound, or the count when the bound would bind).
    const input = Math.min(inputTokenBound(request), estimateByHeuristic(request).inputTokens);
    const usage = { ...ZERO_USAGE, input, output: request.maxOutputTokens };
    return {
      message: { role: 'assistant', content: [{ type: 'text', text }] },
      text,
      toolCalls: [],
      stopReason: 'maxTokens',
      usage,
      usageRaw: { racing: usage },
      requestId: `race_${this.prompts.length}`,
      latencyMs: 1,
    };
  }
}
