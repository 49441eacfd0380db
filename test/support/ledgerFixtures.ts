import { newId } from '../../src/core/processIdentity';
import type { LedgerEntry } from '../../src/core/store/records';

/** A deterministic pseudo-random source for generated ledgers (tests must be repeatable). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

export const WORKFLOWS = ['code-review', 'explain', 'test-gen', 'draft-requirements', 'research'];
export const MODELS: Array<[provider: string, model: string]> = [
  ['anthropic', 'claude-haiku-4-5'],
  ['anthropic', 'claude-sonnet-4-5'],
  ['openai', 'gpt-5-mini'],
  ['openai', 'gpt-4.1'],
  ['gemini', 'gemini-2.5-flash'],
  ['gemini', 'gemini-2.5-pro'],
];
export const TASKS = ['review', 'summarize', 'outline', 'write', 'critique', 'plan', 'answer', 'test'];

/** A plausible ledger entry at `ts`, drawn from `rand`. */
export function randomEntry(rand: () => number, ts: number, overrides: Partial<LedgerEntry> = {}): LedgerEntry {
  const [provider, model] = MODELS[Math.floor(rand() * MODELS.length)]!;
  const input = Math.floor(rand() * 8000);
  const output = Math.floor(rand() * 1500);
  const entry: LedgerEntry = {
    id: newId(),
    ts,
    provider,
    model,
    workflow: WORKFLOWS[Math.floor(rand() * WORKFLOWS.length)]!,
    runId: `run-${Math.floor(rand() * 5000)}`,
    taskId: `task-${Math.floor(rand() * 20000)}`,
    task: TASKS[Math.floor(rand() * TASKS.length)]!,
    tool: rand() < 0.1 ? 'runCommand' : null,
    variant: null,
    usage: {
      input,
      output,
      cacheRead: rand() < 0.3 ? Math.floor(rand() * 4000) : 0,
      cacheWrite5m: rand() < 0.1 ? Math.floor(rand() * 2000) : 0,
      cacheWrite1h: 0,
      reasoning: rand() < 0.2 ? Math.floor(rand() * 800) : 0,
    },
    costMicros: Math.floor(rand() * 40_000),
    estimated: rand() < 0.02,
    requestId: `req_${Math.floor(rand() * 1e9)}`,
    latencyMs: Math.floor(rand() * 4000),
    reservationId: null,
    reservedMicros: 50_000,
    estimatedInputTokens: input + 20,
  };
  return { ...entry, ...overrides };
}
