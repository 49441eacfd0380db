/**
 * Three weeks of plausible spend for the demo workspace (demo/), written through the store API the way the runner
 * writes it: run records with variants, one ledger entry per call priced with the workspace's prices, tool
 * charges, an estimated charge, and a few results marked accepted or rejected. Deterministic.
 *
 * The report test reads it; `node --import tsx test/support/demoSpend.ts` prints the demo's report for November
 * 2026 (the sample in the README) from a temporary copy of demo/.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { priceCall } from '../../src/core/pricing/cost';
import { buildReport } from '../../src/core/report/report';
import { renderReportMarkdown } from '../../src/core/report/render';
import type { LedgerEntry, RunStatus, StoreRecord } from '../../src/core/store/records';
import type { ProviderId, TokenUsage } from '../../src/core/usage';
import { Workspace } from '../../src/core/workspace';
import { seededRandom } from './ledgerFixtures';

/** "Now" of the demo: 2026-11-22 16:00 UTC (the demo's zone is UTC). */
export const DEMO_NOW = Date.UTC(2026, 10, 22, 16, 0);
const DAY = 86_400_000;

interface Recipe {
  workflow: string;
  runsPerDay: number;
  steps: Array<{
    task: string;
    model: string;
    provider: ProviderId;
    input: [number, number];
    output: [number, number];
    cache?: boolean;
  }>;
  variants?: string[];
  failRate: number;
  tool?: string;
}

const RECIPES: Recipe[] = [
  {
    workflow: 'code-review',
    runsPerDay: 11,
    steps: [
      {
        task: 'review',
        model: 'claude-sonnet-4-5',
        provider: 'anthropic',
        input: [8000, 16000],
        output: [1000, 2400],
        cache: true,
      },
    ],
    variants: ['claude-sonnet-4-5@v1', 'claude-sonnet-4-5@v2'],
    failRate: 0.05,
  },
  {
    workflow: 'explain',
    runsPerDay: 14,
    steps: [
      { task: 'answer', model: 'claude-haiku-4-5', provider: 'anthropic', input: [1500, 4000], output: [300, 900] },
    ],
    failRate: 0.02,
  },
  {
    workflow: 'test-gen',
    runsPerDay: 5,
    steps: [
      { task: 'plan', model: 'gpt-5-mini', provider: 'openai', input: [3000, 6000], output: [500, 1500] },
      {
        task: 'write',
        model: 'gpt-5-mini',
        provider: 'openai',
        input: [6000, 12000],
        output: [2000, 5000],
        cache: true,
      },
    ],
    failRate: 0.1,
    tool: 'runCommand',
  },
  {
    workflow: 'summarize',
    runsPerDay: 3,
    steps: [
      { task: 'outline', model: 'claude-haiku-4-5', provider: 'anthropic', input: [4000, 20000], output: [200, 400] },
      { task: 'write', model: 'claude-haiku-4-5', provider: 'anthropic', input: [800, 1500], output: [400, 900] },
    ],
    failRate: 0,
  },
  {
    workflow: 'research',
    runsPerDay: 1.5,
    steps: [
      { task: 'outline', model: 'gemini-2.5-pro', provider: 'gemini', input: [8000, 20000], output: [1000, 3000] },
      { task: 'write', model: 'gemini-2.5-pro', provider: 'gemini', input: [10000, 30000], output: [3000, 8000] },
    ],
    failRate: 0.1,
  },
];

