import {
  loadO200kCounter,
  REPLY_PRIMING_TOKENS,
  requestTexts,
  TOKENS_PER_MESSAGE,
  type EstimateInput,
} from '../providers/estimate';
import { PromptCalibration, type PromptEstimate } from '../report/calibration';
import type { ProviderId, TokenUsage } from '../usage';
import { completionTokens, promptTokens } from '../usage';

/**
 * How big a call's prompt will likely be, before it is made: the o200k count of what it sends (the `basis`), turned
 * into the provider's tokens by the workspace's calibration (report/calibration.ts). What people see — the quote,
 * soft-limit warnings, the panel's estimate vs actual — comes from here; what guarantees a hard limit never does
 * (that is the prompt's byte bound, or the provider's count: see BudgetEngine.admit).
 *
 * Texts repeat from one turn of a loop to the next, so each is tokenized once (a bounded memo).
 */
export class PromptEstimates {
  private readonly counted = new Map<string, number>();
  /** Characters the memo holds (tool results can be large: it is bounded by size, not only by count). */
  private memoChars = 0;
  private counter: ((text: string) => number) | undefined;

  constructor(readonly calibration: PromptCalibration = new PromptCalibration()) {}

  /** The o200k tokens of `text` (UTF-8 bytes ÷ 4 if the tokenizer cannot be loaded). */
  count(text: string): number {
    let n = this.counted.get(text);
    if (n === undefined) {
      n = this.tokenizer()(text);
      if (this.counted.size >= MEMO_SIZE || this.memoChars + text.length > MEMO_CHARS) {
        this.counted.clear();
        this.memoChars = 0;
      }
      this.counted.set(text, n);
      this.memoChars += text.length;
    }
    return n;
  }

  /** The request's basis: o200k tokens of every text it sends, plus the chat format's per-message overhead. */
  basis(request: EstimateInput): number {
    let tokens = request.messages.length * TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS;
    if (request.system) tokens += TOKENS_PER_MESSAGE;
    for (const text of requestTexts(request)) tokens += this.count(text);
    return tokens;
  }

  /** The likely prompt tokens of `request` sent to `model`. */
  prompt(provider: ProviderId, model: string, request: EstimateInput): PromptEstimate & { basis: number } {
    const basis = this.basis(request);
    return { ...this.calibration.estimate(provider, model, basis), basis };
  }

  /** The likely length of the answer, at most `clamp`. */
  output(model: string, clamp: number | undefined): number {
    const likely = this.calibration.likelyOutput(model);
    return clamp === undefined ? likely : Math.min(likely, clamp);
  }

  /** A settled call teaches the calibration what `model` bills for a prompt of this basis. */
  learn(model: string, basis: number, usage: TokenUsage): { basis: number; actual: number; output: number } {
    const sample = { basis, actual: promptTokens(usage), output: completionTokens(usage) };
    this.calibration.learn(model, sample);
    return sample;
  }

  private tokenizer(): (text: string) => number {
    if (!this.counter) {
      try {
        this.counter = loadO200kCounter();
      } catch {
        this.counter = (text) => Math.ceil(Buffer.byteLength(text, 'utf8') / 4);
      }
    }
    return this.counter;
  }
}

/** Distinct texts remembered (a long loop's messages and tool results); beyond either bound the memo starts over. */
const MEMO_SIZE = 4_096;
const MEMO_CHARS = 8_000_000;
