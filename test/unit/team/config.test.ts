import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { teamConnectionFromEnv } from '../../../src/core/team/env';
import { classifyTeamError, TeamLedgerConfigError, TeamLedgerUnreachableError } from '../../../src/core/team/errors';
import { teamMember, TeamMemberError } from '../../../src/core/team/member';
import { resolveTeamCaps, teamTimeZone } from '../../../src/core/team/scopes';

const noGit = () => {
  throw Object.assign(new Error('spawn git ENOENT'), { code: 'ENOENT' });
};

describe('team configuration', () => {
  describe('teamMember', () => {
    it('takes AGENT_BUDGET_TEAM_MEMBER first, then git config user.email, lower-cased and trimmed', () => {
      assert.equal(teamMember({ AGENT_BUDGET_TEAM_MEMBER: ' Ana@X.dev ' }, '.', noGit), 'ana@x.dev');
      assert.equal(
        teamMember({}, '/repo', (cwd) => (cwd === '/repo' ? 'Bo@X.dev\n' : '')),
        'bo@x.dev',
      );
    });

    it('tells which variable to set when there is no git or no email', () => {
      assert.throws(
        () => teamMember({}, '.', noGit),
        (err: Error) =>
          err instanceof TeamMemberError &&
          /git is not installed/.test(err.message) &&
          /AGENT_BUDGET_TEAM_MEMBER/.test(err.message),
      );
      assert.throws(() => teamMember({}, '.', () => '  \n'), /user\.email is empty.*AGENT_BUDGET_TEAM_MEMBER/);
      const unset = () => {
        throw Object.assign(new Error('exit 1'), { status: 1 });
      };
      assert.throws(() => teamMember({}, '.', unset), /git has no user\.email here.*git config --global user\.email/);
    });

    it('refuses an identity with control characters or of absurd length', () => {
      assert.throws(() => teamMember({ AGENT_BUDGET_TEAM_MEMBER: 'a\u0000b' }, '.', noGit), /printable identity/);
      assert.throws(() => teamMember({ AGENT_BUDGET_TEAM_MEMBER: 'a'.repeat(255) }, '.', noGit), /at most 254/);
    });

    it("reads the repository's git user.email through the real git", () => {
      const repo = mkdtempSync(path.join(tmpdir(), 'ab-git-'));
      try {
        execFileSync('git', ['init', '-q', repo]);
        execFileSync('git', ['config', 'user.email', 'Repo.Person@X.dev'], { cwd: repo });
        assert.equal(teamMember({}, repo), 'repo.person@x.dev');
      } finally {
        rmSync(repo, { recursive: true, force: true });
      }
    });
  });

  describe('teamConnectionFromEnv', () => {
    it('is undefined without a URL, and checks the URL without echoing it', () => {
      assert.equal(teamConnectionFromEnv({}, '.', noGit), undefined);
      assert.deepEqual(
        teamConnectionFromEnv(
          { AGENT_BUDGET_TEAM_DATABASE_URL: 'postgres://u:secret@db:5432/team', AGENT_BUDGET_TEAM_MEMBER: 'ana@x.dev' },
          '.',
          noGit,
        ),
        { url: 'postgres://u:secret@db:5432/team', member: 'ana@x.dev' },
      );
      assert.throws(
        () => teamConnectionFromEnv({ AGENT_BUDGET_TEAM_DATABASE_URL: 'mysql://u:secret@db/team' }, '.', noGit),
        (err: Error) =>
          err instanceof TeamLedgerConfigError && !err.message.includes('secret') && /mysql:/.test(err.message),
      );
      assert.throws(
        () => teamConnectionFromEnv({ AGENT_BUDGET_TEAM_DATABASE_URL: 'not a url' }, '.', noGit),
        /is not a URL: use postgres:\/\//,
      );
    });
  });

  describe('resolveTeamCaps', () => {
    const policy = {
      limits: { dailyUsd: 50, monthlyUsd: 800 },
      tiers: { senior: { dailyUsd: 20 }, ci: { monthlyUsd: 300 }, default: { dailyUsd: 5 } },
      members: { 'Ana@X.dev': 'senior', 'ci@x.dev': 'ci', 'ghost@x.dev': 'no-such-tier' },
    };

    it("gives the team's caps and the member's tier caps in micro-dollars", () => {
      assert.deepEqual(resolveTeamCaps(policy, 'ana@x.dev'), {
        team: { daily: 50_000_000, monthly: 800_000_000 },
        memberCaps: { daily: 20_000_000 },
        tier: 'senior',
      });
      assert.deepEqual(resolveTeamCaps(policy, 'ci@x.dev').memberCaps, { monthly: 300_000_000 });
    });

    it('puts unlisted members in the "default" tier when there is one; an unknown tier caps nothing', () => {
      assert.deepEqual(resolveTeamCaps(policy, 'new@x.dev'), {
        team: { daily: 50_000_000, monthly: 800_000_000 },
        memberCaps: { daily: 5_000_000 },
        tier: 'default',
      });
      assert.deepEqual(resolveTeamCaps({ limits: { dailyUsd: 1 } }, 'new@x.dev').memberCaps, {});
      assert.deepEqual(resolveTeamCaps(policy, 'ghost@x.dev').memberCaps, {});
    });

    it('keeps team periods in one zone for every machine: the policy zone, else UTC', () => {
      assert.equal(teamTimeZone({}), 'UTC');
      assert.equal(teamTimeZone({ timeZone: 'Europe/Berlin' }), 'Europe/Berlin');
    });
  });

  describe('classifyTeamError', () => {
    it('tells an unreachable server from a refused login from a bug', () => {
      const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      assert.ok(classifyTeamError(refused) instanceof TeamLedgerUnreachableError);
      assert.ok(
        classifyTeamError(new Error('Connection terminated unexpectedly')) instanceof TeamLedgerUnreachableError,
      );
      assert.ok(
        classifyTeamError(Object.assign(new Error('shutdown'), { code: '57P01' })) instanceof
          TeamLedgerUnreachableError,
      );
      const login = Object.assign(new Error('password authentication failed'), { code: '28P01' });
      assert.ok(classifyTeamError(login) instanceof TeamLedgerConfigError);
      const bug = Object.assign(new Error('syntax error'), { code: '42601' });
      assert.equal(classifyTeamError(bug), bug);
    });
  });
});
