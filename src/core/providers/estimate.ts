import path from 'node:path';
import { promptTokens, type TokenUsage } from '../usage';
import type { ChatRequest, TokenEstimate } from './types';

/**
 * Input-token estimates made before a call, to size its reservation. They lean HIGH on purpose: an estimate that
 * is too low lets a call start that a hard limit should have stopped; one that is too high only holds a little
 * more budget until the call settles to the provider's reported usage.
 *
 * Margins (documented here, tested in test/unit/providers/estimate.test.ts):
 * - endpoint (Anthropic `messages.countTokens`, Gemini `models.countTokens`): the provider's count + 2 %
 *   (Anthropic calls its count an estimate that can differ slightly from the billed input);
 * - tokenizer (OpenAI, o200k_base): exact token count of every text, tool call, tool result and tool schema
 *   (schemas counted as JSON, which is longer than the form OpenAI feeds the model), + 4 tokens per message and
 *   + 3 for the reply priming (OpenAI's documented chat overhead), then + 5 %;
 * - heuristic (no key, endpoint failure, tokenizer missing): 1 token per 3 ASCII characters and 1 per non-ASCII
 *   character (CJK text is about a token per character), + 4 per message, + 20 % — roughly 1.6× a typical
 *   English count, 1.2× for code.
 */
export type EstimateInput = Omit<ChatRequest, 'maxOutputTokens' | 'signal' | 'onText'>;

export const ENDPOINT_MARGIN = 1.02;
export const TOKENIZER_MARGIN = 1.05;
export const HEURISTIC_MARGIN = 1.2;
export const TOKENS_PER_MESSAGE = 4;
export const REPLY_PRIMING_TOKENS = 3;

/** Every piece of text the request sends, in order (system, messages, tool schemas). */
export function requestTexts(request: EstimateInput): string[] {
  const texts: string[] = [];
  if (request.system) texts.push(request.system);
  for (const m of request.messages) {
    for (const part of m.content) {
      switch (part.type) {
        case 'text':
          texts.push(part.text);
          break;
        case 'toolCall':
          texts.push(part.name, JSON.stringify(part.input ?? {}));
          break;
        case 'toolResult':
          texts.push(part.content);
          break;
        case 'thinking':
          texts.push(part.text);
          break;
      }
    }
  }
  for (const tool of request.tools ?? []) {
    texts.push(tool.name, tool.description, JSON.stringify(tool.inputSchema));
  }
  return texts;
}

/** Per message, tool call and tool result: role markers, ids and separators no text of the request carries. */
export const BOUND_TOKENS_PER_PART = 32;
/** The providers' hidden tool-use instructions when tools are offered (Anthropic documents 300-odd tokens). */
export const BOUND_TOOLS_ALLOWANCE = 600;

/**
 * An upper bound on the prompt tokens of `request` under any provider's tokenizer, from its UTF-8 size: the
 * byte-level BPE of Anthropic and OpenAI and Gemini's SentencePiece with byte fallback never make more tokens than
 * bytes. It needs no network and no tokenizer, so the budget engine can reserve with it whenever its slack does
 * not matter, and asks for the exact count only when it would bind a limit (BudgetEngine.admit).
 */
export function inputTokenBound(request: EstimateInput): number {
  let bytes = 0;
  for (const text of requestTexts(request)) bytes += Buffer.byteLength(text, 'utf8');
  let parts = request.messages.length + (request.system ? 1 : 0);
  for (const m of request.messages)
    for (const part of m.content) if (part.type === 'toolCall' || part.type === 'toolResult') parts += 1;
  return (
    bytes + parts * BOUND_TOKENS_PER_PART + REPLY_PRIMING_TOKENS + (request.tools?.length ? BOUND_TOOLS_ALLOWANCE : 0)
  );
}

export function estimateByHeuristic(request: EstimateInput): TokenEstimate {
  let ascii = 0;
  let other = 0;
  for (const text of requestTexts(request)) {
    for (const ch of text) {
      if (ch.charCodeAt(0) < 128) ascii += 1;
      else other += 1;
    }
  }
  const overhead = request.messages.length * TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS;
  return { inputTokens: Math.ceil((ascii / 3 + other + overhead) * HEURISTIC_MARGIN), method: 'heuristic' };
}

type Counter = (text: string) => number;
let o200k: Counter | undefined;

/**
 * Loads the o200k counter on first use. In the bundles `__dirname` is `dist/`, where esbuild writes `o200k.js`
 * as its own file; under tsx (tests) it is this folder, where `o200k.ts` is. The path is computed so esbuild does
 * not pull the 2 MB table into the bundle that requires it.
 */
export function loadO200kCounter(): Counter {
  if (!o200k) {
    const mod = require(path.join(__dirname, 'o200k')) as { countO200kTokens: Counter };
    o200k = mod.countO200kTokens;
  }
  return o200k;
}

export function estimateWithTokenizer(request: EstimateInput, count: Counter = loadO200kCounter()): TokenEstimate {
  let tokens = request.messages.length * TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS;
  if (request.system) tokens += TOKENS_PER_MESSAGE;
  for (const text of requestTexts(request)) tokens += count(text);
  return { inputTokens: Math.ceil(tokens * TOKENIZER_MARGIN), method: 'tokenizer' };
}

export function withEndpointMargin(count: number): number {
  return Math.ceil(count * ENDPOINT_MARGIN);
}

/** Estimate error of one call, reported after it settled (estimate-vs-actual in the budget panel). */
export interface EstimateReport {
  method: TokenEstimate['method'];
  estimatedTokens: number;
  /** Prompt tokens the provider billed (input + cache reads + cache writes). */
  actualTokens: number;
  /** estimated − actual: positive means the reservation was larger than needed. */
  errorTokens: number;
  /** errorTokens / actual, in percent with one decimal (0 when actual is 0). */
  errorPct: number;
}

export function compareEstimate(estimate: TokenEstimate, usage: TokenUsage): EstimateReport {
  const actual = promptTokens(usage);
  const error = estimate.inputTokens - actual;
  return {
    method: estimate.method,
    estimatedTokens: estimate.inputTokens,
    actualTokens: actual,
    errorTokens: error,
    errorPct: actual === 0 ? 0 : Math.round((error / actual) * 1000) / 10,
  };
}
