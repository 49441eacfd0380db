import assert from 'node:assert/strict';
import { defaultPolicy } from '../../../src/core/policy/load';
import type { BudgetPolicy } from '../../../src/core/policy/types';
import { policyChanges } from '../../../src/core/trust/policyChanges';

function changed(edit: (p: BudgetPolicy) => void): string[] {
  const after = defaultPolicy();
  edit(after);
  return policyChanges(defaultPolicy(), after);
}

describe('trust: what a policy reload announces', () => {
  it('nothing when tools, endpoints and alerts are the same (limits show in the meter)', () => {
    assert.deepEqual(
      changed((p) => (p.limits.workspace.dailyUsd = 1)),
      [],
    );
  });

  it('each tool that now runs without asking, asks first or is refused', () => {
    assert.deepEqual(
      changed((p) => {
        p.tools.allow = ['readFile', 'runCommand'];
        p.tools.approve = ['listFiles', 'writeFile'];
      }),
      [
        'listFiles now asks first (it ran without asking)',
        'searchText is now refused (it ran without asking)',
        'editFile is now refused (it asked first)',
        'runCommand now runs without asking (it asked first)',
      ],
    );
  });

  it('where requests go, and which API', () => {
    assert.deepEqual(
      changed(
        (p) =>
          (p.providers = { anthropic: { baseUrl: 'https://relay.example.invalid' }, openai: { api: 'responses' } }),
      ),
      [
        'anthropic requests now go to https://relay.example.invalid (were its official endpoint)',
        'openai now uses the responses API (was the default)',
      ],
    );
  });

  it('where alerts go and when they fire', () => {
    assert.deepEqual(
      changed((p) => {
        p.alerts.webhookUrl = 'https://hooks.example.invalid/';
        p.alerts.thresholdsPct = [90];
      }),
      [
        'budget alerts now go to https://hooks.example.invalid/',
        'budget alerts now fire at 90 % (were 50, 75, 90, 100)',
      ],
    );
    const before = defaultPolicy();
    before.alerts.webhookUrl = 'https://hooks.example.invalid/';
    assert.deepEqual(policyChanges(before, defaultPolicy()), [
      'budget alerts no longer go to https://hooks.example.invalid/',
    ]);
  });
});
