/**
 * A process for the SIGKILL tests (bundled by test/support/childBundle.ts), doing what a session does to the store
 * until it is killed: opening it (replaying the journal), recovering what earlier killed processes left (charging
 * their reservations, interrupting their runs: runner/abandoned.ts), then appending ledger rows, reserving,
 * settling and releasing, upserting runs, and compacting.
 * argv: <stateDir> <seed> <compactAfterBytes>
 * stdout: `start`, `opened`, `recovered <reservations> <runs> <deadOpenAfter>`, then `ack <kind> <id> [<id>]` once
 * each write is durable (kinds: ledger, reserve, settle <reservation> <entry>, release, run).
 */
import { recoverAbandoned } from '../../src/core/runner/abandoned';
import type { Reservation } from '../../src/core/store/records';
import { WorkspaceStore } from '../../src/core/store/store';
import { randomEntry, seededRandom } from './ledgerFixtures';

const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const [dir, seedText, compactText] = process.argv.slice(2);
  say('start');
  const seed = Number(seedText);
  const store = await WorkspaceStore.open({ dir: dir!, pollMs: 0, compactAfterBytes: Number(compactText) });
  say('opened');
  const recovered = await recoverAbandoned(store);
  const deadOpen = store.queries.openReservations().filter((r) => !store.owners.isAlive(r.owner)).length;
  say(`recovered ${recovered.reservations} ${recovered.runs} ${deadOpen}`);
  const rand = seededRandom(seed);
  let n = 0;
  const id = (kind: string) => `${kind}-${seed}-${n++}`;
  const worker = async () => {
    for (;;) {
      const r = rand();
      if (r < 0.35) {
        const entry = randomEntry(rand, Date.UTC(2026, 10, 1) + n, { id: id('l') });
        await store.commit([{ k: 'ledger', entry }]);
        say(`ack ledger ${entry.id}`);
      } else if (r < 0.75) {
        const reservation: Reservation = {
          id: id('r'),
          ts: Date.now(),
          owner: store.ownerId,
          runId: null,
          taskId: null,
          task: null,
          workflow: 'crash',
          provider: 'anthropic',
          model: 'claude-haiku-4-5',
          micros: 1_000 + Math.floor(rand() * 9_000),
          tokens: 1_500,
          inputTokens: 1_000,
          outputTokens: 500,
          scopes: ['workspace.daily@2026-11-01'],
        };
        await store.commit([{ k: 'reserve', reservation }]);
        say(`ack reserve ${reservation.id}`);
        const next = rand();
        if (next < 0.5) {
          const entry = randomEntry(rand, Date.UTC(2026, 10, 1) + n, { id: id('s'), reservationId: reservation.id });
          await store.commit([{ k: 'settle', reservationId: reservation.id, ts: Date.now(), entry }]);
          say(`ack settle ${reservation.id} ${entry.id}`);
        } else if (next < 0.75) {
          await store.commit([{ k: 'settle', reservationId: reservation.id, ts: Date.now(), entry: null }]);
          say(`ack release ${reservation.id}`);
        } // else left open, as a call in flight when the process dies
      } else if (r < 0.92) {
        const at = Date.now();
        const runId = id('run');
        await store.commit([
          {
            k: 'run',
            run: {
              id: runId,
              workflow: 'crash',
              status: 'running',
              title: runId,
              createdAt: at,
              updatedAt: at,
              rev: store.nextRev(),
              owner: store.ownerId,
              parentRunId: null,
              variant: null,
              data: null,
            },
          },
        ]);
        say(`ack run ${runId}`);
      } else {
        await store.compact();
      }
    }
  };
  await Promise.all(Array.from({ length: 1 + (seed % 3) }, worker));
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
