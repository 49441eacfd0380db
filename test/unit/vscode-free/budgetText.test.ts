// How the meter picks the scope it shows, and how scopes read in the meter and the panel's forecast sentences
// (src/vscode/budgetText.ts: plain TypeScript, no vscode import).
import assert from 'node:assert/strict';
import { capName, scopeLabel, tightestScope, type ScopeStatus } from '../../../src/vscode/budgetText';

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
