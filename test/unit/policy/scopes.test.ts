import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatScope, parseScope, scopeNameProblem, scopePeriod, type ScopeRef } from '../../../src/core/policy/scopes';
import { PERIODS } from '../../../src/core/policy/periods';
import { isWorkflowId } from '../../../src/core/policy/workflowTypes';

describe('policy: scope names', () => {
  it('parses every form of docs/policy.md', () => {
    assert.deepEqual(parseScope('task'), { kind: 'task' });
    assert.deepEqual(parseScope('session'), { kind: 'session' });
    assert.deepEqual(parseScope('workspace.daily'), { kind: 'workspace', period: 'daily' });
    assert.deepEqual(parseScope('workspace.monthly'), { kind: 'workspace', period: 'monthly' });
    assert.deepEqual(parseScope('workflow.code-review.weekly'), {
      kind: 'workflow',
      workflowId: 'code-review',
      period: 'weekly',
    });
  });

  it('a workflow id with dots parses unambiguously (first and last dot)', () => {
    assert.deepEqual(parseScope('workflow.team.review.v2.daily'), {
      kind: 'workflow',
      workflowId: 'team.review.v2',
      period: 'daily',
    });
    assert.deepEqual(parseScope('workflow.daily.monthly'), {
      kind: 'workflow',
      workflowId: 'daily',
      period: 'monthly',
    });
  });

  it('rejects malformed names with a reason', () => {
    for (const bad of [
      'workspace.dayly',
      'workspace',
      'workflow.daily',
      'workflow..daily',
      'workflow.Code.daily',
      'workspace.x.daily',
      'tasks',
      'Task',
      'run',
      'workflow.a b.daily',
      '',
      'workflow.-x.daily',
    ]) {
      assert.equal(parseScope(bad), undefined, bad);
      assert.ok(scopeNameProblem(bad), bad);
    }
    assert.equal(
      scopeNameProblem('tsak'),
      '"tsak" is not a scope name; use "task", "session", "task.usd", "session.usd", "workspace.daily|weekly|monthly" or "workflow.<id>.daily|weekly|monthly" (did you mean "task"?)',
    );
    assert.match(scopeNameProblem('worksapce.daily')!, /did you mean "workspace.daily"/);
    assert.match(scopeNameProblem('workflow.x.montly')!, /did you mean "workflow.x.monthly"/);
    assert.match(scopeNameProblem('workflow.daily')!, /needs a workflow id: "workflow.<id>.daily"/);
  });

  it('property: format and parse are inverse', () => {
    const id = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}[a-z0-9]$/).filter(isWorkflowId);
    const scope: fc.Arbitrary<ScopeRef> = fc.oneof(
      fc.constant<ScopeRef>({ kind: 'task' }),
      fc.constant<ScopeRef>({ kind: 'session' }),
      fc.constantFrom(...PERIODS).map((period): ScopeRef => ({ kind: 'workspace', period })),
      fc
        .tuple(id, fc.constantFrom(...PERIODS))
        .map(([workflowId, period]): ScopeRef => ({ kind: 'workflow', workflowId, period })),
    );
    fc.assert(fc.property(scope, (s) => assert.deepEqual(parseScope(formatScope(s)), s)));
  });

  it('scopePeriod', () => {
    assert.equal(scopePeriod({ kind: 'task' }), undefined);
    assert.equal(scopePeriod(parseScope('workflow.x.weekly')!), 'weekly');
  });
});
