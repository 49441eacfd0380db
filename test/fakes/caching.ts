import { createHash, type Hash } from 'node:crypto';
import { countTokens as cl100kTokens } from 'gpt-tokenizer/encoding/cl100k_base';
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { countTokens as p50kTokens } from 'gpt-tokenizer/encoding/p50k_base';
import {
  ANTHROPIC_LOOKBACK_BLOCKS,
  ANTHROPIC_MAX_BREAKPOINTS,
  cacheMinimum,
  OPENAI_CACHE_MINIMUM,
  OPENAI_CACHE_STEP,
} from '../../src/core/pricing/caching';

/**
 * Prompt caching as each provider bills it, for the fake servers: prompts are counted the provider's way, prefixes
 * are hashed, and what a request reads from or writes to the cache comes back in the provider's own usage fields —
 * so the tests and the cost benchmark measure real savings, not assumed ones.
 *
 * Each provider counts with a tokenizer of its own, as the real ones do: OpenAI with o200k (its own), the Anthropic
 * fake with p50k (10–20 % more tokens than o200k, depending on the text, as Claude's tokenizer makes) and the Gemini
 * fake with cl100k — other BPE vocabularies standing in for Claude's and Gemini's, so the runner's o200k-based
 * estimate has to be calibrated against them (report/calibration.ts), as in real life.
 *
 * - Anthropic: blocks in the order tools → system → messages; a prefix is
 *   written only up to a `cache_control` breakpoint (at most 4) and only from the model's minimum on; a breakpoint
 *   reads the longest cached prefix ending at it or up to 20 blocks before it. Writes are `cache_creation_input_tokens`
 *   split by the breakpoint's `ttl` (5m, 1h), reads `cache_read_input_tokens`; a read renews the entry's life.
 * - OpenAI: o200k tokens of every text plus the chat format's overhead (4 a message, 3 to prime the reply); every
 *   prompt of 1,024 tokens and more is cached by itself in prefixes growing by 128 tokens, per `prompt_cache_key`;
 *   reads are `cached_tokens`, and models that report writes (GPT-5.6 and later) get `cache_write_tokens`.
 * - Gemini: parts in the order system instruction → tools → contents; implicit caching of the longest prefix seen
 *   before, from the model's minimum on, reported as `cachedContentTokenCount`; no write charge.
 *
 * Time is the fake's clock (`FakeOptions.now`), so a test can let a cache expire without waiting.
 */

export interface CacheUsage {
  input: number;
  cacheRead: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
}

const MINUTE = 60_000;
const TTL_MS = { '5m': 5 * MINUTE, '1h': 60 * MINUTE } as const;

/** Cached prefixes by hash, each with when it expires (renewed by a read). */
export class PromptCache {
  private readonly entries = new Map<string, { expiresAt: number; ttlMs: number }>();

  constructor(private readonly now: () => number) {}

  /** Whether `hash` is cached now; a hit renews its life. */
  read(hash: string): boolean {
    const e = this.entries.get(hash);
    if (!e) return false;
    if (e.expiresAt <= this.now()) {
      this.entries.delete(hash);
      return false;
    }
    e.expiresAt = this.now() + e.ttlMs;
    return true;
  }

