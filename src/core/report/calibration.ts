import type { ProviderId } from '../usage';

/**
 * The prompt estimate shown to people (the panel's estimate vs actual, the quote, soft-limit warnings), as honest as
 * a count made before the call can be. It is never what guarantees a limit: the reservation holds an upper bound
 * (the prompt's UTF-8 size, or the provider's count), and this only says what the call will likely bill.
 *
 * Every prompt is first measured the same way, with OpenAI's o200k tokenizer over the texts it sends (the `basis`).
 * For OpenAI models that is their own tokenizer, so it is the estimate. Other providers tokenize differently, so
 * each model's estimate is the basis × a factor learned from this workspace's own calls of that model: Σ actual
 * prompt tokens ÷ Σ basis over its recent calls (the provider's reported usage is the truth), starting from a prior
 * (PRIOR_FACTOR) that the first calls quickly outweigh. The samples of each finished run are kept with the run
 * (`RunData.prompts`), so a new window or CLI process starts from what the workspace has learned.
 */

/** One model's calls summed: basis and actual prompt tokens, output tokens, how many calls. */
export interface PromptSample {
  basis: number;
  actual: number;
  output: number;
  calls: number;
}

/** Basis → provider tokens before any call of the model has been seen (Claude's tokenizer makes more than o200k). */
export const PRIOR_FACTOR: Record<ProviderId, number> = { anthropic: 1.2, openai: 1, gemini: 1 };
/** How many basis tokens the prior weighs: one ordinary call outweighs it. */
const PRIOR_WEIGHT = 200;
/** The recent calls a factor is learned from (older ones drop out: a model's tokenizer can change). */
export const CALIBRATION_WINDOW = 50;
/** A reply's length before any call of the model has been seen, for what is "likely" (the clamp caps it). */
export const DEFAULT_LIKELY_OUTPUT = 1_000;

export interface PromptEstimate {
  /** The likely prompt tokens of the call. */
  tokens: number;
  method: 'tokenizer' | 'calibrated' | 'prior';
  /** Calls of the model the factor was learned from. */
  calls: number;
}

export class PromptCalibration {
  /** Recent calls by model, oldest first (at most CALIBRATION_WINDOW each). */
  private readonly recent = new Map<string, PromptSample[]>();
  private loaded = false;

  /** `history`: the workspace's earlier runs' `prompts`, newest first (read once, on the first estimate; checked). */
  constructor(private readonly history: () => Iterable<unknown> = () => []) {}

  /** The likely prompt tokens of a call to `model` whose prompt measures `basis` o200k tokens. */
  estimate(provider: ProviderId, model: string, basis: number): PromptEstimate {
    if (provider === 'openai') return { tokens: basis, method: 'tokenizer', calls: 0 };
    const sum = this.sum(model);
    const prior = PRIOR_FACTOR[provider];
    const factor = (sum.actual + prior * PRIOR_WEIGHT) / (sum.basis + PRIOR_WEIGHT);
    return { tokens: Math.round(basis * factor), method: sum.calls > 0 ? 'calibrated' : 'prior', calls: sum.calls };
  }

  /** The likely length of a reply of `model`: its recent average, else DEFAULT_LIKELY_OUTPUT. */
  likelyOutput(model: string): number {
    const sum = this.sum(model);
    return sum.calls > 0 ? Math.round(sum.output / sum.calls) : DEFAULT_LIKELY_OUTPUT;
  }

  /** A settled call: what its prompt measured, what the provider billed, how long the reply was. */
  learn(model: string, sample: Omit<PromptSample, 'calls'>): void {
    if (sample.basis <= 0 || sample.actual <= 0) return;
    this.load();
    this.push(model, { ...sample, calls: 1 }, 'newest');
  }

  private sum(model: string): PromptSample {
    this.load();
    const out: PromptSample = { basis: 0, actual: 0, output: 0, calls: 0 };
    for (const s of this.recent.get(model) ?? []) {
      out.basis += s.basis;
      out.actual += s.actual;
      out.output += s.output;
      out.calls += s.calls;
    }
    return out;
  }

  private load(): void {
    if (this.loaded) return;
    this.loaded = true;
    for (const run of this.history()) {
      for (const [model, s] of Object.entries(readSamples(run))) this.push(model, s, 'oldest');
    }
  }

  /** Adds calls at one end of the model's window, keeping the most recent CALIBRATION_WINDOW calls. */
  private push(model: string, sample: PromptSample, end: 'newest' | 'oldest'): void {
    const list = this.recent.get(model) ?? [];
    const calls = list.reduce((n, s) => n + s.calls, 0);
    if (end === 'oldest') {
      if (calls < CALIBRATION_WINDOW) list.unshift(sample);
    } else {
      list.push(sample);
      let total = calls + sample.calls;
      while (total > CALIBRATION_WINDOW && list.length > 1) total -= list.shift()!.calls;
    }
    this.recent.set(model, list);
  }
}

/** Sums samples by model (a run's calls, for its run record). */
export function addSample(
  into: Record<string, PromptSample>,
  model: string,
  sample: Omit<PromptSample, 'calls'>,
): void {
  const s = (into[model] ??= { basis: 0, actual: 0, output: 0, calls: 0 });
  s.basis += sample.basis;
  s.actual += sample.actual;
  s.output += sample.output;
  s.calls += 1;
}

/** The valid samples of a stored run's `prompts` (machine state is checked like any input). */
export function readSamples(v: unknown): Record<string, PromptSample> {
  const out: Record<string, PromptSample> = {};
  if (!v || typeof v !== 'object' || Array.isArray(v)) return out;
  for (const [model, s] of Object.entries(v as Record<string, unknown>)) if (isSample(s)) out[model] = { ...s };
  return out;
}

function isSample(v: unknown): v is PromptSample {
  const s = v as PromptSample | null;
  return (
    !!s &&
    typeof s === 'object' &&
    [s.basis, s.actual, s.output, s.calls].every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0) &&
    s.calls > 0 &&
    s.basis > 0
  );
}
