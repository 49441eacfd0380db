import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ProxyServer, ProxyTokens, type ProxyCallEvent } from '../../../src/core/proxy';
import type { UpstreamResolver } from '../../../src/core/proxy/upstream';
import type { LedgerEntry } from '../../../src/core/store/records';
import type { ProviderId } from '../../../src/core/usage';
import { Workspace } from '../../../src/core/workspace';
import { startFakeProviders } from '../../fakes';

/** The user's upstream keys: the fakes refuse any other (so a forwarded client token would fail loudly). */
export const UPSTREAM_KEYS: Record<ProviderId, string> = {
  anthropic: 'sk-ant-upstream-key-123',
  openai: 'sk-upstream-openai-456',
  gemini: 'upstream-gemini-key-789',
};

/**
 * Prices the tests compute costs with, written out here ($/MTok = µ$ per token), overriding the built-in table:
 * the ledger's µ$ are checked against these by hand.
 */
export const RATES = {
  'claude-haiku-4-5': {
    provider: 'anthropic',
    inputPerMTok: 1,
    outputPerMTok: 5,
    maxOutputTokens: 64_000,
    contextWindow: 200_000,
  },
  'gpt-5-mini': {
    provider: 'openai',
    inputPerMTok: 2,
    outputPerMTok: 8,
    maxOutputTokens: 128_000,
    contextWindow: 400_000,
  },
  'gemini-2.5-flash': {
    provider: 'gemini',
    inputPerMTok: 1,
    outputPerMTok: 4,
    maxOutputTokens: 65_536,
    contextWindow: 1_048_576,
  },
} as const;

export type Harness = Awaited<ReturnType<typeof startHarness>>;

/**
 * A workspace (with `policy` as budget.json, RATES as its prices), the three fake providers, a proxy on a free port
 * in front of them, one client token (`test-client`, with `caps`), and each official SDK pointed at the proxy.
 */
export async function startHarness(
  options: { policy?: Record<string, unknown>; caps?: { dailyUsd?: number; monthlyUsd?: number } } = {},
) {
  const root = mkdtempSync(path.join(tmpdir(), 'ab-proxy-'));
  const folder = path.join(root, 'ws');
  mkdirSync(path.join(folder, '.agent-budget'), { recursive: true });
  const policy = {
    timeZone: 'UTC',
    limits: { workspace: { dailyUsd: 100, monthlyUsd: 1000 } },
    ...options.policy,
    prices: { ...RATES, ...((options.policy?.prices as object | undefined) ?? {}) },
  };
  writeFileSync(path.join(folder, '.agent-budget', 'budget.json'), JSON.stringify(policy, null, 2));
  const workspace = await Workspace.open(folder, { pollMs: 0 });
  const fakes = await startFakeProviders({
    anthropic: { apiKey: UPSTREAM_KEYS.anthropic },
    openai: { apiKey: UPSTREAM_KEYS.openai },
    gemini: { apiKey: UPSTREAM_KEYS.gemini },
  });
  const tokens = ProxyTokens.in(workspace.store.dir);
  const { token } = tokens.create('test-client', options.caps ?? {});
  let upstream: UpstreamResolver = (provider) =>
    Promise.resolve({ baseUrl: fakes[provider].baseUrl, apiKey: UPSTREAM_KEYS[provider] });
  const logs: string[] = [];
  const proxy = await ProxyServer.start({
    workspace,
    tokens,
    port: 0,
    upstream: (provider) => upstream(provider),
    log: (line) => logs.push(line),
  });
  const events: ProxyCallEvent[] = [];
  const waiters: Array<() => void> = [];
  proxy.onDidCall((e) => {
    events.push(e);
    for (const w of waiters.splice(0)) w();
  });
  const sdks = (key = token) => ({
    anthropic: new Anthropic({ baseURL: proxy.url, apiKey: key, maxRetries: 0 }),
    openai: new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: key, maxRetries: 0 }),
    gemini: new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: proxy.url } }),
  });
  return {
    root,
    folder,
    workspace,
    fakes,
    tokens,
    token,
    proxy,
    logs,
    events,
    ...sdks(),
    sdks,
    /** Replaces where the proxy sends each provider (e.g. a bespoke upstream for one test). */
    setUpstream(next: UpstreamResolver) {
      upstream = next;
    },
    /** Resolves once `n` metered requests have ended (settled, released, charged, blocked or refused). */
    async calls(n: number, timeoutMs = 10_000): Promise<ProxyCallEvent[]> {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n) {
        if (Date.now() > deadline) throw new Error(`waited for ${n} proxied calls, saw ${events.length}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return events.slice(0, n);
    },
    /** Every ledger row, oldest first. */
    ledger(): LedgerEntry[] {
      const rows: LedgerEntry[] = [];
      for (const page of workspace.store.queries.ledgerRows(0, Number.MAX_SAFE_INTEGER)) rows.push(...page);
      return rows;
    },
    async close() {
      await proxy.stop(0);
      await fakes.close();
      await workspace.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** µ$ of a call at RATES (cache kinds at the Anthropic defaults: reads 0.1×, 5-minute writes 1.25× input). */
export function expectedMicros(
  model: keyof typeof RATES,
  u: { input: number; output: number; cacheRead?: number; reasoning?: number },
): number {
  const r = RATES[model];
  return (
    u.input * r.inputPerMTok +
    (u.output + (u.reasoning ?? 0)) * r.outputPerMTok +
    (u.cacheRead ?? 0) * r.inputPerMTok * 0.1
  );
}

/** A one-off upstream for what the fakes do not script (slow streams that notice hang-ups, compressed bodies). */
export async function startUpstream(
  handler: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** One SSE event as the providers write it. */
export function sse(event: string | null, data: unknown): string {
  return `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}
