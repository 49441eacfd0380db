import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { pidNamespace, processStart } from '../../../src/core/processIdentity';
import type { Reservation } from '../../../src/core/store/records';
import { Workspace } from '../../../src/core/workspace';
import { runCli } from '../../support/cli';

const HOUR = 3_600_000;

function reservation(id: string, owner: string, micros: number, ageMs: number): Reservation {
  return {
    id,
    ts: Date.now() - ageMs,
    owner,
    runId: `run-${id}`,
    taskId: null,
    task: 'review',
    workflow: 'code-review',
    provider: 'anthropic',
    model: 'claude-haiku-4-5',
    micros,
    tokens: 3_000,
    inputTokens: 2_000,
    outputTokens: 1_000,
    scopes: [],
  };
}

interface Listed {
  reservationId: string;
  owner: string;
  alive: string;
  heldMicros: number;
  tokens: number;
  runId: string;
  workflow: string;
  model: string;
  ageSeconds: number;
}

describe('agent-budget reservations', function () {
  this.timeout(30_000);
  let folder: string;
  let child: ChildProcess;
  /** A live process of this machine, and a dead one: what the owners are judged by. */
  let live: string;
  let dead: string;
  beforeEach(async () => {
    folder = mkdtempSync(path.join(tmpdir(), 'ab-resv-'));
    child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await once(child, 'spawn');
    const ns = pidNamespace() ?? '';
    live = `${hostname()}:${child.pid}:aaaa:${processStart(child.pid!) ?? ''}:${ns}`;
    const gone = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await once(gone, 'exit');
    dead = `${hostname()}:${gone.pid}:bbbb:x.1:${ns}`;
    // Written without the recovery that would charge the dead one at once (as when its process died a moment ago).
    const ws = await Workspace.open(folder, { pollMs: 0, recover: false });
    await ws.store.commit([
      { k: 'reserve', reservation: reservation('R-live-1', live, 12_000, HOUR) },
      { k: 'reserve', reservation: reservation('R-dead-1', dead, 30_000, 2 * HOUR) },
      { k: 'reserve', reservation: reservation('R-dead-2', dead, 5_000, 3 * 86_400_000) },
    ]);
    await ws.close();
  });
  afterEach(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill();
      await once(child, 'exit');
    }
    rmSync(folder, { recursive: true, force: true });
  });

  const cli = (...args: string[]) => runCli([...args, '--workspace', folder]);
  const listed = async () => JSON.parse((await cli('reservations', '--json')).stdout) as Listed[];

  it('lists open reservations with owner, liveness, run, workflow, model, amount held and age', async () => {
    const rows = await listed();
    assert.deepEqual(
      rows.map((r) => [r.reservationId, r.alive, r.heldMicros, r.tokens, r.runId, r.workflow, r.model]),
      [
        ['R-dead-2', 'dead', 5_000, 3_000, 'run-R-dead-2', 'code-review', 'claude-haiku-4-5'],
        ['R-dead-1', 'dead', 30_000, 3_000, 'run-R-dead-1', 'code-review', 'claude-haiku-4-5'],
        ['R-live-1', 'alive', 12_000, 3_000, 'run-R-live-1', 'code-review', 'claude-haiku-4-5'],
      ],
    );
    assert.ok(Math.abs(rows[2]!.ageSeconds - 3_600) < 60);
    const text = await cli('reservations');
    assert.equal(text.code, 0);
    assert.match(text.stdout, /^RESERVATION\s+OWNER\s+ALIVE\s+RUN\s+WORKFLOW\s+MODEL\s+HELD\s+TOKENS\s+AGE/);
    assert.match(text.stdout, /R-dead-1 .* no .*\$0\.03 .*3,000 +2 h/);
    assert.match(text.stdout, /R-live-1 .* yes .*\$0\.01 .*60 min/);
    assert.match(text.stdout, /3 open, \$0\.05 held/);
  });

  it('release --dead charges the dead owners’ reservations as estimated, with the amounts', async () => {
    const r = await cli('reservations', 'release', '--dead', '--json');
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as {
      released: Array<{ reservationId: string; chargedMicros: number }>;
      chargedMicros: number;
    };
    assert.deepEqual(
      doc.released.map((x) => [x.reservationId, x.chargedMicros]),
      [
        ['R-dead-2', 5_000],
        ['R-dead-1', 30_000],
      ],
    );
    assert.equal(doc.chargedMicros, 35_000);
    assert.deepEqual(
      (await listed()).map((x) => x.reservationId),
      ['R-live-1'],
    );
    const ws = await Workspace.open(folder, { pollMs: 0, recover: false });
    assert.equal(ws.store.queries.ledgerEntry('est-R-dead-1')?.costMicros, 30_000);
    assert.equal(ws.store.queries.ledgerEntry('est-R-dead-1')?.estimated, true);
    await ws.close();
  });

  it('release <id> --no-charge closes it without a charge; a live owner’s needs --force; unknown ids are errors', async () => {
    const text = await cli('reservations', 'release', 'R-dead-1', '--no-charge');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /Released R-dead-1 \(code-review, claude-haiku-4-5, \$0\.03 held\): no charge\./);
    const refused = await cli('reservations', 'release', 'R-live-1');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /still running .* would count that call twice.*--force/s);
    const unknown = await cli('reservations', 'release', 'R-nope');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no open reservation "R-nope"/);
    const usage = await cli('reservations', 'release');
    assert.equal(usage.code, 1);
    assert.match(usage.stderr, /give the reservation id\(s\) to release, or --dead/);
    const forced = await cli('reservations', 'release', 'R-live', '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /Released R-live-1 .* charged \$0\.01 as estimated/);
    const ws = await Workspace.open(folder, { pollMs: 0, recover: false });
    assert.equal(ws.store.queries.reservationStatus('R-dead-1'), 'released');
    assert.equal(ws.store.queries.ledgerEntry('est-R-dead-1'), undefined, 'no charge');
    assert.deepEqual(
      ws.store.queries.openReservations().map((r) => r.id),
      ['R-dead-2'],
    );
    await ws.close();
  });
});
