import assert from 'node:assert/strict';
import { Client } from 'pg';
import { PostgresTeamLedger } from '../../../src/core/team/postgresLedger';
import type { TeamAdmitRequest } from '../../../src/core/team/types';
import { NOON, row, usePostgres } from './helpers';

describe('team ledger durability across a server crash', function () {
  this.timeout(120_000);
  const pg = usePostgres();

  /**
   * Stops the server's WAL writer (SIGSTOP), so an asynchronous commit stays in memory until something flushes it
   * itself: what makes the crash below lose exactly what was never flushed.
   */
  async function pauseWalWriter(url: string): Promise<number> {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'`,
      );
      const pid = rows[0]?.pid;
      if (!pid) throw new Error('no walwriter process found');
      process.kill(pid, 'SIGSTOP');
      return pid;
    } finally {
      await client.end();
    }
  }

  it('a durable ship makes earlier fast settles crash-proof, even with nothing new to add; an unshipped settle is not', async () => {
    const url = await pg.database();
    const ledger = new PostgresTeamLedger({ url, timeZone: 'UTC', connectTimeoutMs: 2_000 });
    let walWriter: number | undefined;
    try {
      const req: Omit<TeamAdmitRequest, 'reservationId'> = {
        member: 'ana@x.dev',
        machine: 'laptop',
        micros: 5_000,
        at: NOON,
        team: { daily: 1_000_000 },
        memberCaps: {},
      };
      await ledger.status(req); // the schema, committed durably before the WAL writer stops
      walWriter = await pauseWalWriter(url);
      const settle = async (costMicros: number) => {
        const r = row({ costMicros });
        assert.ok((await ledger.admit({ ...req, reservationId: `res-${r.id}` })).ok);
        assert.equal((await ledger.settle(`res-${r.id}`, { ...r, reservationId: `res-${r.id}` })).counted, 1);
        return r;
      };
      const shipped = [await settle(1_200), await settle(3_400)];
      // The outbox drain: both rows are replays now, so this inserts no row, yet must flush them.
      assert.deepEqual(await ledger.ship(shipped), { counted: 0, duplicates: 2, conflicts: [] });
      await settle(50_000); // settled after the drain: counted for everyone, but never made durable
      const [before] = await ledger.status(req);
      assert.equal(before!.used, 54_600);

      pg.server().stopNow('immediate'); // a crash: no shutdown checkpoint, unflushed WAL is gone
      walWriter = undefined; // gone with its server
      pg.server().startNow();
      const [daily] = await ledger.status(req);
      assert.equal(
        daily!.used,
        4_600,
        'the shipped costs survived the crash; the unshipped one is for the outbox to ship again',
      );
    } finally {
      if (walWriter) process.kill(walWriter, 'SIGCONT');
      if (!pg.server().running) pg.server().startNow();
      await ledger.close();
    }
  });
});
