import assert from 'node:assert/strict';
import { formatIssue, type PolicyIssue } from '../../../src/core/policy/issues';
import { parsePolicyText, policyFilePath } from '../../../src/core/policy/load';
import { mergeTeamSections, setsTeamCaps } from '../../../src/core/policy/teamPolicy';
import { mergePolicies, type PolicySide } from '../../../src/core/trust/policyMerge';
import { lineColOf } from './memoryFs';

const FILE = policyFilePath('/ws');

function errorsOf(text: string): PolicyIssue[] {
  const r = parsePolicyText(text, FILE);
  assert.equal(r.policy, undefined, 'an invalid file yields no policy');
  return r.issues.filter((i) => i.severity === 'error');
}

function only(issues: PolicyIssue[], path: string): PolicyIssue {
  const at = issues.filter((i) => i.path === path);
  assert.equal(at.length, 1, `one issue at ${path}, got: ${issues.map(formatIssue).join(' | ')}`);
  return at[0]!;
}

function side(file: object): PolicySide {
  const r = parsePolicyText(JSON.stringify(file), FILE);
  assert.ok(r.policy, JSON.stringify(r.issues));
  return { policy: r.policy, raw: r.raw };
}

const TEAM_FILE = {
  limits: { team: { monthlyUsd: 800, dailyUsd: 60 } },
  team: {
    tiers: { senior: { dailyUsd: 20 }, ci: { monthlyUsd: 300 }, default: { dailyUsd: 5 } },
    members: { 'ana@x.dev': 'senior', 'ci@x.dev': 'ci' },
  },
};

describe('policy: team budgets (limits.team, team.tiers, team.members)', () => {
  it('reads the team caps, tiers and members as written', () => {
    const r = parsePolicyText(JSON.stringify(TEAM_FILE), FILE);
    assert.ok(r.policy, r.issues.map(formatIssue).join(' | '));
    assert.deepEqual(r.policy.limits.team, { monthlyUsd: 800, dailyUsd: 60 });
    assert.deepEqual(r.policy.team, TEAM_FILE.team);
    assert.equal(setsTeamCaps(r.policy), true);
    assert.deepEqual(
      r.issues.filter((i) => i.severity === 'warning'),
      [],
    );
  });

  it('a policy without team keys sets no team cap (and tiers without caps set none either)', () => {
    const plain = parsePolicyText('{}', FILE).policy!;
    assert.equal(plain.limits.team, undefined);
    assert.equal(plain.team, undefined);
    assert.equal(setsTeamCaps(plain), false);
    assert.equal(setsTeamCaps(parsePolicyText('{"team":{"tiers":{"x":{}}}}', FILE).policy!), false);
    assert.equal(setsTeamCaps(parsePolicyText('{"team":{"tiers":{"x":{"weeklyUsd":0}}}}', FILE).policy!), true);
  });

  it('a member in a tier that does not exist is an error at that member, naming the tiers and the near one', () => {
    const text = JSON.stringify({ team: { tiers: { senior: { dailyUsd: 20 } }, members: { 'ana@x.dev': 'senor' } } });
    const issue = only(errorsOf(text), 'team.members["ana@x.dev"]');
    assert.match(issue.message, /"senor" is not a tier in "team.tiers" \(tiers: "senior"\); did you mean "senior"\?/);
    const { line, column } = lineColOf(text, '"senor"');
    assert.deepEqual([issue.line, issue.column], [line, column]);
  });

  it('members without any tier defined are told to define it', () => {
    const issue = only(errorsOf('{"team":{"members":{"ci@x.dev":"ci"}}}'), 'team.members["ci@x.dev"]');
    assert.match(issue.message, /"ci" is not a tier: define it in "team.tiers"/);
  });

  it('the same member twice in different capitalisation is an error at the second', () => {
    const text = '{"team":{"tiers":{"a":{"dailyUsd":1}},"members":{"ana@x.dev":"a","Ana@X.dev":"a"}}}';
    const issue = only(errorsOf(text), 'team.members["Ana@X.dev"]');
    assert.match(issue.message, /is the same member as "ana@x.dev"/);
  });

  it('a member with spaces around it is an error (it could never match an identity)', () => {
    const issue = only(
      errorsOf('{"team":{"tiers":{"a":{}},"members":{" ana@x.dev":"a"}}}'),
      'team.members[" ana@x.dev"]',
    );
    assert.match(issue.message, /spaces around it/);
  });

  it('the schema refuses negative or null team caps and non-string tiers, and names unknown keys', () => {
    const text = JSON.stringify({
      limits: { team: { dailyUsd: -1, monthlyUsd: null, yearlyUsd: 5 } },
      team: { tiers: { a: { hourlyUsd: 1 } }, members: { 'b@x.dev': 3 }, owners: {} },
    });
    const errs = errorsOf(text);
    for (const p of ['limits.team.dailyUsd', 'limits.team.monthlyUsd', 'team.members["b@x.dev"]']) only(errs, p);
    const all = parsePolicyText(text, FILE).issues.map((i) => i.path);
    for (const p of ['limits.team.yearlyUsd', 'team.tiers.a.hourlyUsd', 'team.owners'])
      assert.ok(all.includes(p), `an issue at ${p}: ${all.join(' | ')}`);
  });
});

describe('policy: whose team caps hold (user.json + budget.json)', () => {
  it('the repository sets and tightens team caps; it never raises one the user’s file sets', () => {
    const user = side({ limits: { team: { dailyUsd: 50 } } });
    const tighter = mergePolicies(user, side({ limits: { team: { dailyUsd: 40, monthlyUsd: 800 } } }), false);
    assert.deepEqual(tighter.policy.limits.team, { dailyUsd: 40, monthlyUsd: 800 });
    assert.deepEqual([tighter.loosening, tighter.heldByUser], [[], []]);
    for (const consent of [false, true]) {
      const raised = mergePolicies(user, side({ limits: { team: { dailyUsd: 90 } } }), consent);
      assert.deepEqual(raised.policy.limits.team, { dailyUsd: 50 });
      assert.deepEqual(
        raised.heldByUser.map((l) => l.path),
        ['limits.team.dailyUsd'],
      );
    }
  });

  it('without a user file the committed team section holds as written', () => {
    const m = mergePolicies(side({}), side(TEAM_FILE), false);
    assert.deepEqual(m.policy.team, TEAM_FILE.team);
    assert.deepEqual(m.policy.limits.team, TEAM_FILE.limits.team);
    assert.deepEqual(m.loosening, []);
  });

  it('tiers both files set take the tighter cap; the user’s own placement of a member stands', () => {
    const merged = mergeTeamSections(
      { tiers: { senior: { dailyUsd: 10, weeklyUsd: 70 } }, members: { 'Ana@x.dev': 'senior' } },
      { tiers: { senior: { dailyUsd: 20, monthlyUsd: 300 }, ci: { dailyUsd: 1 } }, members: { 'ana@x.dev': 'ci' } },
    );
    assert.deepEqual(merged, {
      tiers: { senior: { dailyUsd: 10, weeklyUsd: 70, monthlyUsd: 300 }, ci: { dailyUsd: 1 } },
      members: { 'Ana@x.dev': 'senior' },
    });
    assert.equal(mergeTeamSections(undefined, undefined), undefined);
  });
});
