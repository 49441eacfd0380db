import assert from 'node:assert/strict';
import { Client } from 'pg';
import { PostgresTeamLedger } from '../../../src/core/team/postgresLedger';
import type { TeamAdmitRequest } from '../../../src/core/team/types';
import { TeamLedgerUnreachableError } from '../../../src/core/team/errors';
import { NOON, heldMismatches, row, usePostgres } from './helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

  const req: Omit<TeamAdmitRequest, 'reservationId'> = {
    member: 'ana@x.dev',
    machine: 'laptop',
    micros: 5_000,
    at: NOON,
    team: { daily: 1_000_000 },
    memberCaps: {},
  };

  it('every admission and settle the ledger answered survives a crash, with no outbox ship in between', async () => {
    const url = await pg.database();
    const ledger = new PostgresTeamLedger({ url, timeZone: 'UTC', connectTimeoutMs: 2_000 });
    let walWriter: number | undefined;
    try {
      await ledger.status(req); // the schema, committed durably before the WAL writer stops
      // With the WAL writer stopped, nothing reaches the disk unless the call itself waits for it.
      walWriter = await pauseWalWriter(url);
      const settled = [row({ costMicros: 1_200 }), row({ costMicros: 3_400 })];
      for (const r of settled) {
        assert.ok((await ledger.admit({ ...req, reservationId: `res-${r.id}` })).ok);
        assert.equal((await ledger.settle(`res-${r.id}`, { ...r, reservationId: `res-${r.id}` })).counted, 1);
      }
      const inFlight = await ledger.admit({ ...req, reservationId: 'res-in-flight', micros: 7_000 });
      assert.ok(inFlight.ok);
      await ledger.release([`res-never-billed`]);

      pg.server().stopNow('immediate'); // a crash: no shutdown checkpoint, unflushed WAL is gone
      walWriter = undefined; // gone with its server
      pg.server().startNow();
      const [daily] = await ledger.status(req);
      assert.deepEqual(
        [daily!.used, daily!.held],
        [4_600, 7_000],
        'both settled costs and the hold of the call still in flight survived the crash',
      );
      assert.deepEqual(await heldMismatches(url), []);
      // The outbox drains after the outage anyway: the rows are replays and count nothing twice.
      assert.deepEqual(await ledger.ship(settled), { counted: 0, duplicates: 2, conflicts: [] });
      const [again] = await ledger.status(req);
      assert.equal(again!.used, 4_600);
    } finally {
      if (walWriter) process.kill(walWriter, 'SIGCONT');
      if (!pg.server().running) pg.server().startNow();
      await ledger.close();
    }
  });

  it('answers an admission only once its hold is on disk: one held back from the disk is never answered', async () => {
    const url = await pg.database();
    const ledger = new PostgresTeamLedger({ url, timeZone: 'UTC', connectTimeoutMs: 2_000 });
    const side = new Client({ connectionString: url });
    let walWriter: number | undefined;
    try {
      await ledger.status(req);
      await side.connect();
      side.on('error', () => undefined); // the crash below ends this session too
      walWriter = await pauseWalWriter(url);
      // The admission's second transaction (what waits for the disk) cannot write until this lock goes.
      await side.query('BEGIN');
      await side.query('LOCK TABLE agent_budget.flush_mark IN EXCLUSIVE MODE');
      let answered: unknown;
      const admission = ledger.admit({ ...req, reservationId: 'res-unflushed', micros: 9_000 }).then(
        (r) => (answered = r),
        (err: unknown) => err,
      );
      // Its decision is committed (the team's locks are free again: another member's reading sees the hold)...
      const bo = { ...req, member: 'bo@x.dev' };
      const deadline = Date.now() + 5_000;
      while ((await ledger.status(bo))[0]!.held !== 9_000) {
        assert.ok(Date.now() < deadline, 'the decision was never committed');
        await sleep(20);
      }
      // ...but not answered, because it is not on disk yet.
      await sleep(300);
      assert.equal(answered, undefined, 'answered before its hold was on disk');

      pg.server().stopNow('immediate');
      walWriter = undefined;
      const outcome = await admission;
      assert.ok(outcome instanceof TeamLedgerUnreachableError, `the caller was told ${String(outcome)}`);
      pg.server().startNow();
      // Whatever the crash kept of a decision nobody was told of, the counters agree with the reservations, and a
      // hold that survived is only a lease that lapses.
      assert.deepEqual(await heldMismatches(url), []);
    } finally {
      if (walWriter) process.kill(walWriter, 'SIGCONT');
      if (!pg.server().running) pg.server().startNow();
      await side.end().catch(() => undefined);
      await ledger.close();
    }
  });
});
