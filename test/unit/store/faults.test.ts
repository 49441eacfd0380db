import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BudgetEngine, policyDays } from '../../../src/core/budget/engine';
import { ManualClock } from '../../../src/core/clock';
import { defaultPolicy } from '../../../src/core/policy/load';
import { StoreUnavailableError } from '../../../src/core/store/errors';
import { crc32, snapshotName } from '../../../src/core/store/journal';
import { loadSqlite } from '../../../src/core/store/sqlite';
import type { LedgerEntry } from '../../../src/core/store/records';
import { WorkspaceStore } from '../../../src/core/store/store';
import { totalTokens } from '../../../src/core/usage';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';
import { FaultyFs, type FaultCode } from './faultyFs';

const NOV1 = Date.UTC(2026, 10, 1);
const OWNER = 'faults-host:1:f0';

/** Every file under `dir` whose name ends in .tmp (partial snapshots, probes): none may be left. */
function tempFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.tmp'));
}

interface Outcome {
  acked: string[];
  /** Commits that failed, in order, with what they were told. */
  failures: unknown[];
  /** Order of results of the sequential commits: true acknowledged, false failed. */
  sequence: boolean[];
  reloads: number;
}

/**
 * What a user's session does: single writes (the runner), a burst of concurrent ones (several runs), a compaction,
 * more single writes. Each record is acknowledged or reported failed.
 */
async function session(store: WorkspaceStore, rand: () => number, start: number): Promise<Outcome> {
  const out: Outcome = { acked: [], failures: [], sequence: [], reloads: 0 };
  store.onDidReload(() => out.reloads++);
  let n = start;
  const write = async (sequential: boolean) => {
    const entry = randomEntry(rand, NOV1 + n, { id: `rec-${n++}` });
    try {
      await store.commit([{ k: 'ledger', entry }]);
      out.acked.push(entry.id);
      if (sequential) out.sequence.push(true);
    } catch (err) {
      out.failures.push(err);
      if (sequential) out.sequence.push(false);
    }
  };
  for (let i = 0; i < 4; i++) await write(true);
  await Promise.all(Array.from({ length: 6 }, () => write(false)));
  await store.compact().catch(() => undefined); // a failed compaction loses nothing; the writes say the rest
  for (let i = 0; i < 4; i++) await write(true);
  return out;
}

/** Every acknowledged record exactly once, and the rollups equal to the raw rows. */
async function verify(dir: string, acked: string[]): Promise<WorkspaceStore> {
  const store = await WorkspaceStore.open({ dir, pollMs: 0 });
  const seen = new Map<string, number>();
  let micros = 0;
  let tokens = 0;
  for (const page of store.queries.ledgerRows(0, Number.MAX_SAFE_INTEGER)) {
    for (const e of page) {
      seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
      micros += e.costMicros;
      tokens += totalTokens(e.usage);
    }
  }
  for (const id of acked) assert.equal(seen.get(id), 1, `acknowledged ${id} is there exactly once`);
  const totals = store.queries.totals({ fromDay: '0000-01-01', toDay: '9999-12-31' });
  assert.deepEqual([totals.calls, totals.costMicros, totals.tokens], [seen.size, micros, tokens]);
  return store;
}

