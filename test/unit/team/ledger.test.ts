import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { Client } from 'pg';
import { TeamLedgerConfigError, TeamLedgerUnreachableError } from '../../../src/core/team/errors';
import { PostgresTeamLedger } from '../../../src/core/team/postgresLedger';
import { blockedMessage, resolveTeamCaps } from '../../../src/core/team/scopes';
import type { TeamAdmitRequest } from '../../../src/core/team/types';
import { NOON, heldMismatches, row, usePostgres } from './helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PostgresTeamLedger on a real PostgreSQL', function () {
  this.timeout(60_000);
  const pg = usePostgres();
  const open: PostgresTeamLedger[] = [];
  let url: string;

  async function ledger(options: Partial<ConstructorParameters<typeof PostgresTeamLedger>[0]> = {}) {
    const l = new PostgresTeamLedger({ url, timeZone: 'UTC', ...options });
    open.push(l);
    return l;
  }

  async function sql<T extends Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  const admitReq = (over: Partial<TeamAdmitRequest> = {}): TeamAdmitRequest => ({
    reservationId: `res-${Math.random().toString(36).slice(2)}`,
    member: 'ana@x.dev',
    machine: 'laptop',
    micros: 400,
    at: NOON,
    team: { daily: 1_000 },
    memberCaps: {},
    ...over,
  });

  beforeEach(async () => {
    url = await pg.database();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((l) => l.close()));
  });

  it('holds the worst case on all six scopes and refuses the call that would pass a cap, to the micro-dollar', async () => {
    const l = await ledger();
    const first = await l.admit(admitReq({ micros: 600 }));
    assert.ok(first.ok);
    assert.deepEqual(
      first.scopes.map((s) => [s.scope, s.key, s.held, s.limit]),
      [
        ['team.daily', 'team.daily@2026-11-22', 600, 1_000],
        ['team.weekly', 'team.weekly@2026-W47', 600, undefined],
        ['team.monthly', 'team.monthly@2026-11', 600, undefined],
        ['team.member.daily', 'team.member.ana@x.dev.daily@2026-11-22', 600, undefined],
        ['team.member.weekly', 'team.member.ana@x.dev.weekly@2026-W47', 600, undefined],
        ['team.member.monthly', 'team.member.ana@x.dev.monthly@2026-11', 600, undefined],
      ],
    );
    assert.equal(first.scopes[0]!.resetsAt, Date.UTC(2026, 10, 23));
    // 600 held + 401 > 1,000: refused; 600 + 400 = 1,000 exactly: admitted.
    const over = await l.admit(admitReq({ member: 'bo@x.dev', micros: 401 }));
    assert.equal(over.ok, false);
    assert.ok(!over.ok && over.blocked.scope === 'team.daily' && over.blocked.held === 600);
    const exact = await l.admit(admitReq({ member: 'bo@x.dev', micros: 400 }));
    assert.ok(exact.ok, 'a call that fills the cap exactly is admitted');
    const full = await l.admit(admitReq({ micros: 1 }));
    assert.equal(full.ok, false);
  });

  it('clamps a hold to the room a cap has left when the call accepts less, and refuses below the least', async () => {
    const l = await ledger();
    const caps = { team: { daily: 1_000, monthly: 5_000 }, memberCaps: { daily: 800 } };
    const first = await l.admit(admitReq({ micros: 300, ...caps }));
    assert.ok(first.ok && first.micros === 300, 'room for all of it');
    // Room: team daily 700, member daily 500 → 500 of the 900 asked, the least acceptable being 200.
    const clamped = await l.admit(admitReq({ micros: 900, minMicros: 200, ...caps }));
    assert.ok(clamped.ok && clamped.micros === 500, `held ${clamped.ok ? clamped.micros : 'nothing'}`);
    assert.equal(clamped.ok && clamped.scopes[0]!.held, 800);
    const refused = await l.admit(admitReq({ micros: 900, minMicros: 1, ...caps }));
    assert.ok(!refused.ok);
    assert.equal(refused.blocked.scope, 'team.member.daily', 'the scope with no room left');
    const bo = await l.admit(admitReq({ member: 'bo@x.dev', micros: 900, minMicros: 100, ...caps }));
    assert.ok(bo.ok && bo.micros === 200, "bo gets the team's last 200");
    await assert.rejects(l.admit(admitReq({ micros: 10, minMicros: 11 })), /minMicros 11 > micros 10/);
  });

  it('admits exactly what fits when 200 reservations race over 40 connections', async () => {
    const l = await ledger({ maxConnections: 40 });
    await l.status({ member: 'ana@x.dev', at: NOON, team: {}, memberCaps: {} }); // schema first, then the race
    const cap = 50 * 1_000;
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        l.admit(admitReq({ member: `m${i % 7}@x.dev`, micros: 1_000, team: { daily: cap } })),
      ),
    );
    assert.equal(results.filter((r) => r.ok).length, 50);
    const [daily] = await l.status({ member: 'ana@x.dev', at: NOON, team: { daily: cap }, memberCaps: {} });
    assert.equal(daily!.held, cap);
  });

  it('settle replaces the hold with the actual cost, once, however often the row is shipped', async () => {
    const l = await ledger();
    const req = admitReq({ micros: 900 });
    assert.ok((await l.admit(req)).ok);
    const settled = row({ costMicros: 250, reservationId: req.reservationId });
    assert.deepEqual(await l.settle(req.reservationId, settled), { counted: 1, duplicates: 0, conflicts: [] });
    assert.deepEqual(await l.settle(req.reservationId, settled), { counted: 0, duplicates: 1, conflicts: [] });
    assert.deepEqual(await l.ship([settled, settled]), { counted: 0, duplicates: 2, conflicts: [] });
    const [daily] = await l.status({ member: 'ana@x.dev', at: NOON, team: { daily: 1_000 }, memberCaps: {} });
    assert.deepEqual([daily!.used, daily!.held], [250, 0]);
    assert.deepEqual(await sql('SELECT count(*)::int AS n FROM agent_budget.reservation'), [{ n: 0 }]);
    assert.deepEqual(await heldMismatches(url), [], "every counter's held total is the sum of its reservations");
    // The freed room is usable: 250 used + 750 = 1,000.
    assert.ok((await l.admit(admitReq({ micros: 750 }))).ok);
  });

  it('reports a second record with a known id but another cost as a conflict and does not count it', async () => {
    const l = await ledger();
    const original = row({ costMicros: 100 });
    await l.ship([original]);
    const clash = await l.ship([{ ...original, costMicros: 999 }, row({ costMicros: 7 })]);
    assert.deepEqual(clash, { counted: 1, duplicates: 1, conflicts: [original.id] });
    const [daily] = await l.status({ member: 'ana@x.dev', at: NOON, team: {}, memberCaps: {} });
    assert.equal(daily!.used, 107);
  });

  it('files a row under the periods of its own time, in the team zone, not the admission', async () => {
    const l = await ledger({ timeZone: 'America/New_York' });
    // 03:00 UTC on the 23rd is still the 22nd in New York.
    await l.ship([row({ ts: Date.UTC(2026, 10, 23, 3), costMicros: 5 })]);
    const keys = await sql<{ key: string; used_micros: string }>(
      `SELECT key, used_micros FROM agent_budget.counter WHERE key LIKE 'team.daily@%'`,
    );
    assert.deepEqual(keys, [{ key: 'team.daily@2026-11-22', used_micros: '5' }]);
  });

  it('release frees a hold; a retried admit with the same reservation id holds once', async () => {
    const l = await ledger();
    const req = admitReq({ micros: 700 });
    assert.ok((await l.admit(req)).ok);
    const again = await l.admit(req);
    assert.ok(again.ok && again.scopes[0]!.held === 700, 'the retry reports the one hold');
    await l.release([req.reservationId]);
    assert.ok((await l.admit(admitReq({ micros: 1_000 }))).ok, 'the released room is free');
  });

  it('a hold whose lease runs out stops counting; a renewed one keeps counting; an expired one is not revived', async () => {
    const l = await ledger({ leaseMs: 2_000 });
    const kept = admitReq({ micros: 500 });
    const lapsed = admitReq({ micros: 500 });
    assert.ok((await l.admit(kept)).ok);
    assert.ok((await l.admit(lapsed)).ok);
    assert.equal((await l.admit(admitReq({ micros: 1 }))).ok, false, 'full while both hold');
    await sleep(1_000);
    assert.deepEqual(await l.renew([kept.reservationId]), { renewed: [kept.reservationId], expired: [] });
    // `lapsed` has expired (2,300 ms > 2,000); `kept` was renewed at 1,000 ms and lives to 3,000 ms (the margin
    // keeps a slow machine from expiring it too).
    await sleep(1_300);
    const renewLate = await l.renew([lapsed.reservationId]);
    assert.deepEqual(renewLate, { renewed: [], expired: [lapsed.reservationId] });
    const after = await l.admit(admitReq({ micros: 500 }));
    assert.ok(after.ok, 'the lapsed hold no longer counts');
    assert.equal(after.scopes[0]!.held, 1_000, "kept's 500 and the new 500");
    assert.deepEqual(
      (await sql<{ id: string }>('SELECT id FROM agent_budget.reservation')).length,
      2,
      'the expired hold was dropped by the admission',
    );
    assert.deepEqual(await heldMismatches(url), [], 'and taken off every counter it was on');
  });

  it('blocks a member over their tier while the rest of the team goes on', async () => {
    const policy = {
      limits: { dailyUsd: 10 },
      tiers: { intern: { dailyUsd: 0.001 }, senior: { dailyUsd: 5 } },
      members: { 'Intern@X.dev': 'intern', 'ana@x.dev': 'senior' },
    };
    const l = await ledger();
    const intern = resolveTeamCaps(policy, 'intern@x.dev');
    const ana = resolveTeamCaps(policy, 'ana@x.dev');
    assert.deepEqual([intern.tier, intern.memberCaps], ['intern', { daily: 1_000 }]);
    const a = await l.admit(
      admitReq({ member: 'intern@x.dev', micros: 800, team: intern.team, memberCaps: intern.memberCaps }),
    );
    assert.ok(a.ok);
    const b = await l.admit(
      admitReq({ member: 'intern@x.dev', micros: 800, team: intern.team, memberCaps: intern.memberCaps }),
    );
    assert.ok(!b.ok);
    assert.equal(b.blocked.scope, 'team.member.daily');
    assert.match(
      blockedMessage(b.blocked, 'intern@x.dev', intern.tier),
      /intern@x\.dev's daily team cap \(tier "intern"\).*team\.tiers\.intern\.dailyUsd/,
    );
    for (let i = 0; i < 5; i++)
      assert.ok(
        (await l.admit(admitReq({ micros: 800_000, team: ana.team, memberCaps: ana.memberCaps }))).ok,
        `ana's call ${i}`,
      );
  });

  it('breaks team spend down by member, workflow, model and client over a time range', async () => {
    const l = await ledger();
    await l.ship([
      row({ member: 'ana@x.dev', workflow: 'review', model: 'm1', costMicros: 300 }),
      row({ member: 'ana@x.dev', workflow: 'tests', model: 'm2', costMicros: 200, estimated: true }),
      row({ member: 'bo@x.dev', workflow: 'review', model: 'm1', client: 'cursor', costMicros: 100 }),
      row({ member: 'bo@x.dev', ts: NOON - 86_400_000 * 40, costMicros: 999 }), // outside the range
    ]);
    const report = await l.report({ fromMs: NOON - 86_400_000, toMs: NOON + 1 });
    assert.deepEqual(report.total, { costMicros: 600, estimatedMicros: 200, calls: 3, tokens: 3 * 168 });
    assert.deepEqual(
      report.byMember.map((r) => [r.key, r.costMicros, r.calls]),
      [
        ['ana@x.dev', 500, 2],
        ['bo@x.dev', 100, 1],
      ],
    );
    assert.deepEqual(
      report.byWorkflow.map((r) => [r.key, r.costMicros]),
      [
        ['review', 400],
        ['tests', 200],
      ],
    );
    assert.deepEqual(
      report.byModel.map((r) => [r.key, r.costMicros]),
      [
        ['m1', 400],
        ['m2', 200],
      ],
    );
    assert.deepEqual(
      report.byClient.map((r) => [r.key, r.costMicros]),
      [
        ['agent-budget', 500],
        ['cursor', 100],
      ],
    );
  });

  it('refuses a corrupted row by name before shipping any of its batch', async () => {
    const l = await ledger();
    await l.ship([row()]);
    const good = row();
    await assert.rejects(l.ship([good, row({ costMicros: 1.5 })]), /costMicros must be a whole, non-negative/);
    await assert.rejects(l.ship([row({ id: '' })]), /has no id/);
    await assert.rejects(l.ship([{ ...row(), usage: { ...row().usage, output: -1 } }]), /bad output token count/);
    await assert.rejects(l.admit(admitReq({ micros: -5 })), /micros must be a whole, non-negative/);
    assert.deepEqual(await sql('SELECT count(*)::int AS n FROM agent_budget.ledger'), [{ n: 1 }]);
  });

  it('says unreachable for a server that is not there, and names the URL for a database that does not exist', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
    const nowhere = await ledger({ url: `postgres://test@127.0.0.1:${port}/x`, connectTimeoutMs: 1_000 });
    await assert.rejects(nowhere.admit(admitReq()), TeamLedgerUnreachableError);
    const missing = await ledger({ url: pg.server().url('no_such_database') });
    await assert.rejects(
      missing.status({ member: 'a', at: NOON, team: {}, memberCaps: {} }),
      (err: Error) => err instanceof TeamLedgerConfigError && /AGENT_BUDGET_TEAM_DATABASE_URL/.test(err.message),
    );
  });
});
