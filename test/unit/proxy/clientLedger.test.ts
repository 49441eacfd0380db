import { recoverAbandoned } from '../../../src/core/runner/abandoned';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildReport } from '../../../src/core/report/report';
import { renderReportCsv, renderReportMarkdown } from '../../../src/core/report/render';
import { OWN_CLIENT, type LedgerEntry, type Reservation } from '../../../src/core/store/records';
import { MIGRATIONS, migrate } from '../../../src/core/store/schema';
import { loadSqlite } from '../../../src/core/store/sqlite';
import { WorkspaceStore } from '../../../src/core/store/store';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';

/** Who made each call: the `client` column, its rollup, the report's byClient, and the upgrade of older stores. */
describe('ledger: spend by client', () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(path.join(tmpdir(), 'ab-client-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const day = Date.UTC(2026, 10, 5, 12);
  const entry = (rand: () => number, client: string | undefined, ts = day): LedgerEntry => {
    const e = randomEntry(rand, ts);
    return client === undefined ? e : { ...e, client };
  };

  it('files each call under its client (no client = agent-budget), by day, readable back from the ledger', async () => {
    const store = await WorkspaceStore.open({ dir: path.join(root, 'state'), pollMs: 0 });
    const rand = seededRandom(3);
    const entries = [
      entry(rand, 'claude-code'),
      entry(rand, 'claude-code'),
      entry(rand, 'codex'),
      entry(rand, undefined),
      entry(rand, 'codex', day + 86_400_000),
    ];
    await store.commit(entries.map((e) => ({ k: 'ledger' as const, entry: e })));
    const range = { fromDay: '2026-11-05', toDay: '2026-11-05' };
    const sum = (client: string) =>
      entries.filter((e) => (e.client ?? OWN_CLIENT) === client && e.ts === day).reduce((n, e) => n + e.costMicros, 0);
    const rows = store.queries.breakdown('client', range);
    assert.deepEqual(
      new Map(rows.map((r) => [r.key, [r.costMicros, r.calls]])),
      new Map([
        ['claude-code', [sum('claude-code'), 2]],
        ['codex', [sum('codex'), 1]],
        [OWN_CLIENT, [sum(OWN_CLIENT), 1]],
      ]),
    );
    assert.equal(store.queries.totals(range, { client: 'codex' }).costMicros, sum('codex'));
    assert.equal(store.queries.totals({ fromDay: '2026-11-05', toDay: '2026-11-06' }, { client: 'codex' }).calls, 2);
    assert.equal(store.queries.ledgerEntry(entries[0]!.id)?.client, 'claude-code');
    assert.equal(store.queries.ledgerEntry(entries[3]!.id)?.client, undefined);
    assert.throws(() => store.queries.breakdown2('client', 'model', range), /only be combined with days/);
    await store.close();
  });

  it("a dead process's reservation is charged as estimated under the reservation's client", async () => {
    const dir = path.join(root, 'state');
    let store = await WorkspaceStore.open({ dir, pollMs: 0 });
    const reservation: Reservation = {
      id: 'res-1',
      ts: day,
      owner: 'host:1:dead',
      runId: null,
      taskId: null,
      task: null,
      workflow: 'proxy',
      provider: 'anthropic',
      model: 'claude-haiku-4-5',
      micros: 7_000,
      tokens: 1_100,
      inputTokens: 100,
      outputTokens: 1_000,
      scopes: [],
      client: 'claude-code',
    };
    await store.commit([{ k: 'reserve', reservation }]);
    assert.equal(store.queries.openReservations()[0]?.client, 'claude-code');
    await store.close();
    store = await WorkspaceStore.open({ dir, pollMs: 0, probe: { isAlive: (o) => !o.includes('dead') } });
    await recoverAbandoned(store);
    const row = store.queries.ledgerEntry('est-res-1');
    assert.equal(row?.client, 'claude-code');
    assert.equal(row?.estimated, true);
    assert.equal(
      store.queries.totals({ fromDay: '1970-01-01', toDay: '2999-12-31' }, { client: 'claude-code' }).costMicros,
      7_000,
    );
    await store.close();
  });

  it('report: byClient in --json, a "By client" table in Markdown once a proxy client spent, client rows in CSV', async () => {
    const store = await WorkspaceStore.open({ dir: path.join(root, 'state'), pollMs: 0 });
    const rand = seededRandom(5);
    const policy = (await import('../../../src/core/policy/load')).defaultPolicy();
    const source = { folder: root, policy: { ...policy, timeZone: 'UTC' }, store };
    const period = { month: '2026-11' };
    await store.commit([{ k: 'ledger', entry: entry(rand, undefined) }]);
    let report = buildReport(source, period, { now: day });
    assert.deepEqual(
      report.byClient.map((r) => r.key),
      [OWN_CLIENT],
    );
    assert.ok(!renderReportMarkdown(report).includes('## By client'), 'no table when only our workflows spent');
    const proxied = entry(rand, 'gemini-cli');
    await store.commit([{ k: 'ledger', entry: proxied }]);
    report = buildReport(source, period, { now: day });
    const row = report.byClient.find((r) => r.key === 'gemini-cli');
    assert.equal(row?.micros, proxied.costMicros);
    assert.equal(row?.calls, 1);
    assert.ok(renderReportMarkdown(report).includes('## By client'));
    assert.ok(renderReportCsv(report).includes('client,gemini-cli,'));
    await store.close();
  });

  it('upgrading a store from before clients files all its existing spend under agent-budget', async () => {
    const SQL = await loadSqlite();
    const db = new SQL.Database();
    // The version just before the client step (found by what it does, so a renumbering at merge keeps this test).
    const before = MIGRATIONS.findIndex((m) => m.what.startsWith('who made each call'));
    assert.ok(before > 0);
    migrate(db, before);
    db.run(
      `INSERT INTO rollup_model (day, workflow, model, provider, calls, input, output, cache_read, cache_write_5m,
         cache_write_1h, reasoning, cost_micros, estimated_micros, est_calls, est_input, est_actual_input,
         reserved_calls, reserved_micros, reserved_actual_micros)
       VALUES ('2026-10-03', 'code-review', 'm', 'anthropic', 2, 10, 5, 0, 0, 0, 0, 1234, 34, 0, 0, 0, 0, 0, 0),
              ('2026-10-03', 'explain', 'm2', 'openai', 1, 3, 1, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0),
              ('2026-10-04', 'explain', 'm2', 'openai', 1, 3, 1, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0)`,
    );
    migrate(db);
    const rows = db.exec('SELECT day, client, calls, cost_micros, estimated_micros FROM rollup_client ORDER BY day')[0]
      ?.values;
    assert.deepEqual(rows, [
      ['2026-10-03', OWN_CLIENT, 3, 1334, 34],
      ['2026-10-04', OWN_CLIENT, 1, 7, 0],
    ]);
    db.close();
  });
});