  write(hash: string, ttlMs: number): void {
    const e = this.entries.get(hash);
    const ttl = Math.max(ttlMs, e?.ttlMs ?? 0);
    this.entries.set(hash, { expiresAt: this.now() + ttl, ttlMs: ttl });
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

/** The text a block carries: its string values (and a tool's schema or input as JSON), not its keys or type tags. */
function blockText(block: unknown): string {
  if (typeof block === 'string') return block;
  if (Array.isArray(block)) return block.map(blockText).join('\n');
  if (block === null || typeof block !== 'object') return block === undefined ? '' : String(block);
  return Object.entries(block as Record<string, unknown>)
    .filter(([k]) => k !== 'type' && k !== 'role' && k !== 'id' && k !== 'tool_use_id' && k !== 'cache_control')
    .map(([k, v]) =>
      k === 'input' || k === 'input_schema' || k === 'parameters' || k === 'args' ? JSON.stringify(v) : blockText(v),
    )
    .join('\n');
}

/** Tokens of a block: its text in the provider's tokenizer, plus a few for the block's framing. */
export function blockTokens(block: unknown, count: (text: string) => number): number {
  return count(blockText(block)) + BLOCK_FRAMING;
}

const BLOCK_FRAMING = 3;
const countCl100k = (text: string) => safeCount(cl100kTokens, text);
const countP50k = (text: string) => safeCount(p50kTokens, text);

function safeCount(count: (text: string) => number, text: string): number {
  try {
    return count(text);
  } catch {
    return Math.ceil(Buffer.byteLength(text, 'utf8') / 4);
  }
}

/** What every prompt adds besides its blocks (role markers, formatting). */
const PROMPT_OVERHEAD = 10;

// ── Anthropic ─────────────────────────────────────────────────────────────────────────────────────────────────

interface Block {
  /** Hash of the prefix through this block. */
  hash: string;
  tokens: number;
  ttl?: '5m' | '1h';
}

/** The request's blocks in Anthropic's prefix order, each with its prefix hash and its breakpoint (if any). */
function anthropicBlocks(body: Record<string, unknown>): Block[] {
  const blocks: Block[] = [];
  const hash = createHash('sha256').update(`anthropic\0${String(body.model)}\0`);
  const add = (kind: string, value: unknown) => {
    const { cache_control: cc, ...plain } = (typeof value === 'object' && value !== null ? value : { text: value }) as {
      cache_control?: { ttl?: '5m' | '1h' };
    };
    hash.update(`${kind}\0${JSON.stringify(plain)}\0`);
    blocks.push({
      hash: hash.copy().digest('hex'),
      tokens: blockTokens(plain, countP50k),
      ...(cc ? { ttl: cc.ttl === '1h' ? '1h' : '5m' } : {}),
    });
  };
  for (const tool of asArray(body.tools)) add('tool', tool);
  if (typeof body.system === 'string') add('system', { type: 'text', text: body.system });
  else for (const b of asArray(body.system)) add('system', b);
  for (const m of asArray(body.messages) as Array<{ role?: string; content?: unknown }>) {
    const content = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : asArray(m.content);
    content.forEach((b, i) => add(i === 0 ? `message:${m.role}` : 'block', b));
  }
  return blocks;
}

/** Prompt tokens of an Anthropic request (what count_tokens answers too). */
export function anthropicPromptTokens(body: Record<string, unknown>): number {
  return anthropicBlocks(body).reduce((n, b) => n + b.tokens, PROMPT_OVERHEAD);
}

/** Too many breakpoints: the real API refuses the request (400). */
export function anthropicBreakpointError(body: Record<string, unknown>): string | undefined {
  const n = anthropicBlocks(body).filter((b) => b.ttl).length;
  return n > ANTHROPIC_MAX_BREAKPOINTS
    ? `A maximum of ${ANTHROPIC_MAX_BREAKPOINTS} blocks with cache_control may be provided. Found ${n}.`
    : undefined;
}

/** Reads the longest cached prefix a breakpoint reaches, writes the breakpoints past it; the prompt's usage. */
export function anthropicCacheUsage(cache: PromptCache, body: Record<string, unknown>): CacheUsage {
  const blocks = anthropicBlocks(body);
  const total = blocks.reduce((n, b) => n + b.tokens, PROMPT_OVERHEAD);
  const min = cacheMinimum('anthropic', String(body.model)).tokens;
  const prefix: number[] = [];
  blocks.forEach((b, i) => prefix.push((prefix[i - 1] ?? 0) + b.tokens));
  const breakpoints = blocks.flatMap((b, i) => (b.ttl ? [i] : []));
  let hit = -1;
  for (const bp of breakpoints) {
    for (let p = bp; p >= Math.max(0, bp - ANTHROPIC_LOOKBACK_BLOCKS + 1) && p > hit; p--) {
      if (prefix[p]! >= min && cache.read(blocks[p]!.hash)) {
        hit = p;
        break;
      }
    }
  }
  const read = hit >= 0 ? prefix[hit]! : 0;
  let written = read;
  const usage: CacheUsage = { input: 0, cacheRead: read, cacheWrite5m: 0, cacheWrite1h: 0 };
  for (const bp of breakpoints) {
    if (bp <= hit || prefix[bp]! < min) continue;
    const ttl = blocks[bp]!.ttl!;
    cache.write(blocks[bp]!.hash, TTL_MS[ttl]);
    usage[ttl === '1h' ? 'cacheWrite1h' : 'cacheWrite5m'] += prefix[bp]! - written;
    written = prefix[bp]!;
  }
  usage.input = total - written;
  return usage;
}

// ── OpenAI ────────────────────────────────────────────────────────────────────────────────────────────────────

/** Every text an OpenAI request sends, in order (tools, instructions, messages), and how many messages. */
function openaiTexts(body: Record<string, unknown>): { texts: string[]; messages: number } {
  const texts: string[] = [];
  for (const t of asArray(body.tools) as Array<Record<string, unknown>>) {
    const f = (t.function ?? t) as Record<string, unknown>;
    texts.push(String(f.name ?? ''), String(f.description ?? ''), JSON.stringify(f.parameters ?? {}));
  }
  if (typeof body.instructions === 'string') texts.push(body.instructions);
  const list = (Array.isArray(body.messages) ? body.messages : asArray(body.input)) as Array<Record<string, unknown>>;
  for (const m of list) {
    if (typeof m.content === 'string') texts.push(m.content);
    else for (const c of asArray(m.content) as Array<{ text?: string }>) if (c.text) texts.push(c.text);
    for (const tc of asArray(m.tool_calls) as Array<{ function?: { name?: string; arguments?: string } }>)
      texts.push(String(tc.function?.name ?? ''), String(tc.function?.arguments ?? ''));
    if (m.type === 'function_call') texts.push(String(m.name ?? ''), String(m.arguments ?? ''));
    if (m.type === 'function_call_output') texts.push(String(m.output ?? ''));
  }
  return { texts, messages: list.length + (typeof body.instructions === 'string' ? 1 : 0) };
}

function tokenIds(text: string): number[] {
  try {
    return encode(text, { disallowedSpecial: new Set() });
  } catch {
    return [...Buffer.from(text, 'utf8')];
  }
}

/** Prompt tokens as OpenAI counts them: o200k tokens of each text, 4 a message, 3 to prime the reply. */
export function openaiPromptTokens(body: Record<string, unknown>): number {
  const { texts, messages } = openaiTexts(body);
  return texts.reduce((n, t) => n + tokenIds(t).length, messages * 4 + 3);
}

/** OpenAI's automatic prefix cache: the longest cached prefix (128-token steps from 1,024), then every prefix stored. */
export function openaiCacheUsage(cache: PromptCache, body: Record<string, unknown>): CacheUsage {
  const total = openaiPromptTokens(body);
  const ids = openaiTexts(body).texts.flatMap(tokenIds);
  const key = `openai\0${String(body.model)}\0${String(body.prompt_cache_key ?? '')}\0`;
  const hash: Hash = createHash('sha256').update(key);
  const hashes: Array<[number, string]> = [];
  for (let n = 0; n + OPENAI_CACHE_STEP <= ids.length; n += OPENAI_CACHE_STEP) {
    hash.update(Uint32Array.from(ids.slice(n, n + OPENAI_CACHE_STEP)));
    const end = n + OPENAI_CACHE_STEP;
    if (end >= OPENAI_CACHE_MINIMUM) hashes.push([end, hash.copy().digest('hex')]);
  }
  let read = 0;
  for (const [end, h] of [...hashes].reverse()) {
    if (cache.read(h)) {
      read = end;
      break;
    }
  }
  let stored = read;
  for (const [end, h] of hashes) {
    if (end <= read) continue;
    cache.write(h, TTL_MS['5m']);
    stored = end;
  }
  const writes = reportsCacheWrites(String(body.model)) ? stored - read : 0;
  return { input: total - read - writes, cacheRead: read, cacheWrite5m: writes, cacheWrite1h: 0 };
}

/** GPT-5.6 and later bill (and report) cache writes. */
function reportsCacheWrites(model: string): boolean {
  return /^gpt-(5\.([6-9]|\d\d)|[6-9])/.test(model);
}

// ── Gemini ────────────────────────────────────────────────────────────────────────────────────────────────────

function geminiBlocks(body: Record<string, unknown>, model: string): Array<{ hash: string; tokens: number }> {
  const out: Array<{ hash: string; tokens: number }> = [];
  const hash = createHash('sha256').update(`gemini\0${model}\0`);
  const add = (value: unknown) => {
    hash.update(`${JSON.stringify(value)}\0`);
    out.push({ hash: hash.copy().digest('hex'), tokens: blockTokens(value, countCl100k) });
  };
  if (body.systemInstruction !== undefined) add(body.systemInstruction);
  for (const t of asArray(body.tools)) add(t);
  for (const c of asArray(body.contents) as Array<{ role?: string; parts?: unknown }>)
    for (const p of asArray(c.parts)) add({ role: c.role, part: p });
  return out;
}

/** Prompt tokens of a Gemini request (what countTokens answers too). */
export function geminiPromptTokens(body: Record<string, unknown>, model: string): number {
  return geminiBlocks(body, model).reduce((n, b) => n + b.tokens, PROMPT_OVERHEAD);
}

/** Gemini's implicit cache: the longest prefix seen before (from the minimum on) is read; every prefix is kept. */
export function geminiCacheUsage(cache: PromptCache, body: Record<string, unknown>, model: string): CacheUsage {
  const blocks = geminiBlocks(body, model);
  const total = blocks.reduce((n, b) => n + b.tokens, PROMPT_OVERHEAD);
  const min = cacheMinimum('gemini', model).tokens;
  let prefix = 0;
  let read = 0;
  for (const b of blocks) {
    prefix += b.tokens;
    if (prefix < min) continue;
    if (cache.read(b.hash)) read = prefix;
    else cache.write(b.hash, TTL_MS['5m']);
  }
  return { input: total - read, cacheRead: read, cacheWrite5m: 0, cacheWrite1h: 0 };
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
