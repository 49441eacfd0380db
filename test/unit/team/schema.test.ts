import assert from 'node:assert/strict';
import { Client } from 'pg';
import { PostgresTeamLedger } from '../../../src/core/team/postgresLedger';
import {
  MIGRATIONS,
  TEAM_SCHEMA_VERSION,
  TeamSchemaTooNewError,
  migrate,
  schemaVersion,
  type SqlClient,
} from '../../../src/core/team/schema';
import { NOON, heldMismatches, row, usePostgres } from './helpers';

describe('team database migrations', function () {
  this.timeout(60_000);
  const pg = usePostgres();
  const clients: Client[] = [];

  async function connect(url: string): Promise<Client> {
    const client = new Client({ connectionString: url });
    await client.connect();
    clients.push(client);
    return client;
  }

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end()));
  });

  async function tables(client: Client): Promise<string[]> {
    const { rows } = await client.query<{ t: string }>(
      `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'agent_budget' ORDER BY 1`,
    );
    return rows.map((r) => r.t);
  }

  it('builds the schema on an empty database, and a second run changes nothing', async () => {
    const client = await connect(await pg.database());
    assert.equal(await schemaVersion(client as unknown as SqlClient), 0);
    assert.deepEqual(
      await migrate(client as unknown as SqlClient),
      MIGRATIONS.map((m) => m.version),
    );
    assert.deepEqual(await tables(client), [
      'counter',
      'flush_mark',
      'ledger',
      'machine',
      'reservation',
      'schema_version',
    ]);
    assert.equal(await schemaVersion(client as unknown as SqlClient), TEAM_SCHEMA_VERSION);
    assert.deepEqual(await migrate(client as unknown as SqlClient), [], 'nothing left to apply');
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM agent_budget.schema_version');
    assert.deepEqual(rows, [{ n: MIGRATIONS.length }]);
  });

  it('applies each step once when several machines migrate at the same moment', async () => {
    const url = await pg.database();
    const racers = await Promise.all(Array.from({ length: 6 }, () => connect(url)));
    const applied = await Promise.all(racers.map((c) => migrate(c as unknown as SqlClient)));
    assert.deepEqual(
      applied.flat().sort(),
      MIGRATIONS.map((m) => m.version),
      'every version applied by exactly one of them',
    );
    assert.equal(applied.filter((a) => a.length > 0).length, 1);
    // And the first use through the ledger from many processes' pools at once works the same way.
    const url2 = await pg.database();
    const ledgers = Array.from({ length: 4 }, () => new PostgresTeamLedger({ url: url2, timeZone: 'UTC' }));
    try {
      const statuses = await Promise.all(
        ledgers.map((l) => l.status({ member: 'ana@x.dev', at: NOON, team: {}, memberCaps: {} })),
      );
      assert.ok(statuses.every((s) => s.length === 6));
    } finally {
      await Promise.all(ledgers.map((l) => l.close()));
    }
  });

  it('rolls a failed step back whole, so the next run applies it cleanly', async () => {
    const client = await connect(await pg.database());
    // Something in the way of the migration's first table: the step fails, leaving no part of itself behind.
    await client.query('CREATE SCHEMA agent_budget; CREATE TABLE agent_budget.ledger (x int)');
    await assert.rejects(migrate(client as unknown as SqlClient), /relation "ledger" already exists/);
    assert.equal(await schemaVersion(client as unknown as SqlClient), 0);
    assert.deepEqual(await tables(client), ['ledger'], 'not even the version table stayed');
    await client.query('DROP TABLE agent_budget.ledger');
    assert.deepEqual(await migrate(client as unknown as SqlClient), [1, 2]);
  });

  it("upgrades a v1 database with live holds: they carry over, and a v1 client's calls keep working on them", async () => {
    const url = await pg.database();
    const client = await connect(url);
    assert.deepEqual(await migrate(client as unknown as SqlClient, 1), [1]);
    // A team on v1: two calls in flight (600 and 300 µ$) and one settled for 250, under a team daily cap of 1,000.
    const periods = ['2026-11-22', '2026-W47', '2026-11'];
    const caps = [1_000, null, null, null, null, null];
    const v1Admit = async (reservation: string, member: string, micros: number) => {
      const { rows } = await client.query<{ admitted: boolean }>(
        'SELECT * FROM agent_budget.admit($1, $2, $3, $4, $5, $6, $6, 60000)',
        [reservation, member, 'laptop', periods, caps, micros],
      );
      return rows[0]!.admitted;
    };
    const v1Ship = (r: ReturnType<typeof row>) =>
      client.query('SELECT * FROM agent_budget.ship($1::jsonb, true)', [
        JSON.stringify([
          {
            ...r,
            tsMs: r.ts,
            day: periods[0],
            week: periods[1],
            month: periods[2],
            input: 1,
            output: 1,
            cacheRead: 0,
            cacheWrite: 0,
            reasoning: 0,
          },
        ]),
      ]);
    assert.ok(await v1Admit('r-ana', 'ana@x.dev', 600));
    assert.ok(await v1Admit('r-bo', 'bo@x.dev', 300));
    assert.ok(await v1Admit('r-settled', 'bo@x.dev', 50));
    await v1Ship(row({ id: 'settled', member: 'bo@x.dev', costMicros: 50, reservationId: 'r-settled' }));

    assert.deepEqual(await migrate(client as unknown as SqlClient), [2]);
    assert.deepEqual(await tables(client), [
      'counter',
      'flush_mark',
      'ledger',
      'machine',
      'reservation',
      'schema_version',
    ]);
    assert.deepEqual(await heldMismatches(url), [], 'the held totals are those of the carried-over holds');
    const ledger = new PostgresTeamLedger({ url, timeZone: 'UTC' });
    try {
      const team = { daily: 1_000 };
      const [daily] = await ledger.status({ member: 'cy@x.dev', at: NOON, team, memberCaps: {} });
      assert.deepEqual([daily!.used, daily!.held], [50, 900]);
      const req = { member: 'cy@x.dev', machine: 'desktop', at: NOON, team, memberCaps: {} };
      assert.equal((await ledger.admit({ ...req, reservationId: 'r-cy-1', micros: 51 })).ok, false, 'full to 999');
      assert.ok((await ledger.admit({ ...req, reservationId: 'r-cy-2', micros: 50 })).ok, 'exactly the cap');
      // A teammate still on the v1 code calls the v1 functions by name: they see the same holds and move the same
      // counters.
      assert.equal(await v1Admit('r-old', 'ana@x.dev', 1), false, 'the old client sees the cap as full');
      await v1Ship(row({ id: 'ana-1', member: 'ana@x.dev', costMicros: 400, reservationId: 'r-ana' }));
      const [after] = await ledger.status({ member: 'cy@x.dev', at: NOON, team, memberCaps: {} });
      assert.deepEqual([after!.used, after!.held], [450, 350], "ana's 600 hold became her 400 cost");
      assert.deepEqual(await heldMismatches(url), []);
    } finally {
      await ledger.close();
    }
  });

  it('refuses a database migrated by a newer Agent Budget, with what to do', async () => {
    const url = await pg.database();
    const client = await connect(url);
    await migrate(client as unknown as SqlClient);
    await client.query(`INSERT INTO agent_budget.schema_version (version, name) VALUES (99, 'from the future')`);
    await assert.rejects(migrate(client as unknown as SqlClient), TeamSchemaTooNewError);
    const ledger = new PostgresTeamLedger({ url, timeZone: 'UTC' });
    try {
      await assert.rejects(
        ledger.status({ member: 'a', at: NOON, team: {}, memberCaps: {} }),
        /schema is version 99, newer than this Agent Budget knows \(2\): .*Update Agent Budget/,
      );
    } finally {
      await ledger.close();
    }
  });
});
