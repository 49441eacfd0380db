// The admission decision as a pure function (src/core/budget/admission.ts): no store, no clock — the request, the
// prices, the scopes' use and the rules in, a decision or the reason the budget says no out.
import assert from 'node:assert/strict';
import { decideAdmission, toolChargeBlocked, type AdmissionInputs } from '../../../src/core/budget/admission';
import type { ScopeUse } from '../../../src/core/budget/types';
import type { BudgetRule } from '../../../src/core/policy/types';
import { resolvePrice } from '../../../src/core/pricing/cost';

// $2/MTok input (2 µ$ a token) and $10/MTok output (10 µ$ a token); the cheap one a tenth of that.
const PRICES = {
  'test-model': { provider: 'anthropic' as const, inputPerMTok: 2, outputPerMTok: 10, maxOutputTokens: 8_000 },
  'cheap-model': { provider: 'anthropic' as const, inputPerMTok: 0.2, outputPerMTok: 1, maxOutputTokens: 8_000 },
};
const price = (model: string) => resolvePrice('anthropic', model, PRICES);

function tokens(used: number, limit: number | undefined, soft?: number): ScopeUse {
  return { scope: 'task', key: 'task@t', unit: 'tokens', used, reserved: 0, limit, soft };
}
function usd(used: number, limit: number | undefined): ScopeUse {
  return {
    scope: 'workspace.daily',
    key: 'workspace.daily@2026-11-22',
    unit: 'usd',
    used,
    reserved: 0,
    limit,
    soft: undefined,
    resetsAt: 1,
  };
}

function inputs(over: Partial<AdmissionInputs> & { rules?: BudgetRule[] } = {}): AdmissionInputs {
  return {
    request: {
      workflow: 'review',
      runId: 'r',
      taskId: 't',
      task: 'review',
      provider: 'anthropic',
      model: 'test-model',
      inputTokens: 1_000,
      maxOutputTokens: 2_000,
      tokenScopes: [],
    },
    price,
    scopes: { tokens: [tokens(0, 100_000)], usd: [usd(0, 1_000_000)] },
    rules: [],
    ...over,
  };
}