describe('WorkspaceStore under disk faults (ENOSPC and EIO at every write and sync)', function () {
  this.timeout(120_000);
  const roots: string[] = [];
  afterEach(() => {
    for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
  });
  function stateDir(): string {
    const root = mkdtempSync(path.join(tmpdir(), 'ab-faults-'));
    roots.push(root);
    return path.join(root, '.agent-budget');
  }

  /** A store that has been used: three records in its journal. */
  async function used(): Promise<{ dir: string; acked: string[] }> {
    const dir = stateDir();
    const store = await WorkspaceStore.open({ dir, pollMs: 0 });
    const rand = seededRandom(1);
    const entries = [0, 1, 2].map((i) => randomEntry(rand, NOV1 + i, { id: `pre-${i}` }));
    await store.commit(entries.map((entry) => ({ k: 'ledger' as const, entry })));
    await store.close();
    return { dir, acked: entries.map((e) => e.id) };
  }

  it('the session touches every kind of file the guarantees are about', async () => {
    const { dir } = await used();
    const fs = new FaultyFs();
    const store = await WorkspaceStore.open({ dir, fs, pollMs: 0, owner: OWNER, compactAfterBytes: 1 << 30 });
    const out = await session(store, seededRandom(2), 100);
    await store.close();
    assert.equal(out.failures.length, 0);
    const kinds = new Set(fs.trace.map((p) => `${p.op} ${p.file.replace(/[0-9a-f]{6,}/g, '#')}`));
    for (const expected of [
      'append journal-#.log',
      'datasync journal-#.log',
      'createExclusive store.lock',
      'createExclusive compact.lock',
      'create journal-#.log',
      'syncDir .agent-budget',
      'writeFileDurable snapshot-#-#.sqlite.tmp',
      'rename snapshot-#-#.sqlite',
      'overwrite #.beat',
    ]) {
      assert.ok(kinds.has(expected), `${expected} in ${[...kinds].join(', ')}`);
    }
  });

  for (const code of ['ENOSPC', 'EIO'] as FaultCode[]) {
    it(`${code} at each point in turn: nothing acknowledged is lost, the failed are told, the store fails closed once and heals by itself`, async () => {
      // The points of a healthy session, counted once.
      const probe = await used();
      const counter = new FaultyFs();
      const counted = await WorkspaceStore.open({ dir: probe.dir, fs: counter, pollMs: 0, owner: OWNER });
      await session(counted, seededRandom(3), 100);
      await counted.close();
      const points = counter.trace.length;
      assert.ok(points >= 25, `a session has ${points} write and sync points`);

      for (let at = 0; at < points; at++) {
        const { dir, acked } = await used();
        const fs = new FaultyFs();
        fs.arm(at, code);
        const where = `${code} at point ${at} (${counter.trace[at]!.op} ${counter.trace[at]!.file})`;
        const store = await WorkspaceStore.open({ dir, fs, pollMs: 0, owner: OWNER, log: () => undefined });
        const out = await session(store, seededRandom(3), 100);
        assert.ok(fs.faults > 0, `${where}: the fault was hit`);

        for (const err of out.failures) {
          assert.ok(err instanceof StoreUnavailableError, `${where}: a failed write is told why (${String(err)})`);
          assert.equal(err.code, code);
          assert.ok(err.message.includes(dir), `${where}: the message names the folder`);
        }
        const firstFailure = out.sequence.indexOf(false);
        if (firstFailure >= 0)
          assert.ok(!out.sequence.slice(firstFailure).includes(true), `${where}: fails closed, no write slips through`);
        assert.ok(out.reloads <= 1, `${where}: rebuilt from disk at most once, not in a loop (${out.reloads})`);
        if (out.failures.length > 0) {
          assert.equal(store.health.ok, false, `${where}: the store says it cannot write`);
          await assert.rejects(
            store.transact(() => ({ records: [], result: undefined })),
            StoreUnavailableError,
            'an admission (a transact) is refused while the disk is failing',
          );
        }
        assert.deepEqual(tempFiles(dir), [], `${where}: no partial temp file is left`);

        // Space returns: the poll probes and the store heals without being asked.
        fs.clear();
        await store.refresh();
        assert.equal(store.health.ok, true, `${where}: healthy again after a poll`);
        const after = randomEntry(seededRandom(at), NOV1, { id: `after-${at}` });
        await store.commit([{ k: 'ledger', entry: after }]);
        await store.close();

        const reopened = await verify(dir, [...acked, ...out.acked, after.id]);
        if (code === 'ENOSPC') {
          assert.equal(reopened.report.damagedLines, 0, `${where}: a partial append was cut back off`);
          assert.equal(reopened.report.problem, undefined, `${where}: ${reopened.report.problem}`);
        }
        await reopened.close();
        assert.deepEqual(tempFiles(dir), [], `${where}: no temp file after healing either`);
      }
    });
  }

  it('the budget engine admits nothing while the disk is full, with one clear message, and admits again after', async () => {
    const { dir } = await used();
    const fs = new FaultyFs();
    const clock = new ManualClock(NOV1 + 3_600_000);
    const policy = defaultPolicy();
    policy.timeZone = 'UTC';
    policy.prices = {
      'test-model': { provider: 'openai', inputPerMTok: 2, outputPerMTok: 10, maxOutputTokens: 4_000 },
    };
    const store = await WorkspaceStore.open({ dir, fs, pollMs: 0, days: policyDays(policy), clock });
    const engine = new BudgetEngine(store, policy, clock);
    const admit = () =>
      engine.admit({
        workflow: 'w',
        runId: 'run-1',
        taskId: 'task-1',
        task: 'step',
        provider: 'openai',
        model: 'test-model',
        inputTokens: 100,
        maxOutputTokens: 500,
        tokenScopes: [],
        minOutputTokens: 1,
      });
    fs.arm(fs.trace.length, 'ENOSPC');
    await assert.rejects(admit(), (err: unknown) => {
      assert.ok(err instanceof StoreUnavailableError);
      assert.match(err.message, /disk is full \(ENOSPC\)/);
      assert.match(err.message, /No call is admitted until it can write again/);
      return true;
    });
    const faults = fs.faults;
    await assert.rejects(admit(), StoreUnavailableError);
    assert.equal(fs.faults, faults + 1, 'the second attempt costs one probe, not a reload and a retry loop');
    assert.deepEqual(store.queries.openReservations(), [], 'nothing is held for a refused call');
    fs.clear();
    const admission = await admit();
    assert.equal(store.queries.openReservations().length, 1);
    await engine.release(admission);
    engine.dispose();
    await store.close();
  });

  it('a rebuild that fails after a failed write (out of memory) fails closed too, and is not retried on every write', async () => {
    const { dir } = await used();
    const SQL = await loadSqlite();
    let loads = 0;
    let outOfMemory = false;
    const engine = {
      Database: class extends SQL.Database {
        constructor(data?: ArrayLike<number> | Buffer | null) {
          loads++;
          if (outOfMemory) throw new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded');
          super(data);
        }
      },
    };
    const fs = new FaultyFs();
    const store = await WorkspaceStore.open({ dir, fs, pollMs: 0, engine, log: () => undefined });
    const kept = randomEntry(seededRandom(4), NOV1, { id: 'kept' });
    await store.commit([{ k: 'ledger', entry: kept }]);
    fs.arm(fs.trace.length + 1, 'EIO'); // the sync of the next append
    outOfMemory = true;
    await assert.rejects(
      store.commit([{ k: 'ledger', entry: randomEntry(seededRandom(5), NOV1) }]),
      StoreUnavailableError,
    );
    const attempts = loads;
    fs.clear();
    for (let i = 0; i < 5; i++) {
      await assert.rejects(
        store.commit([{ k: 'ledger', entry: randomEntry(seededRandom(6 + i), NOV1) }]),
        (err: unknown) => {
          assert.ok(err instanceof StoreUnavailableError);
          assert.match(err.message, /could not be rebuilt from disk/);
          return true;
        },
      );
    }
    assert.equal(loads, attempts, 'no reload per refused write');
    assert.ok(store.queries.ledgerEntry('kept'), 'what was read stays readable');
    await store.close();
  });

  it('damaged/ stays bounded in files and bytes: the oldest go, and the report says so', async () => {
    const dir = stateDir();
    const limits = { maxFiles: 3, maxBytes: 10_000 };
    const rand = seededRandom(9);
    const store = await WorkspaceStore.open({ dir, pollMs: 0, damagedLimits: limits });
    const entries: LedgerEntry[] = [];
    for (let i = 0; i < 5; i++) entries.push(randomEntry(rand, NOV1 + i));
    await store.commit(entries.map((entry) => ({ k: 'ledger' as const, entry })));
    await store.close();
    const problems: string[] = [];
    for (let round = 0; round < 5; round++) {
      // A snapshot whose checksum does not match its name: damage, moved aside on open.
      const bytes = Buffer.alloc(4_000 + round, round);
      writeFileSync(path.join(dir, snapshotName(50 + round, (crc32(bytes) + 1) >>> 0)), bytes);
      const s = await WorkspaceStore.open({ dir, pollMs: 0, damagedLimits: limits });
      assert.equal(s.queries.ledgerCount(), entries.length, 'the records are all still there');
      problems.push(s.report.problem ?? '');
      await s.close();
      const damaged = readdirSync(path.join(dir, 'damaged'));
      const bytesKept = damaged.reduce((n, f) => n + statSync(path.join(dir, 'damaged', f)).size, 0);
      assert.ok(damaged.length <= limits.maxFiles, `${damaged.length} files kept`);
      assert.ok(bytesKept <= limits.maxBytes, `${bytesKept} bytes kept`);
    }
    assert.match(problems.join('\n'), /damaged\/ keeps at most 3 files .* oldest were deleted/);
  });
});
