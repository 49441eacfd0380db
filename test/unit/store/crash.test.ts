import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { recoverAbandoned } from '../../../src/core/runner/abandoned';
import { LIVENESS_TIMEOUT_MS } from '../../../src/core/store/liveness';
import { WorkspaceStore } from '../../../src/core/store/store';
import { totalTokens } from '../../../src/core/usage';
import { bundleChild } from '../../support/childBundle';
import { seededRandom } from '../../support/ledgerFixtures';

const ROUNDS = 60;

type Phase = 'open' | 'recover' | 'work';

interface Round {
  phase: Phase;
  lines: string[];
  /** When the child's previous owners' leftovers were recovered, relative to its start (ms). */
  recoveredAfterMs?: number;
}

/**
 * One child, killed with SIGKILL: while opening the store (replaying the journal: a resume), while recovering
 * what the previous child left, or at a random moment of its work (appends, reservations, settlements, run
 * upserts, compactions).
 */
function crashRound(
  script: string,
  dir: string,
  seed: number,
  phase: Phase,
  delayMs: number,
  compact: number,
  acksFirst: number,
) {
  return new Promise<Round>((resolve, reject) => {
    const child = spawn(process.execPath, [script, dir, String(seed), String(compact)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const round: Round = { phase, lines: [] };
    let buffered = '';
    let err = '';
    let startedAt = 0;
    let acks = 0;
    const kill = () => child.kill('SIGKILL');
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        round.lines.push(line);
        if (line === 'start') {
          startedAt = performance.now();
          if (phase === 'open') setTimeout(kill, delayMs);
        } else if (line === 'opened' && phase === 'recover') setTimeout(kill, delayMs / 20);
        else if (line.startsWith('recovered')) round.recoveredAfterMs = performance.now() - startedAt;
        // Working: after a number of acknowledgements, then a pause, so kills land amid the work however fast this
        // system starts a process and syncs a file (Windows under Wine is many times slower at both).
        else if (phase === 'work' && line.startsWith('ack ') && ++acks === acksFirst) setTimeout(kill, delayMs);
      }
    });
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(round);
      else reject(new Error(`child ${seed} exited on its own (${code}): ${err}`));
    });
  });
}

describe('WorkspaceStore under SIGKILL (append, compaction, resume)', function () {
  this.timeout(180_000);
  let script: string;
  let root: string;
  before(async () => {
    script = await bundleChild('test/support/storeCrashChild.ts');
  });
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'ab-crash-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it(`${ROUNDS} kills at random points: every acknowledged record exactly once, no reservation held past the liveness timeout`, async () => {
    const dir = path.join(root, '.agent-budget');
    const rand = seededRandom(2026);
    const rounds: Round[] = [];
    const started = performance.now();
    for (let i = 0; i < ROUNDS; i++) {
      const pick = rand();
      const phase: Phase = pick < 0.15 ? 'open' : pick < 0.3 ? 'recover' : 'work';
      const delay = phase === 'open' ? Math.floor(rand() * 60) : Math.floor(rand() * 100);
      const acksFirst = 1 + Math.floor(rand() * 12);
      // Half the rounds compact every 16 KiB, so kills also land in snapshots, rotations and prunes.
      const compact = i % 2 ? 16 * 1024 : 4 * 1024 * 1024;
      rounds.push(await crashRound(script, dir, 1000 + i, phase, delay, compact, acksFirst));
    }
    const seconds = (performance.now() - started) / 1000;

    const acks = rounds.flatMap((r) => r.lines.filter((l) => l.startsWith('ack ')).map((l) => l.split(' ').slice(1)));
    const of = (kind: string) => acks.filter((a) => a[0] === kind);
    assert.ok(acks.length >= ROUNDS, `the children got work done between kills (${acks.length} acknowledged)`);
    for (const kind of ['ledger', 'reserve', 'settle', 'release', 'run'])
      assert.ok(of(kind).length > 0, `${kind} was acknowledged at least once`);
    const reached = (line: string) => rounds.filter((r) => r.lines.some((l) => l.startsWith(line))).length;
    assert.ok(reached('opened') < ROUNDS, 'some kills landed while a child was still opening (replaying) the store');
    assert.ok(reached('recovered') < reached('opened'), 'some kills landed while a child was recovering');

    // Each child found nothing of a dead owner's still held once it had recovered, well within the timeout.
    for (const r of rounds) {
      const line = r.lines.find((l) => l.startsWith('recovered'));
      if (!line) continue;
      assert.equal(line.split(' ')[3], '0', `no dead owner's reservation outlives recovery (${line})`);
      assert.ok(r.recoveredAfterMs! < LIVENESS_TIMEOUT_MS, `recovered after ${r.recoveredAfterMs} ms`);
    }

    const store = await WorkspaceStore.open({ dir, pollMs: 0 });
    try {
      await recoverAbandoned(store);
      assert.deepEqual(store.queries.openReservations(), [], 'every killed owner’s reservation was closed');
      assert.equal(store.queries.countRuns(['running', 'pending']), 0, 'every killed owner’s run was interrupted');
      const rows = new Map<string, number>();
      const byReservation = new Map<string, string[]>();
      let micros = 0;
      let tokens = 0;
      for (const page of store.queries.ledgerRows(0, Number.MAX_SAFE_INTEGER)) {
        for (const e of page) {
          rows.set(e.id, (rows.get(e.id) ?? 0) + 1);
          if (e.reservationId)
            byReservation.set(e.reservationId, [...(byReservation.get(e.reservationId) ?? []), e.id]);
          micros += e.costMicros;
          tokens += totalTokens(e.usage);
        }
      }
      for (const [, id] of of('ledger')) assert.equal(rows.get(id!), 1, `acknowledged row ${id} exactly once`);
      for (const [, reservation, entry] of of('settle'))
        assert.deepEqual(byReservation.get(reservation!), [entry], `settled ${reservation} charged once, as settled`);
      for (const [, reservation] of of('release'))
        assert.equal(byReservation.get(reservation!), undefined, `released ${reservation} charged nothing`);
      for (const [, reservation] of of('reserve')) {
        assert.notEqual(store.queries.reservationStatus(reservation!), 'open', `${reservation} closed`);
        assert.ok((byReservation.get(reservation!) ?? []).length <= 1, `${reservation} charged at most once`);
      }
      for (const [id, n] of rows) assert.equal(n, 1, `row ${id} doubled`);
      for (const [, id] of of('run')) assert.ok(store.queries.getRun(id!), `acknowledged run ${id} is there`);
      const totals = store.queries.totals({ fromDay: '0000-01-01', toDay: '9999-12-31' });
      assert.deepEqual([totals.calls, totals.costMicros, totals.tokens], [rows.size, micros, tokens]);
    } finally {
      await store.close();
    }
    console.log(
      `      ${ROUNDS} kills (seeds 1000–${999 + ROUNDS}), ${acks.length} acknowledged, ${seconds.toFixed(1)} s`,
    );
  });
});