/** Writes the demo's spend from `days` days before `now` up to `now` into the workspace's store. */
export async function seedDemoSpend(workspace: Workspace, now = DEMO_NOW, days = 22): Promise<void> {
  const rand = seededRandom(2026);
  const between = ([lo, hi]: [number, number]) => Math.round(lo + rand() * (hi - lo));
  const prices = workspace.policy.prices;
  const records: StoreRecord[] = [];
  let rev = 1;
  const start = now - days * DAY;
  for (let day = 0; day <= days; day++) {
    const dayStart = start - (start % DAY) + day * DAY;
    // A busier day now and then (a release), so a daily cap gets close.
    const busy = day % 7 === 3 ? 2.5 : 1;
    for (const recipe of RECIPES) {
      const expected = recipe.runsPerDay * busy;
      const runs = Math.floor(expected) + (rand() < expected - Math.floor(expected) ? 1 : 0);
      for (let i = 0; i < runs; i++) {
        const createdAt = dayStart + Math.floor((8 + rand() * 10) * 3_600_000);
        if (createdAt > now) continue;
        const runId = `${recipe.workflow.slice(0, 4)}-${new Date(createdAt).toISOString().slice(5, 10).replace('-', '')}-${i}`;
        const variant = recipe.variants ? recipe.variants[Math.floor(rand() * recipe.variants.length)]! : null;
        const failed = rand() < recipe.failRate;
        let ts = createdAt;
        for (const [s, step] of recipe.steps.entries()) {
          if (failed && s === recipe.steps.length - 1) break;
          ts += 2_000 + Math.floor(rand() * 20_000);
          const input = between(step.input);
          const cacheRead = step.cache && rand() < 0.6 ? Math.round(input * 0.7) : 0;
          const usage: TokenUsage = {
            input: input - cacheRead,
            output: between(step.output),
            cacheRead,
            cacheWrite5m: step.cache && cacheRead === 0 ? Math.round(input * 0.5) : 0,
            cacheWrite1h: 0,
            reasoning: step.provider === 'openai' ? between([200, 800]) : 0,
          };
          // v2 of the review prompt is shorter.
          if (variant?.endsWith('@v2')) usage.input = Math.round(usage.input * 0.75);
          const cost = priceCall({ provider: step.provider, model: step.model, usage, overrides: prices }).costMicros;
          const estimated = recipe.workflow === 'research' && failed;
          const entry: LedgerEntry = {
            id: `${runId}-${s}`,
            ts,
            provider: step.provider,
            model: step.model,
            workflow: recipe.workflow,
            runId,
            taskId: `${runId}-t${s}`,
            task: step.task,
            tool: null,
            variant,
            usage,
            costMicros: estimated ? Math.round(cost * 1.6) : cost,
            estimated,
            requestId: estimated ? null : `req-${runId}-${s}`,
            latencyMs: 800 + Math.floor(rand() * 9000),
            reservationId: `res-${runId}-${s}`,
            reservedMicros: Math.round(cost * (1.4 + rand())),
            estimatedInputTokens: Math.round(
              (usage.input + usage.cacheRead + usage.cacheWrite5m) * (1.02 + rand() * 0.08),
            ),
          };
          records.push({ k: 'ledger', entry });
          if (recipe.tool && s === recipe.steps.length - 1) {
            records.push({
              k: 'ledger',
              entry: {
                ...entry,
                id: `${entry.id}-tool`,
                provider: 'tool',
                model: recipe.tool,
                tool: recipe.tool,
                usage: { input: 0, output: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
                costMicros: 10_000,
                estimated: false,
                reservationId: null,
                reservedMicros: null,
                estimatedInputTokens: null,
                requestId: null,
              },
            });
          }
        }
        const status: RunStatus = failed ? 'failed' : 'completed';
        records.push({
          k: 'run',
          run: {
            id: runId,
            workflow: recipe.workflow,
            status,
            title: `${recipe.workflow} #${i + 1}`,
            createdAt,
            updatedAt: ts,
            rev: rev++,
            owner: 'demo:1:seed',
            parentRunId: null,
            variant,
            data: null,
          },
        });
        if (!failed && recipe.workflow === 'code-review' && rand() < 0.7) {
          const accepted = rand() < (variant?.endsWith('@v2') ? 0.85 : 0.7);
          records.push({ k: 'outcome', runId, result: accepted ? 'accepted' : 'rejected', ts: ts + 60_000 });
        }
      }
    }
  }
  await workspace.store.commit(records);
}

/** A temporary copy of demo/ with the demo spend in its store; `dispose` removes it. */
export async function demoWorkspace(
  now = DEMO_NOW,
): Promise<{ workspace: Workspace; folder: string; dispose: () => Promise<void> }> {
  const root = mkdtempSync(path.join(tmpdir(), 'ab-demo-'));
  const folder = path.join(root, 'demo');
  cpSync(path.resolve(__dirname, '..', '..', 'demo'), folder, { recursive: true });
  const workspace = await Workspace.open(folder, { pollMs: 0, clock: { now: () => now } });
  await seedDemoSpend(workspace, now);
  return {
    workspace,
    folder,
    dispose: async () => {
      await workspace.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

if (require.main === module) {
  void (async () => {
    const demo = await demoWorkspace();
    try {
      process.stdout.write(renderReportMarkdown(buildReport(demo.workspace, { month: '2026-11' }, { now: DEMO_NOW })));
    } finally {
      await demo.dispose();
    }
  })();
}
