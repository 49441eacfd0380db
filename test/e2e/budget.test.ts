// What a user sees of their budget in the real workbench: the meter with today's spend, the meter changing when
// another process (the CLI, another window) spends on the folder, the budget panel with its breakdowns, and the
// Runs view with a run to resume. The workspace's store is seeded before VS Code starts, and the later spend is
// written by this test process: a separate process on the same store, exactly as the CLI is.
import assert from 'node:assert/strict';
import { newId } from '../../src/core/processIdentity';
import type { LedgerEntry, RunState } from '../../src/core/store/records';
import { WorkspaceStore } from '../../src/core/store/store';
import { saveScreenshot } from './screenshots';
import { useWorkbench } from './workbench';

const DAY = 86_400_000;
const MODELS: Array<[string, string]> = [
  ['anthropic', 'claude-haiku-4-5'],
  ['anthropic', 'claude-sonnet-4-5'],
  ['openai', 'gpt-5-mini'],
];
const TASKS: Record<string, string[]> = {
  'code-review': ['review'],
  explain: ['explain'],
  research: ['research', 'outline', 'write'],
  summarize: ['outline', 'write'],
};

function entry(ts: number, workflow: string, costMicros: number, i: number, runId: string | null = null): LedgerEntry {
  const [provider, model] = MODELS[i % MODELS.length]!;
  const tasks = TASKS[workflow] ?? ['answer'];
  return {
    id: newId(ts),
    ts,
    provider,
    model,
    workflow,
    runId,
    taskId: null,
    task: tasks[i % tasks.length]!,
    tool: null,
    variant: null,
    usage: {
      input: 2000 + i * 37,
      output: 400 + i * 11,
      cacheRead: i % 2 ? 1500 : 0,
      cacheWrite5m: 0,
      cacheWrite1h: 0,
      reasoning: 0,
    },
    costMicros,
    estimated: false,
    requestId: null,
    latencyMs: 900,
    reservationId: null,
    reservedMicros: costMicros * 2,
    estimatedInputTokens: 2100 + i * 37,
  };
}

/** Today (UTC, the demo's time zone): $1.84, of which code-review $0.30; the 20 days before: $0.40 a day. */
async function seed(stateDir: string): Promise<string> {
  const store = await WorkspaceStore.open({ dir: stateDir, pollMs: 0 });
  const now = Date.now();
  const today0 = Math.floor(now / DAY) * DAY;
  const runId = newId(now - 3600_000);
  const records: Parameters<typeof store.commit>[0] = [];
  for (let d = 1; d <= 20; d++) {
    ['explain', 'research', 'code-review', 'summarize'].forEach((wf, i) =>
      records.push({ k: 'ledger', entry: entry(today0 - d * DAY + 3600_000 * (i + 1), wf, 100_000, d + i) }),
    );
  }
  const todaySpend: Array<[string, number]> = [
    ['code-review', 300_000],
    ['research', 900_000],
    ['explain', 240_000],
    ['summarize', 400_000],
  ];
  todaySpend.forEach(([wf, micros], i) =>
    records.push({
      k: 'ledger',
      entry: entry(Math.min(now - 60_000, today0 + 60_000 * (i + 1)), wf, micros, i, wf === 'research' ? runId : null),
    }),
  );
  const run: RunState = {
    id: runId,
    workflow: 'research',
    status: 'interrupted',
    title: 'Research: prompt caching across providers',
    createdAt: now - 3600_000,
    updatedAt: now - 3000_000,
    rev: store.nextRev(),
    owner: 'e2e-seed:1:dead',
    parentRunId: null,
    variant: null,
    data: { error: 'The window closed while the run was in progress.' },
  };
  records.push({ k: 'run', run });
  records.push({
    k: 'run',
    run: {
      ...run,
      id: newId(now - 7200_000),
      workflow: 'code-review',
      status: 'completed',
      title: 'invoice.ts',
      createdAt: now - 7200_000,
      updatedAt: now - 7100_000,
      rev: store.nextRev(),
      data: {},
    },
  });
  records.push({
    k: 'run',
    run: {
      ...run,
      id: newId(now - 9000_000),
      workflow: 'summarize',
      status: 'cancelled',
      title: 'notes.md',
      createdAt: now - 9000_000,
      updatedAt: now - 8900_000,
      rev: store.nextRev(),
      data: {},
    },
  });
  await store.commit(records);
  await store.close();
  return runId;
}

