// How the engine sizes a call's prompt: an upper bound that needs no network (inputTokenBound), replaced by the
// provider's exact count only when the bound would bind a limit. A hard limit holds only if the provider never
// bills more prompt than what was reserved, so the bound is checked against a real tokenizer on adversarial text.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BudgetBlockedError, BudgetEngine, policyDays, type AdmitRequest } from '../../../src/core/budget/engine';
import { ManualClock } from '../../../src/core/clock';
import { defaultPolicy } from '../../../src/core/policy/load';
import type { BudgetPolicy } from '../../../src/core/policy/types';
import {
  estimateByHeuristic,
  inputTokenBound,
  loadO200kCounter,
  type EstimateInput,
} from '../../../src/core/providers/estimate';
import { WorkspaceStore } from '../../../src/core/store/store';
import { seededRandom } from '../../support/ledgerFixtures';

const NOON = Date.UTC(2026, 10, 22, 12);
const usage = (input: number, output: number) => ({
  input,
  output,
  cacheRead: 0,
  cacheWrite5m: 0,
  cacheWrite1h: 0,
  reasoning: 0,
});
const one = (text: string): EstimateInput => ({
  model: 'm',
  messages: [{ role: 'user', content: [{ type: 'text', text }] }],
});

/** Text a chars-per-token heuristic undercounts: code, JSON, digits and punctuation, CJK, emoji, odd whitespace. */
function adversarial(rand: () => number, length: number): string {
  const alphabets = [
    '{}[]();,.:"\'=<>!&|+-*/%^~`@#$\\?',
    '0123456789',
    '漢字仮名交じり文한국어텍스트',
    '🙂🚀🧪🔥✅❌🎉',
    ' \t\n\r\u00a0',
    'aeiouxyzqwkj',
  ];
  let out = '';
  while (out.length < length) {
    const set = alphabets[Math.floor(rand() * alphabets.length)]!;
    const run = 1 + Math.floor(rand() * 12);
    for (let i = 0; i < run; i++) out += [...set][Math.floor(rand() * [...set].length)];
  }
  return out;
}

