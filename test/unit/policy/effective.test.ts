import assert from 'node:assert/strict';
import { degradeModel, effectiveLimits, routeModel, stepTaskLimits, usdCap } from '../../../src/core/policy/effective';
import { parsePolicyText } from '../../../src/core/policy/load';
import { modelMatches } from '../../../src/core/policy/modelMatch';
import { parseScope } from '../../../src/core/policy/scopes';
import type { BudgetPolicy } from '../../../src/core/policy/types';
import { fixture } from './memoryFs';

function policy(text: string): BudgetPolicy {
  const r = parsePolicyText(text, 'budget.json');
  assert.ok(r.policy, JSON.stringify(r.issues));
  return r.policy;
}

describe('policy: effective limits and model routing', () => {
  const example = policy(fixture('policy-md-budget.json'));

  it('per-workflow overrides replace workspace task/session limits key by key', () => {
    const e = effectiveLimits(example, 'code-review');
    assert.deepEqual(e.task, {
      softTokens: 6000,
      hardTokens: 8000,
      maxToolCalls: 20,
      maxSteps: 10,
      maxWallSeconds: 300,
      softUsd: 0.05,
      hardUsd: 0.1,
    });
    // Inherited soft limits above the workflow's hard ones become half of them: 60000 > 20000, $1 > $0.40.
    assert.deepEqual(e.session, { softTokens: 10000, hardTokens: 20000, softUsd: 0.2, hardUsd: 0.4 });
    assert.deepEqual(e.workflow, { dailyUsd: 2, monthlyUsd: 20 });
    assert.deepEqual(e.workspace, { dailyUsd: 5, weeklyUsd: 20, monthlyUsd: 50 });
  });

  it('a workflow without overrides (or no workflow) gets the workspace limits and no workflow caps', () => {
    for (const id of ['explain', undefined, 'constructor', '__proto__']) {
      const e = effectiveLimits(example, id);
      assert.deepEqual(e.task, example.limits.task);
      assert.deepEqual(e.session, example.limits.session);
      assert.deepEqual(e.workflow, {});
    }
  });

  it('overrides may raise limits; explicit soft limits are kept', () => {
    const p = policy(
      '{ "workflows": { "big": { "limits": { "task": { "softTokens": 300000, "hardTokens": 400000 }, "session": { "hardTokens": 2000000 } } } } }',
    );
    const e = effectiveLimits(p, 'big');
    assert.equal(e.task.hardTokens, 400_000);
    assert.equal(e.task.softTokens, 300_000);
    assert.deepEqual(e.session, { softTokens: 250_000, hardTokens: 2_000_000 });
  });

  it('the effective limits are copies (changing them does not change the policy)', () => {
    const e = effectiveLimits(example, 'code-review');
    e.task.hardTokens = 1;
    e.workspace.dailyUsd = 1;
    assert.equal(effectiveLimits(example, 'code-review').task.hardTokens, 8000);
    assert.equal(example.limits.workspace.dailyUsd, 5);
  });

  it('step limits only tighten the task limits', () => {
    const task = { softTokens: 6000, hardTokens: 12000, maxToolCalls: 20 };
    assert.deepEqual(stepTaskLimits(task, { softTokens: 3000, hardTokens: 6000 }), {
      softTokens: 3000,
      hardTokens: 6000,
      maxToolCalls: 20,
    });
    assert.deepEqual(stepTaskLimits(task, { hardTokens: 50000, maxToolCalls: 100 }), task, 'cannot loosen');
    assert.deepEqual(stepTaskLimits(task, { hardTokens: 4000 }), {
      softTokens: 2000,
      hardTokens: 4000,
      maxToolCalls: 20,
    });
    assert.deepEqual(stepTaskLimits({}, { maxWallSeconds: 30 }), { maxWallSeconds: 30 });
    assert.deepEqual(stepTaskLimits(task, undefined), task);
  });

  it('usdCap reads workspace and workflow caps by scope', () => {
    assert.equal(usdCap(example, parseScope('workspace.weekly')!), 20);
    assert.equal(usdCap(example, parseScope('workflow.code-review.daily')!), 2);
    assert.equal(usdCap(example, parseScope('workflow.code-review.weekly')!), undefined);
    assert.equal(usdCap(example, parseScope('workflow.other.daily')!), undefined);
    assert.equal(usdCap(example, parseScope('task')!), undefined);
  });

  describe('routeModel', () => {
    it('default model below the threshold and without keywords', () => {
      assert.deepEqual(routeModel(example, 'code-review', { inputTokens: 6000, text: 'review this diff' }), {
        model: 'claude-haiku-4-5',
        reason: 'default',
      });
    });
    it('complex above the input threshold (strictly above)', () => {
      assert.deepEqual(routeModel(example, 'code-review', { inputTokens: 6001 }), {
        model: 'claude-sonnet-4-5',
        reason: 'complex-threshold',
      });
    });
    it('complex on a keyword, case-insensitive, whole words only', () => {
      assert.deepEqual(routeModel(example, 'code-review', { inputTokens: 10, text: 'Check the SECURITY of login' }), {
        model: 'claude-sonnet-4-5',
        reason: 'complex-keyword',
      });
      assert.equal(
        routeModel(example, 'code-review', { inputTokens: 10, text: 'insecurity and architectures' }).reason,
        'default',
      );
      assert.equal(
        routeModel(example, 'code-review', { inputTokens: 10, text: 'the architecture.' }).reason,
        'complex-keyword',
      );
    });
    it('the explicit flag wins both ways', () => {
      assert.deepEqual(routeModel(example, 'code-review', { inputTokens: 1, complex: true }), {
        model: 'claude-sonnet-4-5',
        reason: 'complex-flag',
      });
      assert.deepEqual(routeModel(example, 'code-review', { inputTokens: 99999, text: 'security', complex: false }), {
        model: 'claude-haiku-4-5',
        reason: 'default',
      });
    });
    it("the request's default model is used when the policy names none", () => {
      assert.deepEqual(
        routeModel(example, 'explain', { inputTokens: 99999, complex: true, defaultModel: 'gpt-4.1-mini' }),
        {
          model: 'gpt-4.1-mini',
          reason: 'default',
        },
      );
      assert.deepEqual(routeModel(example, undefined, { inputTokens: 1 }), { model: undefined, reason: 'default' });
    });
    it('without a complexModel, complexity never changes the model', () => {
      const p = policy('{ "workflows": { "x": { "model": "m", "complexity": { "inputTokensAbove": 1 } } } }');
      assert.deepEqual(routeModel(p, 'x', { inputTokens: 100 }), { model: 'm', reason: 'default' });
    });
    it('keywords with regex characters are matched literally', () => {
      const p = policy(
        '{ "workflows": { "x": { "model": "a", "complexModel": "b", "complexity": { "keywords": ["c++", "auth/z"] } } } }',
      );
      assert.equal(routeModel(p, 'x', { inputTokens: 1, text: 'port to C++ now' }).reason, 'complex-keyword');
      assert.equal(routeModel(p, 'x', { inputTokens: 1, text: 'c+ or cpp' }).reason, 'default');
      assert.equal(routeModel(p, 'x', { inputTokens: 1, text: 'fix auth/z' }).reason, 'complex-keyword');
    });
  });

  it('degradeModel', () => {
    assert.equal(degradeModel(example, 'code-review'), 'claude-haiku-4-5');
    assert.equal(degradeModel(example, 'explain'), undefined);
    assert.equal(degradeModel(example, undefined), undefined);
  });

  it('modelMatches: case-insensitive regex search, or /pattern/flags', () => {
    assert.ok(modelMatches('opus', 'claude-OPUS-4-1'));
    assert.ok(!modelMatches('opus', 'claude-sonnet-4-5'));
    assert.ok(modelMatches('^gpt-4\\.1', 'gpt-4.1-mini'));
    assert.ok(!modelMatches('^gpt-4\\.1', 'my-gpt-4.1'));
    assert.ok(!modelMatches('/Opus/', 'claude-opus-4'), 'the slash form keeps its own (case-sensitive) flags');
    assert.ok(modelMatches('/Opus/i', 'claude-opus-4'));
  });
});
