/**
 * Deterministic English-like text of about `tokens` tokens in any of the fakes' tokenizers (common words, one token
 * each with its space), different for each `seed`: prompts and files of a known size for the caching tests and the
 * cost benchmark.
 */
const WORDS = (
  'the budget holds each call within its limit and every run keeps a record of what it spent so that a team can ' +
  'see where money went while work goes on across many files with tests that check how code behaves when input ' +
  'is large small empty or wrong before anyone ships a change to users who rely on it every day'
).split(' ');

export function prose(tokens: number, seed: string): string {
  let h = 2166136261;
  for (const ch of seed) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  const out: string[] = [seed];
  for (let i = 1; i < tokens; i++) {
    h = Math.imul(h ^ i, 2654435761) >>> 0;
    out.push(WORDS[h % WORDS.length]!);
    if (i % 24 === 23) out[out.length - 1] += '.\n';
  }
  return out.join(' ');
}