describe('decideAdmission (pure)', () => {
  it('grants the request’s output when everything affords it, and prices the worst case exactly', () => {
    const result = decideAdmission(inputs());
    assert.ok('admit' in result);
    assert.equal(result.admit.maxOutputTokens, 2_000);
    assert.equal(result.admit.clampedBy, 'request');
    assert.equal(result.admit.micros, 1_000 * 2 + 2_000 * 10);
    assert.equal(result.admit.tokens, 3_000);
    assert.deepEqual(
      result.admit.scopes.map((s) => s.key),
      ['task@t', 'workspace.daily@2026-11-22'],
    );
  });

  it('clamps output to the tightest scope: tokens left, or what the cap pays for', () => {
    const byTokens = decideAdmission(inputs({ scopes: { tokens: [tokens(98_500, 100_000)], usd: [] } }));
    assert.ok('admit' in byTokens);
    assert.deepEqual([byTokens.admit.maxOutputTokens, byTokens.admit.clampedBy], [500, 'task']);
    // $0.01 left: 2,000 µ$ of prompt, the other 8,000 µ$ buy 800 output tokens.
    const byCap = decideAdmission(inputs({ scopes: { tokens: [], usd: [usd(990_000, 1_000_000)] } }));
    assert.ok('admit' in byCap);
    assert.deepEqual([byCap.admit.maxOutputTokens, byCap.admit.clampedBy], [800, 'workspace.daily']);
  });

  it('says no, with the scope, when a hard limit leaves no room', () => {
    const result = decideAdmission(inputs({ scopes: { tokens: [tokens(99_000, 100_000)], usd: [] } }));
    assert.ok('blocked' in result);
    assert.equal(result.blocked.scope, 'task');
    assert.match(result.blocked.message, /task token limit reached/);
  });

  it('a cap that cannot pay for the model falls back to the degrade model, once', () => {
    const req = { ...inputs().request, degradeModel: 'cheap-model' };
    const result = decideAdmission(inputs({ request: req, scopes: { tokens: [], usd: [usd(999_000, 1_000_000)] } }));
    assert.ok('admit' in result);
    assert.equal(result.admit.model, 'cheap-model');
    assert.equal(result.admit.action, 'degrade');
    assert.match(result.admit.warnings[0]!, /^Degraded from test-model to cheap-model/);
  });

  it('rules: BLOCK says no; WARN admits with its reason; DEGRADE without a degrade model warns', () => {
    const block = decideAdmission(inputs({ rules: [{ when: { workflow: 'review' }, action: 'block' }] }));
    assert.deepEqual('blocked' in block && block.blocked.scope, 'rule');
    const warn = decideAdmission(inputs({ rules: [{ when: { modelMatches: 'test-*' }, action: 'warn' }] }));
    assert.ok('admit' in warn && warn.admit.action === 'warn');
    assert.match(warn.admit.warnings.join('\n'), /Warning rule: rules\[0\]/);
    const degrade = decideAdmission(inputs({ rules: [{ when: {}, action: 'degrade' }] }));
    assert.ok('admit' in degrade && degrade.admit.model === 'test-model');
    assert.match(degrade.admit.warnings.join('\n'), /has no degradeModel/);
  });

  it('warns when a call will likely cross a soft limit, and leaves its inputs as they were', () => {
    const given = inputs({ scopes: { tokens: [tokens(40_000, 100_000, 42_000)], usd: [] } });
    given.request.likely = { inputTokens: 900, outputTokens: 1_500 };
    const before = structuredClone({ request: given.request, scopes: given.scopes });
    const result = decideAdmission(given);
    assert.ok('admit' in result);
    assert.match(
      result.admit.warnings.join('\n'),
      /will likely take task past its soft limit \(40000 tokens used \+ about 2400 tokens of 42000 tokens soft\)/,
    );
    assert.deepEqual(result.admit.softReached, ['task']);
    assert.equal(result.admit.promptEstimate, 900);
    assert.deepEqual({ request: given.request, scopes: given.scopes }, before);
  });

  it('never warns on the worst case: a small prompt whose clamp and byte bound would pass the soft limit is quiet', () => {
    // The new user's first review: nothing used, a 39-line file (a 3,675-token byte bound, about 950 tokens likely)
    // and a 2,500-token clamp against a 6,000-token soft limit. Its worst case (6,175) is past it; what it will
    // likely use is not.
    const given = inputs({ scopes: { tokens: [tokens(0, 12_000, 6_000)], usd: [usd(0, 5_000_000)] } });
    given.request.inputTokens = 3_675;
    given.request.maxOutputTokens = 2_500;
    given.request.likely = { inputTokens: 950, outputTokens: 1_000 };
    const result = decideAdmission(given);
    assert.ok('admit' in result);
    assert.equal(result.admit.tokens, 6_175, 'the reservation still holds the worst case');
    assert.deepEqual(result.admit.warnings, []);
    assert.deepEqual(result.admit.softReached, []);
    // Without an estimate, the sized prompt is what it goes by (never the clamp).
    delete given.request.likely;
    const bare = decideAdmission(given);
    assert.ok('admit' in bare);
    assert.deepEqual(bare.admit.warnings, []);
  });

  it('a soft dollar limit warns on the likely cost, and a hard one clamps and blocks like a cap, naming its key', () => {
    const spend = (used: number, limit: number | undefined, soft?: number): ScopeUse => ({
      scope: 'task.usd',
      key: 'task.usd@t',
      unit: 'usd',
      used,
      reserved: 0,
      limit,
      soft,
    });
    const given = inputs({ scopes: { tokens: [], usd: [spend(10_000, 30_000, 12_000)] } });
    given.request.likely = { inputTokens: 1_000, outputTokens: 100 }; // 2,000 + 1,000 µ$ likely
    const warned = decideAdmission(given);
    assert.ok('admit' in warned);
    assert.match(
      warned.admit.warnings.join(' '),
      /likely take task\.usd past its soft limit \(\$0\.01 used \+ about \$0\.0030 of \$0\.0120 soft\)/,
    );
    // 20,000 µ$ left: the 1,000-token prompt at 2 µ$ leaves 18,000 µ$ → 1,800 output tokens.
    assert.equal(warned.admit.maxOutputTokens, 1_800);
    assert.equal(warned.admit.clampedBy, 'task.usd');
    const blocked = decideAdmission(inputs({ scopes: { tokens: [], usd: [spend(29_000, 30_000)] } }));
    assert.ok('blocked' in blocked);
    assert.equal(blocked.blocked.scope, 'task.usd');
    assert.equal(blocked.blocked.resetsAt, undefined);
    assert.match(blocked.blocked.message, /task\.usd limit reached: .*Raise limits\.task\.hardUsd/);
  });

  it('a compact rule is asked for beside the strictest action, on what the call will likely use', () => {
    const rules: BudgetRule[] = [
      { when: { scope: 'task', atLeastPct: 50 }, action: 'compact' },
      { when: {}, action: 'warn' },
    ];
    const given = inputs({ scopes: { tokens: [tokens(40_000, 100_000)], usd: [] }, rules });
    // Worst case 43,000 (43 %), likely 40,000 + 2,000 = 42 %: no compaction yet.
    given.request.likely = { inputTokens: 1_000, outputTokens: 1_000 };
    const quiet = decideAdmission(given);
    assert.ok('admit' in quiet && quiet.admit.compact === undefined && quiet.admit.action === 'warn');
    const near = inputs({ scopes: { tokens: [tokens(49_000, 100_000)], usd: [] }, rules });
    near.request.likely = { inputTokens: 1_000, outputTokens: 500 };
    const asked = decideAdmission(near);
    assert.ok('admit' in asked);
    assert.match(asked.admit.compact ?? '', /rules\[0\] \(task ≥ 50% → compact\) — task would be at 51%/);
    assert.equal(asked.admit.action, 'warn', 'the other rules still decide the action');
  });

  it('a fixed tool charge is refused only by a cap it would exceed', () => {
    assert.equal(toolChargeBlocked([usd(0, 1_000_000)], 500_000, 'runCommand'), undefined);
    assert.deepEqual(toolChargeBlocked([usd(600_000, 1_000_000)], 500_000, 'runCommand'), {
      message: 'workspace.daily cap of $1.00 would be exceeded by the runCommand charge of $0.50.',
      scope: 'workspace.daily',
      resetsAt: 1,
    });
  });
});