describe('prompt size: an upper bound, and the exact count when it binds', () => {
  it('the bound is never below a real tokenizer count, where the old heuristic was', function () {
    // CPU-bound (the tokenizer's table loads, then 200 texts are counted): slow on a busy machine, not a speed check.
    this.timeout(30_000);
    const count = loadO200kCounter();
    const rand = seededRandom(7);
    let heuristicUnder = 0;
    for (let i = 0; i < 200; i++) {
      const text = adversarial(rand, 50 + Math.floor(rand() * 3000));
      const tokens = count(text);
      assert.ok(
        inputTokenBound(one(text)) >= tokens,
        `bound ${inputTokenBound(one(text))} < ${tokens} tokens for ${JSON.stringify(text.slice(0, 60))}`,
      );
      if (estimateByHeuristic(one(text)).inputTokens < tokens) heuristicUnder++;
    }
    // The reason the bound exists: the heuristic (3 characters a token + 20 %) falls short on such text.
    assert.ok(heuristicUnder > 0, 'the adversarial texts no longer defeat the heuristic; make them harder');
    const code = 'for(let i=0;i<n;i++){a[i]=(b[i]|0)^0x5f3759df;}\n'.repeat(40);
    assert.ok(inputTokenBound(one(code)) >= count(code));
  });

  it("counts tool schemas, calls, results and the providers' hidden tool instructions", () => {
    const bare = inputTokenBound(one('hello'));
    const withTools = inputTokenBound({
      model: 'm',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'hello' }] },
        { role: 'assistant', content: [{ type: 'toolCall', id: 't1', name: 'readFile', input: { path: 'src/a.ts' } }] },
        {
          role: 'user',
          content: [{ type: 'toolResult', callId: 't1', name: 'readFile', content: 'export const a = 1;' }],
        },
      ],
      tools: [
        {
          name: 'readFile',
          description: 'Read a file',
          inputSchema: { type: 'object', properties: { path: { type: 'string' } } },
        },
      ],
    });
    const schemaBytes = Buffer.byteLength(
      'readFile' + 'Read a file' + JSON.stringify({ type: 'object', properties: { path: { type: 'string' } } }),
    );
    assert.ok(withTools >= bare + schemaBytes + 600, `${withTools}`);
  });

  describe('BudgetEngine.admit with exactInputTokens', () => {
    let root: string;
    let store: WorkspaceStore;
    let engine: BudgetEngine;
    async function setup(p: BudgetPolicy): Promise<void> {
      root = mkdtempSync(path.join(tmpdir(), 'ab-prompt-'));
      const clock = new ManualClock(NOON);
      store = await WorkspaceStore.open({
        dir: path.join(root, '.agent-budget'),
        pollMs: 0,
        clock,
        days: policyDays(p),
      });
      engine = new BudgetEngine(store, p, clock);
    }
    afterEach(async () => {
      engine?.dispose();
      await store?.close();
      rmSync(root, { recursive: true, force: true });
    });
    function policy(dailyUsd: number): BudgetPolicy {
      const p = defaultPolicy();
      p.timeZone = 'UTC';
      // $2/MTok input, $10/MTok output, 8,000 max output.
      p.prices = {
        'test-model': { provider: 'anthropic', inputPerMTok: 2, outputPerMTok: 10, maxOutputTokens: 8_000 },
      };
      p.limits.workspace = { dailyUsd };
      return p;
    }
    function request(bound: number, exact: number, asked: { n: number }, hardTokens = 100_000): AdmitRequest {
      return {
        workflow: 'w',
        runId: 'run-1',
        taskId: 'task-1',
        task: 'step',
        provider: 'anthropic',
        model: 'test-model',
        inputTokens: bound,
        exactInputTokens: async () => {
          asked.n++;
          return exact;
        },
        tokenScopes: [{ key: 'task@task-1', kind: 'task', hardTokens }],
      };
    }

    it('reserves the bound without asking for a count when no limit binds', async () => {
      await setup(policy(100));
      const asked = { n: 0 };
      const a = await engine.admit(request(3_000, 900, asked));
      assert.equal(asked.n, 0);
      assert.equal(a.reservation.inputTokens, 3_000);
      assert.equal(a.maxOutputTokens, 8_000);
    });

    it('asks for the exact count when the bound would shorten the answer, and gives the room it frees', async () => {
      await setup(policy(100));
      const asked = { n: 0 };
      // Task limit 10,000: with the bound (7,000) only 3,000 output tokens fit; with the count (1,800), 8,000 (the model's max).
      const a = await engine.admit(request(7_000, 1_800, asked, 10_000));
      assert.equal(asked.n, 1);
      assert.equal(a.reservation.inputTokens, 1_800);
      assert.equal(a.maxOutputTokens, 8_000);
    });

    it('asks for the exact count when the bound would block, and admits if the count fits', async () => {
      // $0.02 a day: the bound's prompt alone (12,000 × 2 µ$ = $0.024) is over the cap; the counted 2,000 leaves room.
      await setup(policy(0.02));
      const asked = { n: 0 };
      const a = await engine.admit(request(12_000, 2_000, asked));
      assert.equal(asked.n, 1);
      assert.equal(a.reservation.inputTokens, 2_000);
      // What is left after the prompt at its worst rate buys the output: (20,000 − 4,000) µ$ / 10 µ$ per token.
      assert.equal(a.maxOutputTokens, 1_600);
    });

    it('never reserves more than the bound, and the bound stands when the count fails', async () => {
      await setup(policy(0.02));
      const asked = { n: 0 };
      const higher = await engine.admit(request(1_500, 5_000, asked, 2_000));
      assert.equal(higher.reservation.inputTokens, 1_500, 'a count above the bound is not believed');
      await engine.release(higher);
      await assert.rejects(
        engine.admit({ ...request(12_000, 0, asked), exactInputTokens: () => Promise.reject(new Error('no key')) }),
        (err: unknown) => err instanceof BudgetBlockedError && err.scope === 'workspace.daily',
      );
    });

    it('a prompt billed up to its reservation never takes a hard scope over its limit', async () => {
      await setup(policy(0.05));
      const count = loadO200kCounter();
      const rand = seededRandom(11);
      const asked = { n: 0 };
      for (let i = 0; i < 40; i++) {
        const text = adversarial(rand, 500 + Math.floor(rand() * 1500));
        const real = count(text);
        let a;
        try {
          a = await engine.admit({
            ...request(inputTokenBound(one(text)), Math.ceil(real * 1.02), asked, 6_000),
            taskId: `t${i}`,
            tokenScopes: [{ key: `task@t${i}`, kind: 'task', hardTokens: 6_000 }],
          });
        } catch (err) {
          assert.ok(err instanceof BudgetBlockedError);
          break;
        }
        // The provider bills the real prompt and the whole clamp as output: the worst it can do.
        await engine.settle(a, { usage: usage(real, a.maxOutputTokens) });
        const task = engine.tokenStatus({ key: `task@t${i}`, kind: 'task', hardTokens: 6_000 });
        assert.ok(task.used <= 6_000, `task at ${task.used} of 6,000`);
      }
      const daily = engine.status().find((s) => s.scope === 'workspace.daily')!;
      assert.ok(daily.used <= daily.limit!, `daily at ${daily.used} of ${daily.limit}`);
      assert.ok(asked.n > 0, 'the cap came close enough to need exact counts');
    });
  });
});
