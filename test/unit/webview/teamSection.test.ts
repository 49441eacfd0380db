// The panel's team section as protocol.ts checks it (parseTeamSection): the host posts only what it returns, and
// the names in it were written to the team ledger by other machines.
import assert from 'node:assert/strict';
import { MAX_TEAM_ROWS, MAX_TEAM_TEXT, parseTeamSection, type TeamSection } from '../../../src/webview/protocol';

const row = (key: string, costMicros: number) => ({ key, costMicros, estimatedMicros: 0, calls: 2, tokens: 1500 });

function section(): TeamSection {
  return {
    member: 'ana@x.dev',
    tier: 'senior',
    state: 'online',
    message: null,
    scopes: [
      {
        scope: 'team.daily',
        label: 'team today',
        usedMicros: 1_250_000,
        heldMicros: 40_000,
        limitMicros: 50_000_000,
        pct: 2.58,
        level: 'ok',
        resetsAt: Date.UTC(2026, 11, 4),
      },
    ],
    scopesAt: Date.UTC(2026, 11, 3, 12),
    spend: {
      range: 'month',
      fromDay: '2026-12-01',
      toDay: '2026-12-03',
      timeZone: 'UTC',
      total: { costMicros: 1_250_000, estimatedMicros: 0, calls: 4, tokens: 3000 },
      by: {
        member: [row('ana@x.dev', 1_000_000), row('bo@x.dev', 250_000)],
        workflow: [row('review', 1_250_000)],
        model: [row('claude-sonnet-4-5', 1_250_000)],
        client: [row('agent-budget', 1_250_000)],
      },
    },
  };
}

const accepted = (raw: unknown): TeamSection => {
  const parsed = parseTeamSection(raw);
  if (!('team' in parsed)) assert.fail(`rejected: ${parsed.error}`);
  return parsed.team;
};

const rejected = (raw: unknown): string => {
  const parsed = parseTeamSection(raw);
  if ('team' in parsed) assert.fail(`accepted ${JSON.stringify(raw).slice(0, 300)}`);
  return parsed.error;
};

/** The section with one field replaced at a path like ['spend', 'by', 'member', 0, 'costMicros']. */
function withField(path: Array<string | number>, value: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(section())) as Record<string, unknown>;
  let at: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  at[path[path.length - 1]!] = value;
  return copy;
}

describe('parseTeamSection', () => {
  it('accepts a whole section and returns an equal copy', () => {
    const input = section();
    const team = accepted(input);
    assert.deepEqual(team, input);
    assert.notEqual(team, input);
    assert.notEqual(team.spend!.by.member, input.spend!.by.member);
  });

  it('accepts the states without data: reading, offline with the meter line, error with why', () => {
    for (const [state, message] of [
      ['reading', null],
      ['offline', 'team ledger offline — $0.40 offline allowance left'],
      ['error', 'password authentication failed for user "team"'],
    ] as const) {
      const team = accepted({ ...section(), state, message, spend: null, tier: null });
      assert.equal(team.state, state);
      assert.equal(team.message, message);
      assert.equal(team.spend, null);
    }
  });

  it('rejects money, counts and times that are not non-negative integers, naming the field', () => {
    for (const [path, value, field] of [
      [['scopes', 0, 'usedMicros'], -1, 'scopes[0].usedMicros'],
      [['scopes', 0, 'heldMicros'], 0.5, 'scopes[0].heldMicros'],
      [['scopes', 0, 'limitMicros'], '50000000', 'scopes[0].limitMicros'],
      [['scopes', 0, 'resetsAt'], null, 'scopes[0].resetsAt'],
      [['scopes', 0, 'pct'], Number.NaN, 'scopes[0].pct'],
      [['spend', 'total', 'costMicros'], 2 ** 60, 'spend.total.costMicros'],
      [['spend', 'by', 'member', 1, 'costMicros'], Number.POSITIVE_INFINITY, 'spend.by.member[1].costMicros'],
      [['spend', 'by', 'client', 0, 'calls'], -3, 'spend.by.client[0].calls'],
      [['scopesAt'], 'yesterday', 'scopesAt'],
    ] as Array<[Array<string | number>, unknown, string]>) {
      assert.equal(rejected(withField(path, value)), `bad team section: ${field}`);
    }
  });

  it('rejects unknown states, levels, ranges and days', () => {
    assert.match(rejected(withField(['state'], 'hacked')), /state/);
    assert.match(rejected(withField(['scopes', 0, 'level'], 'fine')), /level/);
    assert.match(rejected(withField(['spend', 'range'], 'forever')), /spend\.range/);
    assert.match(rejected(withField(['spend', 'fromDay'], '2026-12-01T00:00')), /spend\.fromDay/);
  });

  it('rejects extra and missing keys at every level', () => {
    assert.match(rejected({ ...section(), html: '<img src=x onerror=alert(1)>' }), /not a team section/);
    const { tier: _tier, ...withoutTier } = section();
    assert.match(rejected(withoutTier), /not a team section/);
    assert.match(rejected(withField(['scopes', 0, 'onclick'], 'x')), /scopes\[0\]/);
    assert.match(rejected(withField(['spend', 'by', 'task'], [])), /spend\.by/);
    assert.match(rejected(withField(['spend', 'by', 'model', 0, 'share'], 5)), /spend\.by\.model\[0\]/);
  });

  it('rejects what is not a plain object, and more rows than the panel shows', () => {
    for (const raw of [null, undefined, 'team', [], 42, new Date(), Object.create({ member: 'x' })])
      assert.match(rejected(raw), /not a team section/);
    const many = Array.from({ length: MAX_TEAM_ROWS + 1 }, (_, i) => row(`m${i}@x.dev`, 1));
    assert.match(rejected(withField(['spend', 'by', 'member'], many)), /spend\.by\.member/);
    assert.match(rejected(withField(['scopes'], { 0: section().scopes[0] })), /scopes/);
  });

  it('keeps names as text but makes control and direction-override characters spaces and cuts long ones', () => {
    const hostile = 'eve\u202e@x.dev\u0000\u001b[31m\n';
    const long = 'm'.repeat(10_000);
    const team = accepted(
      withField(['spend', 'by', 'member'], [row(hostile, 2), row(long, 1), row('<b onclick="x">bo</b>', 1)]),
    );
    const [first, second, third] = team.spend!.by.member;
    assert.equal(first!.key, 'eve @x.dev  [31m ');
    assert.equal(second!.key.length, MAX_TEAM_TEXT);
    assert.ok(second!.key.endsWith('…'));
    // Markup is not this function's business (lit renders it as text): it passes unchanged.
    assert.equal(third!.key, '<b onclick="x">bo</b>');
    assert.equal(accepted(withField(['member'], '\u2066ana\u2069')).member, ' ana ');
  });

  it('cuts a long name at a character, never inside a surrogate pair', () => {
    const emoji = '😀'.repeat(MAX_TEAM_TEXT + 5);
    const key = accepted(withField(['spend', 'by', 'workflow', 0, 'key'], emoji)).spend!.by.workflow[0]!.key;
    assert.equal(Array.from(key).length, MAX_TEAM_TEXT);
    assert.ok(!/[\ud800-\udbff](?![\udc00-\udfff])/.test(key), 'a lone high surrogate');
  });
});
