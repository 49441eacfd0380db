import assert from 'node:assert/strict';
import { isSpendKey, isUsdKey } from '../../../src/core/budget/types';

// Every reservation's scopes go through these on each admit and settle: which counters hold dollars and which tokens.
describe('scope keys: dollars or tokens', () => {
  it('a task, pool or run dollar scope is a spend key, with or without its counter id', () => {
    for (const key of ['task.usd', 'pool.usd', 'session.usd', 'task.usd@t1', 'pool.usd@p', 'session.usd@run-9'])
      assert.equal(isSpendKey(key), true, key);
  });

  it('token scopes, period scopes and look-alikes are not spend keys', () => {
    for (const key of [
      'task@t1',
      'session@run-9',
      'pool@p',
      'task.usdx@t1',
      'tasks.usd@t1',
      'xtask.usd',
      'workflow.task.usd.daily@2026-12-03',
      'workspace.daily@2026-12-03',
      '.usd',
      '',
    ])
      assert.equal(isSpendKey(key), false, key);
  });

  it('period, client and spend scopes are dollar scopes; token scopes are not', () => {
    for (const key of [
      'workspace.daily@2026-12-03',
      'workflow.review.monthly@2026-12',
      'client.claude.daily@d',
      'task.usd@t',
    ])
      assert.equal(isUsdKey(key), true, key);
    for (const key of ['task@t1', 'session@r', 'pool@p']) assert.equal(isUsdKey(key), false, key);
  });
});
