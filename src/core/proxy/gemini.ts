import { withEndpointMargin } from '../providers/estimate';
import { normalizeGeminiUsage, type GeminiUsageRaw } from '../providers/normalize';
import type { TokenUsage } from '../usage';
import {
  collectTexts,
  isObject,
  pick,
  promptShape,
  ProxyRequestError,
  singleAnswer,
  tokenBound,
  type MeteredRequest,
  type UsageReader,
} from './wire';

/**
 * Gemini `models/{model}:generateContent` and `:streamGenerateContent` as the proxy meters them: the prompt is
 * `systemInstruction`, `contents` and `tools`; the output bound is `generationConfig.maxOutputTokens` (thoughts
 * included); usage is `usageMetadata`, in a stream complete only in the chunk with a `finishReason` (earlier chunks
 * carry the prompt side).
 */
export function geminiGenerate(
  body: Record<string, unknown>,
  model: string,
  stream: boolean,
  /** The API version of the client's path (`v1beta`), for the count endpoint. */
  version: string,
): MeteredRequest {
  const turns = body.contents;
  if (!Array.isArray(turns)) throw new ProxyRequestError('badRequest', '"contents" must be an array.');
  const config = isObject(body.generationConfig) ? body.generationConfig : undefined;
  singleAnswer(config?.candidateCount, 'generationConfig.candidateCount');
  const maxOutputTokens = config
    ? tokenBound(config, 'generationConfig.maxOutputTokens', config.maxOutputTokens)
    : undefined;
  const fields = pick(body, ['systemInstruction', 'contents', 'tools', 'toolConfig']);
  const shape = promptShape(fields);
  collectTexts(fields, shape, mediaKind);
  shape.hasTools = Array.isArray(body.tools) && body.tools.length > 0;
  shape.parts = turns.length + (body.systemInstruction ? 1 : 0);
  for (const c of turns)
    if (isObject(c) && Array.isArray(c.parts))
      for (const part of c.parts) if (isObject(part) && (part.functionCall || part.functionResponse)) shape.parts += 1;
  return {
    provider: 'gemini',
    api: stream ? 'streamGenerateContent' : 'generateContent',
    model,
    stream,
    prompt: shape,
    // An explicit cache bills its tokens as prompt (at the cache rate); its size is not in this request.
    promptOutside: body.cachedContent != null,
    maxOutputTokens,
    promptCaching: 'none',
    body,
    setMaxOutputTokens(n) {
      body.generationConfig = { ...(isObject(body.generationConfig) ? body.generationConfig : {}), maxOutputTokens: n };
    },
    prepare: () => ({ filtersEvents: false }),
    usageReader: () => new GeminiUsage(),
    countRequest: () => {
      // The Developer API's countTokens takes no systemInstruction or tools: they are counted as one more user turn
      // (a few tokens above the real framing, so the count leans high, as the runner's does).
      const extra = [body.systemInstruction, body.tools]
        .filter((v) => v !== undefined)
        .map((v) => JSON.stringify(v))
        .join('\n');
      const contents = extra ? [{ role: 'user', parts: [{ text: extra }] }, ...turns] : turns;
      return {
        path: `/${version}/models/${encodeURIComponent(model)}:countTokens`,
        body: { contents },
        read: (json) =>
          isObject(json) && typeof json.totalTokens === 'number' ? withEndpointMargin(json.totalTokens) : undefined,
      };
    },
  };
}

function mediaKind(obj: Record<string, unknown>): 'inline' | 'referenced' | undefined {
  if (isObject(obj.inlineData)) return 'inline';
  if (isObject(obj.fileData)) return 'referenced';
  return undefined;
}

class GeminiUsage implements UsageReader {
  usage: TokenUsage | undefined;
  partialInputTokens: number | undefined;
  responseId: string | undefined;

  body(json: unknown): void {
    if (!isObject(json)) return;
    if (typeof json.responseId === 'string') this.responseId = json.responseId;
    if (isObject(json.usageMetadata)) this.usage = normalized(json.usageMetadata);
  }

  // Every chunk carries usage (the prompt side until the one with the finish reason, which has it whole); Gemini
  // streams few, large chunks, so each is read.
  readonly markers = ['"usageMetadata"'];

  event(_name: string | null, data: unknown): boolean {
    if (!isObject(data)) return true;
    if (typeof data.responseId === 'string') this.responseId = data.responseId;
    if (!isObject(data.usageMetadata)) return true;
    const finished =
      Array.isArray(data.candidates) && data.candidates.some((c) => isObject(c) && typeof c.finishReason === 'string');
    if (finished) this.usage = normalized(data.usageMetadata);
    else if (typeof data.usageMetadata.promptTokenCount === 'number')
      this.partialInputTokens = data.usageMetadata.promptTokenCount;
    return true;
  }
}

function normalized(raw: Record<string, unknown>): TokenUsage | undefined {
  try {
    return normalizeGeminiUsage(raw as GeminiUsageRaw);
  } catch {
    return undefined;
  }
}
