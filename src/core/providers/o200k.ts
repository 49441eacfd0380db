import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';

/**
 * OpenAI's o200k_base tokenizer (GPT-4o, GPT-4.1, GPT-5.x, o-series), as its own esbuild bundle `dist/o200k.js`:
 * its rank table is ~2 MB, so the extension and CLI bundles load it with `require` only when the first OpenAI
 * estimate is made (see `estimate.ts`), never at activation.
 */
export function countO200kTokens(text: string): number {
  return countTokens(text);
}
