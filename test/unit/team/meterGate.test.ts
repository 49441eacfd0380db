import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BudgetBlockedError, type AdmitRequest } from '../../../src/core/budget/engine';
import { ManualClock } from '../../../src/core/clock';
import { Meter } from '../../../src/core/metering';
import { ZERO_USAGE } from '../../../src/core/usage';
import { Workspace } from '../../../src/core/workspace';
import { tempWorkspace, writePolicy } from '../runner/helpers';
import { NOON, usePostgres } from './helpers';

/**
 * $2 in, $10 out per MTok: a call of 100 prompt tokens and 500 output is held at 5,250 µ$ (its prompt at OpenAI's
 * cache write rate) and bills 5,200 µ$.
 */
const REQUEST: AdmitRequest = {
  workflow: 'review',
  runId: null,
  taskId: null,
  task: null,
  provider: 'openai',
  model: 'test-model',
  inputTokens: 100,
  maxOutputTokens: 500,
  tokenScopes: [],
};

function policy(team: object): object {
  return {
    timeZone: 'UTC',
    limits: { workspace: { dailyUsd: 100 }, ...('limits' in team ? (team.limits as object) : {}) },
    ...('team' in team ? { team: team.team } : {}),
    prices: { 'test-model': { provider: 'openai', inputPerMTok: 2, outputPerMTok: 10, maxOutputTokens: 4_000 } },
  };
}

