import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { UTC_DAYS, WorkspaceStore } from '../../../src/core/store/store';
import { PostgresTeamLedger } from '../../../src/core/team/postgresLedger';
import { bundleChild } from '../../support/childBundle';
import { NOON, heldMismatches, usePostgres } from './helpers';

/** Every call's worst case (the children's argv); actual costs are 2,200–5,200 µ$. */
const WORST_CASE_MICROS = 5_200;

interface Child {
  process: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
}

function start(script: string, args: string[]): Child {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    const parts = out.split('\n');
    out = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, signal) => {
      if (code !== 0 && signal !== 'SIGKILL') lines.push(`exit ${code ?? signal}: ${err}`);
      resolve(code);
    }),
  );
  return { process: child, lines, exited };
}

async function waitFor(predicate: () => boolean, what: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('team ledger across processes and machines', function () {
  this.timeout(240_000);
  const pg = usePostgres();
  let script: string;
  let root: string;

  before(async () => {
    script = await bundleChild('test/support/teamSpender.ts');
  });
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'ab-team-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  async function sql<T extends Record<string, unknown>>(url: string, text: string): Promise<T[]> {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<T>(text)).rows;
    } finally {
      await client.end();
    }
  }

  it('8 processes on each of 2 machines racing one team cap: billed ≤ cap, every record once in both ledgers', async () => {
    const url = await pg.database();
    const cap = 600_000; // about 150 calls between 16 processes
    const machines = [
      { dir: path.join(root, 'laptop', '.agent-budget'), member: 'ana@x.dev', name: 'laptop' },
      { dir: path.join(root, 'ci', '.agent-budget'), member: 'ci@x.dev', name: 'ci-runner' },
    ];
    const children = machines.flatMap((m) =>
      Array.from({ length: 8 }, () =>
        start(script, [
          'spend',
          url,
          m.dir,
          m.member,
          m.name,
          String(cap),
          '120000',
          String(NOON),
          String(WORST_CASE_MICROS),
        ]),
      ),
    );
    await Promise.all(children.map((c) => c.exited));
    const settled = new Map<string, number>();
    for (const [i, c] of children.entries()) {
      assert.equal(c.lines.at(-1), 'blocked', `child ${i} ended with: ${c.lines.slice(-2).join(' | ')}`);
      for (const line of c.lines) {
        const m = /^settled (\S+) (\d+)$/.exec(line);
        if (m) settled.set(m[1]!, Number(m[2]));
      }
    }
    const billed = [...settled.values()].reduce((a, b) => a + b, 0);
    assert.ok(billed <= cap, `billed ${billed} µ$ > cap ${cap}`);
    assert.ok(billed > cap / 2, `only ${billed} of ${cap} µ$ spent: the race did not happen`);
    assert.ok(children.filter((c) => c.lines.length > 1).length >= 12, 'most processes got to spend');

    // The team ledger holds every settled record exactly once, and its counters agree with its rows.
    const rows = await sql<{ id: string; cost_micros: string; member: string }>(
      url,
      'SELECT id, cost_micros, member FROM agent_budget.ledger',
    );
    assert.equal(rows.length, settled.size);
    for (const r of rows) assert.equal(Number(r.cost_micros), settled.get(r.id), `row ${r.id}`);
    const [counter] = await sql<{ used_micros: string }>(
      url,
      `SELECT used_micros FROM agent_budget.counter WHERE key = 'team.daily@2026-11-22'`,
    );
    assert.equal(Number(counter!.used_micros), billed);
    assert.deepEqual(await sql(url, 'SELECT * FROM agent_budget.reservation'), [], 'no hold left behind');
    assert.deepEqual(await heldMismatches(url), [], 'no held total left on any counter');

    // Each machine's local store holds exactly its own records, the same ones.
    const ledger = new PostgresTeamLedger({ url, timeZone: 'UTC' });
    const report = await ledger.report({ fromMs: NOON - 1, toMs: NOON + 1 });
    await ledger.close();
    for (const m of machines) {
      const store = await WorkspaceStore.open({ dir: m.dir, pollMs: 0, days: UTC_DAYS });
      try {
        const mine = rows.filter((r) => r.member === m.member);
        assert.equal(store.queries.ledgerCount(), mine.length, `${m.name}: local rows`);
        for (const r of mine) assert.equal(store.queries.ledgerEntry(r.id)?.costMicros, Number(r.cost_micros));
        const local = store.queries.totals({ fromDay: '2026-11-22', toDay: '2026-11-22' }).costMicros;
        assert.equal(report.byMember.find((b) => b.key === m.member)?.costMicros, local, `${m.name}: totals agree`);
      } finally {
        await store.close();
      }
    }
  });

  it('a SIGKILLed process holding reservations blocks the team only until its leases run out', async () => {
    const url = await pg.database();
    const cap = 3 * WORST_CASE_MICROS; // the killed process holds all of it
    const leaseMs = 4_000; // long enough that its holds are surely live when the first admission below runs
    const holder = start(script, [
      'hold',
      url,
      '-',
      'ana@x.dev',
      'laptop',
      String(cap),
      String(leaseMs),
      String(NOON),
      String(WORST_CASE_MICROS),
    ]);
    await waitFor(() => holder.lines.filter((l) => l.startsWith('held ')).length === 3, 'three holds');
    holder.process.kill('SIGKILL');
    await holder.exited;
    const killedAt = Date.now();

    const ledger = new PostgresTeamLedger({ url, timeZone: 'UTC' });
    try {
      const admit = () =>
        ledger.admit({
          reservationId: `after-${Date.now()}-${Math.random()}`,
          member: 'bo@x.dev',
          machine: 'desktop',
          micros: WORST_CASE_MICROS,
          at: NOON,
          team: { daily: cap },
          memberCaps: {},
        });
      const blocked = await admit();
      assert.equal(blocked.ok, false, "the dead process's holds still count within their lease");
      assert.equal(!blocked.ok && blocked.blocked.held, cap);
      await new Promise((r) => setTimeout(r, Math.max(0, leaseMs + 200 - (Date.now() - killedAt))));
      const admitted = await admit();
      assert.ok(admitted.ok, 'the expired holds no longer count');
      assert.equal(admitted.scopes[0]!.held, WORST_CASE_MICROS, 'only the new hold is left');
      const left = await sql<{ id: string }>(url, 'SELECT id FROM agent_budget.reservation');
      assert.equal(left.length, 1, 'the dead reservations were freed by the next admission, on every scope');
      assert.deepEqual(await heldMismatches(url), [], 'and their holds taken off every counter');
      const [anaDaily] = (await ledger.status({ member: 'ana@x.dev', at: NOON, team: {}, memberCaps: {} })).filter(
        (s) => s.scope === 'team.member.daily',
      );
      assert.equal(anaDaily!.held, 0);
    } finally {
      await ledger.close();
    }
  });
});
