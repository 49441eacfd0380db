import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { RunOutcome } from '../src/core/runner/api';
import type { RunnerWorkflow } from '../src/core/runner/builtins';
import { promptTokens } from '../src/core/usage';
import { startFakeAnthropic, type FakeReply, type LoggedRequest } from '../test/fakes';
import { prose } from '../test/support/prose';
import { fakeAccess, ledgerOf, openRunner } from '../test/unit/runner/helpers';
import { percentile, type Figure } from './results';
import { BENCH_TMP } from './storeSeed';

/**
 * What the product saves on the same work, measured against fake providers that bill caching as the providers do
 * (test/fakes/caching.ts: prefix hashes, minimums, lives, the write premium, reads at the cache rate), each pair of
 * runs with the same inputs and the same scripted answers in one process:
 *
 * - cost.researchCachedVsUncached: the built-in research workflow (plan → four sub-agents reading, listing and
 *   searching → outline → write → review) on a generated 40-file workspace, on claude-sonnet-5, with `caching:
 *   "auto"` vs `"off"`: cost ratio. Task limits are raised so the sub-agents can read 8 files each, and no soft limit
 *   is set, so nothing is compacted: caching alone is measured.
 * - cost.longLoopCompactedVsFull: a 30-turn tool loop (one file read per turn, then the answer) with compaction (soft
 *   limit 20,000 tokens, degradeModel claude-haiku-4-5) vs without (no soft limit), caching off in both: cost ratio at
 *   equal completed work (the same 30 reads and the same answer). cost.longLoopCompactedVsFullCached is the same
 *   pair with caching on, for the record: caching already makes re-sent history cheap, so compaction saves less
 *   there (it is what keeps the task under its token limits then).
 * - estimate.promptErrorPct: median |estimate − actual| ÷ actual × 100 over every call of the runs above (the
 *   ledger's prompt estimate, calibrated per model on the workspace's own calls, against the provider's billed
 *   prompt tokens).
 */
export async function costBenchmarks(): Promise<Figure[]> {
  const errors: number[] = [];
  const research = async (caching: 'auto' | 'off') => runScenario('research', caching, errors);
  const off = await research('off');
  const auto = await research('auto');
  const loop = async (compact: boolean, caching: 'auto' | 'off') =>
    runScenario(compact ? 'loop+compact' : 'loop', caching, errors);
  const full = await loop(false, 'off');
  const compacted = await loop(true, 'off');
  const fullCached = await loop(false, 'auto');
  const compactedCached = await loop(true, 'auto');
  if (compacted.output !== full.output || compactedCached.output !== fullCached.output)
    throw new Error('the compacted loop did not finish the same work');
  errors.sort((a, b) => a - b);
  return [
    { key: 'cost.researchUncachedMicros', value: off.costMicros, unit: 'µ$' },
    { key: 'cost.researchCachedMicros', value: auto.costMicros, unit: 'µ$' },
    { key: 'cost.researchCachedVsUncached', value: auto.costMicros / off.costMicros, unit: 'ratio', target: '<= 0.5' },
    { key: 'cost.longLoopFullMicros', value: full.costMicros, unit: 'µ$' },
    { key: 'cost.longLoopCompactedMicros', value: compacted.costMicros, unit: 'µ$' },
    {
      key: 'cost.longLoopCompactedVsFull',
      value: compacted.costMicros / full.costMicros,
      unit: 'ratio',
      target: '<= 0.6',
    },
    {
      key: 'cost.longLoopCompactedVsFullCached',
      value: compactedCached.costMicros / fullCached.costMicros,
      unit: 'ratio',
    },
    { key: 'estimate.promptErrorPct', value: percentile(errors, 50), unit: '%', target: '<= 15' },
    { key: 'estimate.promptErrorP90Pct', value: percentile(errors, 90), unit: '%' },
    { key: 'estimate.calls', value: errors.length, unit: 'calls' },
  ];
}

const FILES = 40;
const LOOP_TURNS = 30;
const MODEL = 'claude-sonnet-5';

/** The fixed 40-file workspace: modules of a made-up billing service, 600 to 1,800 tokens each. */
function writeWorkspace(folder: string): void {
  rmSync(folder, { recursive: true, force: true });
  for (let i = 0; i < FILES; i++) {
    const file = path.join(folder, 'src', `module${String(i).padStart(2, '0')}.ts`);
    mkdirSync(path.dirname(file), { recursive: true });
    const body = prose(600 + ((i * 317) % 1_200), `module${i}`);
    writeFileSync(
      file,
      `// module ${i}: ${i % 3 === 0 ? 'retries' : 'budgets'}\nexport const notes${i} = \`\n${body}\n\`;\n`,
    );
  }
  mkdirSync(path.join(folder, '.agent-budget', 'workflows'), { recursive: true });
}

type Scenario = 'research' | 'loop' | 'loop+compact';