describe('Meter with a team gate: the local admission first, then the team ledger', function () {
  this.timeout(60_000);
  const pg = usePostgres();
  let ws: ReturnType<typeof tempWorkspace>;
  let states: string;
  const open: Workspace[] = [];

  beforeEach(() => {
    ws = tempWorkspace();
    states = mkdtempSync(path.join(tmpdir(), 'ab-teamgate-'));
  });
  afterEach(async () => {
    for (const w of open.splice(0)) await w.close();
    ws.cleanup();
    rmSync(states, { recursive: true, force: true });
  });

  async function member(url: string, name: string, leaseMs?: number): Promise<{ workspace: Workspace; meter: Meter }> {
    const workspace = await Workspace.open(ws.folder, {
      stateDir: path.join(states, name),
      clock: new ManualClock(NOON),
      pollMs: 0,
      team: { connection: { url, member: name }, machine: name, leaseMs },
    });
    open.push(workspace);
    return { workspace, meter: new Meter(workspace.engine, () => workspace.team?.gate) };
  }

  /** One call that bills every token it was allowed (the worst case). */
  async function spend(meter: Meter): Promise<number> {
    const call = await meter.begin(REQUEST);
    const entry = await call.settle({
      usage: { ...ZERO_USAGE, input: REQUEST.inputTokens, output: call.admission.maxOutputTokens },
    });
    return entry.costMicros;
  }

  it('a member over their tier is blocked (local hold released) while other members go on', async () => {
    const url = await pg.database();
    writePolicy(
      ws.folder,
      policy({ team: { tiers: { intern: { dailyUsd: 0.012 } }, members: { 'ana@x.dev': 'intern' } } }),
    );
    const ana = await member(url, 'ana@x.dev');
    const bob = await member(url, 'bob@x.dev');
    let billed = 0;
    let calls = 0;
    let refused: unknown;
    for (; calls < 10; calls++) {
      try {
        billed += await spend(ana.meter);
      } catch (err) {
        refused = err;
        break;
      }
    }
    assert.ok(refused instanceof BudgetBlockedError, `blocked, got ${String(refused)}`);
    assert.equal(refused.scope, 'team.member.intern.daily', 'named by her tier (docs/cli.md)');
    assert.match(refused.message, /ana@x\.dev's daily team cap \(tier "intern"\) is reached/);
    assert.match(refused.message, /team\.tiers\.intern\.dailyUsd/);
    assert.ok(calls >= 2, `ana spent before the tier stopped her (${calls} calls)`);
    assert.ok(billed <= 12_000, `ana billed ${billed} µ$ past her tier's 12,000`);
    assert.deepEqual(ana.workspace.store.queries.openReservations(), [], 'the refused call holds nothing locally');
    // Bob has no tier: the team has no cap, so he goes on.
    for (let i = 0; i < 3; i++) assert.equal(await spend(bob.meter), 5_200);
  });

  it('where the team holds less than the worst case, the call is clamped to it (as a local cap clamps)', async () => {
    const url = await pg.database();
    writePolicy(ws.folder, policy({ limits: { team: { dailyUsd: 0.008 } } }));
    const ana = await member(url, 'ana@x.dev');
    const first = await ana.meter.begin(REQUEST);
    assert.equal(first.admission.maxOutputTokens, 500, 'the first call fits whole');
    await first.settle({ usage: { ...ZERO_USAGE, input: 100, output: 500 } });
    const second = await ana.meter.begin(REQUEST);
    // The first billed 5,200 µ$ (its prompt at the input rate): 2,800 left. The prompt's worst case (a cache
    // write's rate) is 250 µ$, so 255 output tokens at $10/MTok.
    assert.equal(second.admission.maxOutputTokens, 255);
    assert.equal(second.admission.clampedBy, 'team.daily');
    const entry = await second.settle({ usage: { ...ZERO_USAGE, input: 100, output: 255 } });
    assert.equal(entry.costMicros, 2_750);
    await assert.rejects(ana.meter.begin(REQUEST), (err: BudgetBlockedError) => err.scope === 'team.daily');
    await ana.workspace.team!.flush();
    const status = await ana.workspace.team!.status();
    const daily = status.scopes!.find((s) => s.scope === 'team.daily')!;
    assert.deepEqual([daily.used, daily.held, daily.limit], [7_950, 0, 8_000]);
  });

  it('a call that failed before billing frees its team hold; one that billed counts once', async () => {
    const url = await pg.database();
    writePolicy(ws.folder, policy({ limits: { team: { dailyUsd: 1 } } }));
    const ana = await member(url, 'ana@x.dev');
    const call = await ana.meter.begin(REQUEST);
    let held = (await ana.workspace.team!.status()).scopes!.find((s) => s.scope === 'team.daily')!;
    assert.equal(held.held, 5_250, 'the worst case is held on the team ledger while the call runs');
    assert.equal(await call.fail({ mayHaveBilled: false }), undefined);
    held = (await ana.workspace.team!.status()).scopes!.find((s) => s.scope === 'team.daily')!;
    assert.deepEqual([held.used, held.held], [0, 0]);
    await spend(ana.meter);
    await ana.workspace.team!.flush();
    held = (await ana.workspace.team!.status()).scopes!.find((s) => s.scope === 'team.daily')!;
    assert.deepEqual([held.used, held.held], [5_200, 0]);
  });

  it('a budget.json change applies from the next call; a new team time zone makes a new ledger connection', async () => {
    const url = await pg.database();
    writePolicy(ws.folder, policy({ limits: { team: { dailyUsd: 1 } } }));
    const ana = await member(url, 'ana@x.dev');
    await spend(ana.meter);
    // 300 µ$ left: less than the prompt and 16 output tokens (410 µ$).
    writePolicy(ws.folder, policy({ limits: { team: { dailyUsd: 0.0055 } } }));
    assert.equal(await ana.workspace.reloadPolicy(), undefined);
    await assert.rejects(ana.meter.begin(REQUEST), (err: BudgetBlockedError) => err.scope === 'team.daily');
    const before = ana.workspace.team;
    writePolicy(ws.folder, { ...policy({ limits: { team: { dailyUsd: 1 } } }), timeZone: 'Asia/Tokyo' });
    assert.equal(await ana.workspace.reloadPolicy(), undefined);
    assert.notEqual(ana.workspace.team, before);
    assert.equal(ana.workspace.team?.timeZone, 'Asia/Tokyo');
    assert.equal(await spend(ana.meter), 5_200);
  });

  it('a team database that refuses the connection fails the call with what to fix, holding nothing locally', async () => {
    writePolicy(ws.folder, policy({ limits: { team: { dailyUsd: 1 } } }));
    const ana = await member(`${pg.server().url('no_such_database')}`, 'ana@x.dev');
    await assert.rejects(ana.meter.begin(REQUEST), (err: Error) => {
      assert.equal(err.name, 'TeamLedgerConfigError');
      assert.match(err.message, /Check AGENT_BUDGET_TEAM_DATABASE_URL/);
      return true;
    });
    assert.deepEqual(ana.workspace.store.queries.openReservations(), []);
    assert.equal(ana.workspace.store.queries.ledgerCount(), 0);
  });

  it('a long call keeps its team hold: the lease is renewed while it runs', async () => {
    const url = await pg.database();
    writePolicy(ws.folder, policy({ limits: { team: { dailyUsd: 1 } } }));
    const ana = await member(url, 'ana@x.dev', 2_000);
    const call = await ana.meter.begin(REQUEST);
    await new Promise((r) => setTimeout(r, 4_500)); // more than twice the lease
    const daily = (await ana.workspace.team!.status()).scopes!.find((s) => s.scope === 'team.daily')!;
    assert.equal(daily.held, 5_250, 'the hold outlived its first lease');
    await call.settle({ usage: { ...ZERO_USAGE, input: 100, output: 500 } });
  });
});
