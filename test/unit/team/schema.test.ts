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
import { NOON, usePostgres } from './helpers';

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
    assert.deepEqual(await tables(client), ['counter', 'hold', 'ledger', 'machine', 'schema_version']);
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
    assert.deepEqual(await migrate(client as unknown as SqlClient), [1]);
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
        /schema is version 99, newer than this Agent Budget knows \(1\): .*Update Agent Budget/,
      );
    } finally {
      await ledger.close();
    }
  });
});
