import {
  BOUND_TOKENS_PER_PART,
  BOUND_TOOLS_ALLOWANCE,
  loadO200kCounter,
  REPLY_PRIMING_TOKENS,
  TOKENIZER_MARGIN,
  TOKENS_PER_MESSAGE,
} from '../providers/estimate';
import type { PromptShape } from './wire';

/**
 * Prompt sizes of a proxied request, as the runner sizes its own (providers/estimate.ts): an upper bound from
 * UTF-8 bytes, reserved when it does not matter; a count (the provider's endpoint, or OpenAI's tokenizer) asked for
 * only when the bound would shorten the answer or block the call.
 */

/**
 * What one media part the request references by URL or file id may bill, when nothing better is known: an image at
 * any detail on every provider's current models, or a document of about ten pages.
 */
export const MEDIA_TOKENS = 25_000;

/** The upper bound: the prompt's JSON bytes, framing per part, the hidden tool instructions, referenced media. */
export function promptBound(shape: PromptShape): number {
  return (
    shape.jsonBytes +
    shape.parts * BOUND_TOKENS_PER_PART +
    REPLY_PRIMING_TOKENS +
    (shape.hasTools ? BOUND_TOOLS_ALLOWANCE : 0) +
    shape.referencedMedia * MEDIA_TOKENS
  );
}

/** OpenAI's count (o200k): every text, OpenAI's per-message overhead, media at their allowance, plus the margin. */
export function tokenizerCount(shape: PromptShape, count = loadO200kCounter()): number {
  let tokens = shape.parts * TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS;
  for (const text of shape.texts) tokens += count(text);
  tokens += (shape.inlineMedia + shape.referencedMedia) * MEDIA_TOKENS;
  return Math.ceil(tokens * TOKENIZER_MARGIN);
}
