import assert from 'node:assert/strict';
import { OfflineAllowance } from '../../../src/core/team/offline';
import type { TeamScopeUse } from '../../../src/core/team/types';

function use(over: Partial<TeamScopeUse>): TeamScopeUse {
  return {
    scope: 'team.daily',
    key: 'team.daily@2026-11-22',
    period: 'daily',
    used: 0,
    held: 0,
    limit: undefined,
    resetsAt: 0,
    ...over,
  };
}

describe('OfflineAllowance', () => {
  it('is 10 % of the tightest capped scope as last seen, at most $1, by default', () => {
    const small = new OfflineAllowance();
    small.observe([
      use({ limit: 10_000_000, used: 4_000_000, held: 1_000_000 }), // 5,000,000 left
      use({ scope: 'team.member.daily', limit: 3_000_000, used: 2_000_000 }), // 1,000,000 left: the tightest
      use({ scope: 'team.monthly', limit: undefined, used: 9e9 }), // uncapped: ignored
    ]);
    small.begin();
    assert.equal(small.left(), 100_000);
    const large = new OfflineAllowance();
    large.observe([use({ limit: 800_000_000, used: 100_000_000 })]);
    large.begin();
    assert.equal(large.left(), 1_000_000, 'capped at $1');
    const custom = new OfflineAllowance({ share: 0.5, capMicros: 5_000_000 });
    custom.observe([use({ limit: 4_000_000 })]);
    custom.begin();
    assert.equal(custom.left(), 2_000_000);
  });

  it('admits while the allowance lasts, counting settled cost and holds, and frees released holds', () => {
    const a = new OfflineAllowance();
    a.observe([use({ limit: 2_000_000 })]); // allowance 200,000
    a.begin();
    assert.deepEqual(a.admit('r1', 120_000), { ok: true, micros: 120_000 });
    assert.equal(a.left(), 80_000);
    const refused = a.admit('r2', 80_001);
    assert.ok(!refused.ok && /\$0\.08 offline allowance left/.test(refused.message));
    a.settle('r1', 30_000); // billed less than its worst case
    assert.equal(a.left(), 170_000);
    assert.ok(a.admit('r3', 170_000).ok, 'exactly what is left');
    a.release('r3');
    assert.equal(a.left(), 170_000);
  });

  it('clamps an offline hold to what is left when the call accepts less', () => {
    const a = new OfflineAllowance();
    a.observe([use({ limit: 1_000_000 })]); // allowance 100,000
    a.begin();
    assert.deepEqual(a.admit('r1', 70_000), { ok: true, micros: 70_000 });
    assert.deepEqual(a.admit('r2', 70_000, 20_000), { ok: true, micros: 30_000 });
    assert.equal(a.admit('r3', 70_000, 1).ok, false);
  });

  it('counts holds adopted from the ledger even past the allowance, and then refuses everything', () => {
    const a = new OfflineAllowance();
    a.observe([use({ limit: 1_000_000 })]); // allowance 100,000
    a.begin();
    a.adopt('in-flight', 250_000);
    assert.equal(a.left(), 0);
    assert.equal(a.admit('r', 1).ok, false);
    const r = a.end([use({ limit: 1_000_000, used: 1_100_000 })]);
    assert.deepEqual(r, {
      allowanceMicros: 100_000,
      spentMicros: 250_000,
      overshoot: [{ scope: 'team.daily', key: 'team.daily@2026-11-22', overMicros: 100_000 }],
    });
    assert.equal(a.offline, false);
  });

  it('has nothing to spend before it has ever seen the ledger, unless a snapshot says what was left', () => {
    const fresh = new OfflineAllowance();
    fresh.begin();
    const refused = fresh.admit('r', 1);
    assert.ok(!refused.ok && /has not reached the team ledger yet/.test(refused.message));
    const seen = new OfflineAllowance();
    seen.observe([use({ limit: 3_000_000, used: 1_000_000 })]);
    const restored = new OfflineAllowance({}, seen.snapshot());
    restored.begin();
    assert.equal(restored.left(), 200_000);
  });

  it('does not limit an outage when no team scope is capped', () => {
    const a = new OfflineAllowance();
    a.observe([use({ limit: undefined, used: 5 })]);
    a.begin();
    assert.ok(a.admit('r', 50_000_000).ok);
    assert.deepEqual(new OfflineAllowance({}, a.snapshot()).snapshot(), { remainingMicros: null });
  });

  it('rejects a share outside 0–1 and a cap that is not whole micro-dollars', () => {
    assert.throws(() => new OfflineAllowance({ share: 1.5 }), /within 0–1/);
    assert.throws(() => new OfflineAllowance({ capMicros: 0.5 }), /whole µ\$/);
    assert.throws(() => new OfflineAllowance().admit('r', 1), /no outage in progress/);
  });
});