async function runScenario(scenario: Scenario, caching: 'auto' | 'off', errors: number[]): Promise<RunOutcome> {
  const folder = path.join(BENCH_TMP, `cost-${scenario.replace('+', '-')}-${caching}`);
  writeWorkspace(folder);
  const loop = scenario !== 'research';
  const policy = {
    timeZone: 'UTC',
    caching,
    limits: {
      task: {
        softTokens: scenario === 'loop+compact' ? 20_000 : null,
        hardTokens: 10_000_000,
        maxSteps: 200,
        maxToolCalls: 200,
      },
      session: { softTokens: null, hardTokens: 20_000_000 },
      workspace: { dailyUsd: 1_000, monthlyUsd: 1_000 },
    },
    workflows: {
      research: { model: MODEL },
      'long-loop': { degradeModel: 'claude-haiku-4-5' },
    },
  };
  writeFileSync(path.join(folder, '.agent-budget', 'budget.json'), JSON.stringify(policy));
  const fake = await startFakeAnthropic();
  fake.responder = loop ? loopAgent() : researchAgent();
  const { runner, workspace, close } = await openRunner(folder, fakeAccess({ anthropic: fake.baseUrl }), undefined, {
    builtins: loop ? [LONG_LOOP] : undefined,
    // The benchmark is the user: its budget.json raises the step limits past the defaults (a loosening).
    trustPolicy: true,
  });
  try {
    const outcome = loop
      ? await runner.start('long-loop', {})
      : await runner.start('research', { input: 'How are retries and budgets bounded in this service?' });
    if (outcome.status !== 'completed')
      throw new Error(`${scenario} (${caching}): ${outcome.status} ${outcome.error ?? ''}`);
    for (const row of ledgerOf(workspace, outcome.runId)) {
      const actual = promptTokens(row.usage);
      if (!row.estimated && actual > 0 && row.estimatedInputTokens !== null)
        errors.push((Math.abs(row.estimatedInputTokens - actual) / actual) * 100);
    }
    return outcome;
  } finally {
    await close();
    await fake.close();
  }
}

const LONG_LOOP: RunnerWorkflow = {
  id: 'long-loop',
  title: 'Long loop',
  model: MODEL,
  version: 'bench',
  system: 'You are an agent that reads files of a workspace one at a time and reports what they say.',
  steps: [
    {
      id: 'read',
      prompt: `Read src/module00.ts to src/module${LOOP_TURNS - 1}.ts one by one with readFile, then say what they have in common.`,
      tools: ['readFile'],
      maxOutputTokens: 600,
    },
  ],
};

type Body = { model: string; messages: Array<{ role: string; content: unknown }>; system?: unknown };

/** The long loop's model: one readFile a turn for 30 turns, then the answer; the cheap model writes summaries. */
function loopAgent(): (req: LoggedRequest) => FakeReply {
  let turn = 0;
  return (req) => {
    const body = req.body as Body;
    if (body.model !== MODEL) return { text: summary(body), usage: { output: 180 } };
    if (turn < LOOP_TURNS) {
      const file = `src/module${String(turn++).padStart(2, '0')}.ts`;
      return {
        text: `Reading ${file}.`,
        toolCalls: [{ name: 'readFile', input: { path: file } }],
        usage: { output: 40 },
      };
    }
    return { text: `All ${LOOP_TURNS} modules keep notes on budgets and retries.`, usage: { output: 120 } };
  };
}

/** The summariser's answer: the files it saw, in a few sentences. */
function summary(body: Body): string {
  const files = [...new Set([...JSON.stringify(body).matchAll(/src\/module\d\d\.ts/g)].map((m) => m[0]))];
  return `Read so far: ${files.join(', ')}. Each module keeps notes on budgets or retries.`;
}

/**
 * The research workflow's model, answering by the step it is asked for: four sub-questions; per sub-agent a
 * listFiles, a searchText and eight readFiles (its own eight files), then findings; an outline; the report; the
 * reviewed report. Long answers are as long in every run.
 */
function researchAgent(): (req: LoggedRequest) => FakeReply {
  return (req) => {
    const body = req.body as Body;
    const first = JSON.stringify(body.messages[0]?.content ?? '');
    if (first.includes('Break this research question'))
      return { text: '1. Q0 retries\n2. Q1 budgets\n3. Q2 limits\n4. Q3 ledgers', usage: { output: 30 } };
    const sub = /Your sub-question: Q(\d)/.exec(first);
    if (sub) {
      const q = Number(sub[1]);
      const done = body.messages.filter(
        (m) => m.role === 'user' && JSON.stringify(m.content).includes('tool_result'),
      ).length;
      if (done === 0)
        return { toolCalls: [{ name: 'listFiles', input: { pattern: 'src/**/*.ts' } }], usage: { output: 30 } };
      if (done === 1)
        return {
          toolCalls: [{ name: 'searchText', input: { query: q % 2 ? 'budgets' : 'retries' } }],
          usage: { output: 30 },
        };
      if (done < 10) {
        const file = `src/module${String(q * 8 + done - 2).padStart(2, '0')}.ts`;
        return { toolCalls: [{ name: 'readFile', input: { path: file } }], usage: { output: 30 } };
      }
      return { text: `Q${q} findings: ${prose(350, `findings${q}`)}`, usage: { output: 450 } };
    }
    if (first.includes('Outline a short report')) return { text: prose(250, 'outline'), usage: { output: 320 } };
    if (first.includes('Write the report')) return { text: prose(700, 'report'), usage: { output: 900 } };
    return { text: prose(700, 'reviewed'), usage: { output: 900 } };
  };
}
