import assert from 'node:assert/strict';
import { Client } from 'pg';
import { drainOutbox } from '../../../src/core/team/outbox';
import { PostgresTeamLedger } from '../../../src/core/team/postgresLedger';
import type { TeamAdmitRequest } from '../../../src/core/team/types';
import { TeamLedgerUnreachableError } from '../../../src/core/team/errors';
import { MemoryOutbox, NOON, heldMismatches, row, usePostgres } from './helpers';

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

  it('every admission the ledger answered survives a crash; a settle the drain has not confirmed may be undone, and the drain then ships its row: counted once', async () => {
    const url = await pg.database();
    const ledger = new PostgresTeamLedger({ url, timeZone: 'UTC', connectTimeoutMs: 2_000 });
    let walWriter: number | undefined;
    try {
      await ledger.status(req); // the schema, committed durably before the WAL writer stops
      // With the WAL writer stopped, nothing reaches the disk unless a call itself waits for it.
      walWriter = await pauseWalWriter(url);
      const settled = [row({ costMicros: 1_200 }), row({ costMicros: 3_400 })].map((r) => ({
        ...r,
        reservationId: `res-${r.id}`,
      }));
      for (const r of settled) assert.ok((await ledger.admit({ ...req, reservationId: r.reservationId })).ok);
      const inFlight = await ledger.admit({ ...req, reservationId: 'res-in-flight', micros: 7_000 });
      assert.ok(inFlight.ok);
      // Settled after every durable answer: nothing has flushed them.
      for (const r of settled) assert.equal((await ledger.settle(r.reservationId, r)).counted, 1);
      const [before] = await ledger.status(req);
      assert.deepEqual([before!.used, before!.held], [4_600, 7_000], 'every machine sees the settles at once');

      pg.server().stopNow('immediate'); // a crash: no shutdown checkpoint, unflushed WAL is gone
      walWriter = undefined; // gone with its server
      pg.server().startNow();
      const [daily] = await ledger.status(req);
      assert.deepEqual(
        [daily!.used, daily!.held],
        [0, 5_000 + 5_000 + 7_000],
        'the unconfirmed settles were undone and their holds came back; the hold in flight survived',
      );
      assert.deepEqual(await heldMismatches(url), []);
      // The drain behind the settles finds the rows missing and ships them.
      const outbox = new MemoryOutbox();
      for (const r of settled) outbox.add(r);
      const drained = await drainOutbox(ledger, outbox, 500, new Set(settled.map((r) => r.id)));
      assert.deepEqual([drained.shipped, drained.counted, drained.duplicates], [2, 2, 0]);
      assert.equal(outbox.unshipped, 0);
      const [after] = await ledger.status(req);
      assert.deepEqual([after!.used, after!.held], [4_600, 7_000], 'counted once, and their holds freed');
      assert.deepEqual(await heldMismatches(url), []);
    } finally {
      if (walWriter) process.kill(walWriter, 'SIGCONT');
      if (!pg.server().running) pg.server().startNow();
      await ledger.close();
    }
  });

  it('a settle the drain confirmed survives a crash, and the drain marked it without shipping it again', async () => {
    const url = await pg.database();
    const ledger = new PostgresTeamLedger({ url, timeZone: 'UTC', connectTimeoutMs: 2_000 });
    let walWriter: number | undefined;
    try {
      await ledger.status(req);
      walWriter = await pauseWalWriter(url);
      const r = { ...row({ costMicros: 2_500 }), reservationId: 'res-confirmed' };
      assert.ok((await ledger.admit({ ...req, reservationId: r.reservationId })).ok);
      await ledger.settle(r.reservationId, r);
      const outbox = new MemoryOutbox();
      outbox.add(r);
      const drained = await drainOutbox(ledger, outbox, 500, new Set([r.id]));
      assert.deepEqual([drained.shipped, drained.counted, drained.duplicates], [1, 0, 1], 'confirmed, not shipped');
      assert.equal(outbox.unshipped, 0);

      pg.server().stopNow('immediate');
      walWriter = undefined;
      pg.server().startNow();
      const [daily] = await ledger.status(req);
      assert.deepEqual([daily!.used, daily!.held], [2_500, 0], 'the confirmed settle survived the crash');
      assert.deepEqual(await heldMismatches(url), []);
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