describe('Budget at a glance: meter, panel and Runs view', function () {
  let stateDir = '';
  let interruptedRun = '';
  const workbench = useWorkbench({
    prepare: async (dirs) => {
      stateDir = dirs.stateDir;
      interruptedRun = await seed(stateDir);
    },
  });

  it('the meter shows the workspace’s spend against its tightest period cap, with every scope in its tooltip', async () => {
    const wb = workbench();
    const meter = wb.statusBarItem('Agent Budget');
    await meter.filter({ hasText: '$1.84 / $5.00 today' }).waitFor({ state: 'visible', timeout: 20_000 });
    await meter.hover();
    const hover = wb.page.locator('.monaco-hover, .workbench-hover').filter({ hasText: 'the workspace' });
    await hover.first().waitFor({ state: 'visible' });
    const text = await hover.first().innerText();
    for (const label of ['today', 'this week', 'this month', 'code-review today', 'code-review this month'])
      assert.match(text, new RegExp(label));
    await saveScreenshot(wb, 'meter', { clip: 'statusbar-hover' });
  });

  it('changes within a second or two when another process spends, and turns to the warning colour at 75 %', async () => {
    const wb = workbench();
    await wb.page.mouse.move(10, 10);
    const other = await WorkspaceStore.open({ dir: stateDir, pollMs: 0 });
    const started = Date.now();
    try {
      await other.commit([{ k: 'ledger', entry: entry(Date.now(), 'research', 2_100_000, 7) }]);
    } finally {
      await other.close();
    }
    const meter = wb.statusBarItem('Agent Budget').filter({ hasText: '$3.94 / $5.00 today' });
    await meter.waitFor({ state: 'visible', timeout: 5000 });
    const took = Date.now() - started;
    assert.ok(took < 3000, `the meter took ${took} ms to show spend from another process`);
    assert.match((await meter.getAttribute('class')) ?? '', /warning-kind/);
  });

  it('clicking the meter opens the budget panel with scopes, forecast and breakdowns', async () => {
    const wb = workbench();
    await wb.statusBarItem('Agent Budget').click();
    const frame = await wb.frameShowing('Budgets now');
    const overview = await frame.evaluate<string>('document.body.innerText');
    assert.match(overview, /\$3\.94/);
    assert.match(overview, /Burn rate/);
    assert.match(overview, /Spend by day/);
    assert.match(overview, /Top consumers/);
    assert.match(overview, /research/);
    // The forecast names each weekly and monthly cap as a cap (the demo has no other), never "the this week cap".
    for (const cap of ['the workspace weekly cap', 'the workspace monthly cap', "code-review's monthly cap"])
      assert.ok(overview.includes(cap), `no "${cap}" in:\n${overview}`);
    assert.doesNotMatch(overview, /the (today|this week|this month) cap|daily cap/);
    // The icons' font loads from the one folder the page may load from.
    await wb.codiconFontLoaded(frame);
    await wb.page.waitForTimeout(500); // painted a moment after the text is in the frame
    await saveScreenshot(wb, 'panel');
    // The Breakdown tab: by workflow, model, provider, task and tool.
    await frame.getByText('Breakdown', { exact: true }).click();
    await frame.getByText('By provider').waitFor({ state: 'visible' });
    const breakdown = await frame.evaluate<string>('document.body.innerText');
    for (const text of ['By workflow', 'By model', 'By task', 'By tool', 'claude-haiku-4-5', 'anthropic', 'outline'])
      assert.ok(breakdown.includes(text), `no "${text}" in the breakdown`);
  });

  it("the panel's Prices tab lists the rates in force with their sources and dates", async () => {
    const wb = workbench();
    const frame = await wb.frameShowing('Range');
    await frame.getByText('Prices', { exact: true }).click();
    await frame.getByText('claude-fable-5-2', { exact: true }).waitFor({ state: 'visible' });
    const row = await frame.locator('tr[data-model="claude-fable-5-2"]').innerText();
    for (const text of [
      'anthropic',
      '$8.00',
      '$40.00',
      '$0.20',
      '$10.00 / $16.00',
      'fable-5-2/whats-new',
      '2026-12-03',
    ])
      assert.ok(row.includes(text), `no "${text}" in the Fable 5.2 row: ${row}`);
    assert.match(await frame.evaluate<string>('document.body.innerText'), /Prices in force on .* \(UTC\)/);
  });

  it('the Runs view lists the interrupted run to resume, with a badge, and reveals it in the panel', async () => {
    const wb = workbench();
    const sideBar = await wb.openView('Agent Budget');
    await sideBar.getByText('To resume').waitFor({ state: 'visible' });
    const row = sideBar.locator('.monaco-list-row').filter({ hasText: 'research' }).first();
    await row.waitFor({ state: 'visible' });
    assert.match(await row.innerText(), /\$3\.00|\$0\.90/);
    const badge = wb.page
      .locator('.part.activitybar .action-item')
      .filter({ has: wb.page.locator('[aria-label^="Agent Budget"]') })
      .locator('.badge-content');
    assert.equal((await badge.innerText()).trim(), '1');
    await row.hover();
    await saveScreenshot(wb, 'sidebar', { clip: 'sidebar' });
    // Mark Run Result… is on the completed run's menu, not on the cancelled one's (it has no result to mark).
    const finished = (workflow: string) => sideBar.locator('.monaco-list-row').filter({ hasText: workflow }).first();
    assert.ok((await wb.contextMenuLabels(finished('code-review'))).includes('Mark Run Result…'));
    const cancelledMenu = await wb.contextMenuLabels(finished('summarize'));
    assert.ok(!cancelledMenu.includes('Mark Run Result…'), JSON.stringify(cancelledMenu));
    await row.hover();
    await row.getByRole('button', { name: 'Reveal Run in Budget Panel' }).click();
    const frame = await wb.frameShowing('Interrupted'.toLowerCase());
    await frame.locator(`tr.highlight[data-run-id="${interruptedRun}"]`).waitFor({ state: 'visible' });
  });

  it('the panel comes back after a reload on the tab it was on', async function () {
    this.timeout(90_000);
    const wb = workbench();
    const before = await wb.frameShowing('Range');
    await before.getByText('Breakdown', { exact: true }).click();
    await before.getByText('By provider').waitFor({ state: 'visible' });
    // What a user does: Developer: Reload Window (the workbench saves editor and webview state as it shuts down).
    await wb.runCommand('Developer: Reload Window');
    await wb.page.waitForTimeout(1000);
    await wb.page.locator('.monaco-workbench .part.statusbar').waitFor({ state: 'visible', timeout: 60_000 });
    const frame = await wb.frameShowing('By provider', 40_000);
    await frame.getByText('By provider').waitFor({ state: 'visible' });
    assert.equal(await frame.getByText('Budgets now').isVisible(), false, 'the panel came back on the Overview tab');
  });
});
