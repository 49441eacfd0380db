// How the meter picks the scope it shows, and how scopes read in the meter and the panel's forecast sentences
// (src/vscode/budgetText.ts: plain TypeScript, no vscode import).
import assert from 'node:assert/strict';
import {
  capName,
  meterFigure,
  runDescription,
  runFigure,
  scopeLabel,
  tightestScope,
  workspaceScope,
  worstLevel,
  type RunLine,
  type ScopeStatus,
} from '../../../src/vscode/budgetText';

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 10, 22, 12);

function scope(name: string, pct: number, resetsInHours: number | undefined): ScopeStatus {
  const limit = 10_000_000;
  return {
    scope: name,
    used: Math.round((limit * pct) / 100),
    reserved: 0,
    limit,
    pct,
    level: pct >= 100 ? 'blocked' : pct >= 90 ? 'critical' : pct >= 75 ? 'warn' : 'ok',
    resetsAt: resetsInHours === undefined ? undefined : NOW + resetsInHours * HOUR,
  };
}

describe('tightestScope (the scope the meter shows)', () => {
  it('is the scope with the highest percentage, wherever it is in the list', () => {
    const daily = scope('workspace.daily', 40, 12);
    const monthly = scope('workspace.monthly', 82, 200);
    const workflow = scope('workflow.code-review.daily', 61, 12);
    assert.equal(tightestScope([daily, monthly, workflow]), monthly);
    assert.equal(tightestScope([monthly, workflow, daily]), monthly);
    assert.equal(tightestScope([workflow, daily]), workflow);
  });

  it('on a tie, the one that resets first (the shorter period)', () => {
    const monthly = scope('workspace.monthly', 50, 200);
    const weekly = scope('workspace.weekly', 50, 60);
    const daily = scope('workspace.daily', 50, 12);
    assert.equal(tightestScope([monthly, weekly, daily]), daily);
    assert.equal(tightestScope([daily, monthly, weekly]), daily);
    // A scope with no reset time loses the tie to one that has one.
    const noReset = scope('workspace.custom', 50, undefined);
    assert.equal(tightestScope([noReset, weekly]), weekly);
    assert.equal(tightestScope([weekly, noReset]), weekly);
  });

  it('treats percentages that differ only by float noise as a tie', () => {
    const monthly = scope('workspace.monthly', 30 + 1e-12, 200);
    const daily = scope('workspace.daily', 30, 12);
    assert.equal(tightestScope([monthly, daily]), daily);
  });

  it('a blocked scope (over 100 %) wins over one near its cap', () => {
    const blocked = scope('workflow.code-review.monthly', 104, 200);
    const critical = scope('workspace.daily', 95, 2);
    assert.equal(tightestScope([critical, blocked]), blocked);
  });

  it('is undefined when no USD cap is set', () => {
    assert.equal(tightestScope([]), undefined);
  });
});

describe('scope wording', () => {
  it('scopeLabel reads as a time: "today", "code-review this month"', () => {
    assert.equal(scopeLabel('workspace.daily'), 'today');
    assert.equal(scopeLabel('workspace.weekly'), 'this week');
    assert.equal(scopeLabel('workflow.code-review.monthly'), 'code-review this month');
  });

  it('capName reads as a cap, for "At this rate … is reached on …"', () => {
    assert.equal(capName('workspace.weekly'), 'the workspace weekly cap');
    assert.equal(capName('workspace.monthly'), 'the workspace monthly cap');
    assert.equal(capName('workflow.code-review.monthly'), "code-review's monthly cap");
    // Workflow ids may contain dots: the period is the last part.
    assert.equal(capName('workflow.team.review.weekly'), "team.review's weekly cap");
    assert.equal(
      `At this rate ${capName('workspace.weekly')} ($20.00) is reached on Mon 24 Nov.`,
      'At this rate the workspace weekly cap ($20.00) is reached on Mon 24 Nov.',
    );
  });

  it('capName names anything else by its scope, never by a word from Object.prototype', () => {
    assert.equal(capName('workspace.constructor'), 'the workspace.constructor cap');
    assert.equal(capName('session.tokens'), 'the session.tokens cap');
    assert.equal(capName('workflow..weekly'), 'the workflow..weekly cap');
  });
});

describe('the meter holds still (issue 19)', () => {
  const scope = (name: string, used: number, limit: number, reserved = 0): ScopeStatus => ({
    scope: name,
    used,
    reserved,
    limit,
    pct: ((used + reserved) / limit) * 100,
    level: 'ok',
  });

  it("shows the workspace's tightest period cap, never a workflow's, however full that is", () => {
    const daily = scope('workspace.daily', 30_000, 5_000_000);
    const monthly = scope('workspace.monthly', 2_000_000, 50_000_000);
    const review = { ...scope('workflow.code-review.daily', 1_900_000, 2_000_000), level: 'critical' as const };
    assert.equal(workspaceScope([review, daily, monthly]), monthly, 'the fuller of the two workspace caps');
    assert.equal(workspaceScope([review]), undefined);
    assert.equal(worstLevel([daily, review, monthly]), 'critical', 'the colour still warns');
  });

  it('shows held money as held, never as spent', () => {
    assert.equal(meterFigure(scope('workspace.daily', 30_000, 5_000_000)), '$0.03 / $5.00 today');
    assert.equal(meterFigure(scope('workspace.daily', 30_000, 5_000_000, 20_000)), '$0.03 / $5.00 today · +$0.02 held');
  });

  it('a run\'s figure: its own tokens, never "0 tok"', () => {
    assert.equal(runFigure({ workflow: 'research', tokens: 0, estimated: false }), 'research: starting');
    assert.equal(runFigure({ workflow: 'research', tokens: 12_345, estimated: true }), 'research: ~12.3k tok');
  });
});

describe('runs in the sidebar tell apart (issue 19)', () => {
  const now = Date.UTC(2026, 10, 24, 12);
  const run = (title: string, more: Partial<RunLine> = {}): RunLine => ({
    workflow: 'code-review',
    title,
    costMicros: 2000,
    estimatedMicros: 0,
    status: 'completed',
    updatedAt: now - 7 * 60_000,
    ...more,
  });

  it('by what they ran on, their cost and a time that moves on', () => {
    assert.equal(runDescription(run('Review src/invoice.ts'), false, now), 'invoice.ts · $0.0020 · 7 min ago');
    assert.equal(runDescription(run('Review src/cart.ts'), false, now), 'cart.ts · $0.0020 · 7 min ago');
    assert.equal(runDescription(run('Review src/cart.ts'), false, now + 60 * 60_000), 'cart.ts · $0.0020 · 1 h ago');
    assert.equal(
      runDescription(run('How do refunds work?', { workflow: 'research' }), true, now),
      'How do refunds work? · $0.0020 · running',
    );
  });

  it('says "estimated" when part of the cost is', () => {
    assert.equal(
      runDescription(run('Review src/a.ts', { estimatedMicros: 500 }), false, now),
      'a.ts · $0.0020 (estimated) · 7 min ago',
    );
  });
});
