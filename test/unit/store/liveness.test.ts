import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { pidNamespace, processStart } from '../../../src/core/processIdentity';
import { recoverAbandoned } from '../../../src/core/runner/abandoned';
import { LIVENESS_TIMEOUT_MS, OwnerLiveness, type MonotonicClock } from '../../../src/core/store/liveness';
import { FileLock } from '../../../src/core/store/lock';
import type { Reservation, RunState } from '../../../src/core/store/records';
import { WorkspaceStore } from '../../../src/core/store/store';
import { nodeStoreFs } from '../../../src/core/store/storeFs';

const NOV1 = Date.UTC(2026, 10, 1);
/** A pid that no process has here: only a heartbeat can say its owner is alive. */
const NO_SUCH_PID = 4_194_000;

/** A monotonic clock the test moves, shared by every "process" of one boot. */
function bootClock(domain = 'boot.test'): MonotonicClock & { advance(ms: number): void } {
  let t = 1_000_000;
  return { now: () => t, domain, advance: (ms) => void (t += ms) };
}

function run(id: string, owner: string): RunState {
  return {
    id,
    workflow: 'w',
    status: 'running',
    title: id,
    createdAt: NOV1,
    updatedAt: NOV1,
    rev: 1,
    owner,
    parentRunId: null,
    variant: null,
    data: null,
  };
}

function reservation(id: string, owner: string): Reservation {
  return {
    id,
    ts: NOV1,
    owner,
    runId: null,
    taskId: null,
    task: null,
    workflow: 'w',
    provider: 'anthropic',
    model: 'claude-haiku-4-5',
    micros: 7_000,
    tokens: 100,
    inputTokens: 60,
    outputTokens: 40,
    scopes: [],
  };
}

describe('owner liveness by heartbeat', () => {
  let root: string;
  let dir: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'ab-live-'));
    dir = path.join(root, '.agent-budget');
    nodeStoreFs.mkdir(dir);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  /** Same host name, another PID namespace: a container with host networking, or WSL beside Windows. */
  const neighbour = (pid = NO_SUCH_PID) => `${hostname()}:${pid}:beef:x.1:linux.1`;

  it('another PID namespace under the same host name: alive while it beats, whatever its pid means here', () => {
    const clock = bootClock();
    const them = new OwnerLiveness(dir, nodeStoreFs, neighbour(), clock);
    const us = new OwnerLiveness(dir, nodeStoreFs, 'us:1:a::', clock);
    them.beat();
    assert.equal(us.judge(neighbour()), 'alive', 'its pid does not exist here, and that says nothing');
    clock.advance(LIVENESS_TIMEOUT_MS - 1_000);
    assert.equal(us.judge(neighbour()), 'alive');
    them.beat();
    clock.advance(LIVENESS_TIMEOUT_MS - 1_000);
    assert.equal(us.judge(neighbour()), 'alive', 'a renewed heartbeat');
    clock.advance(2_000);
    assert.equal(us.judge(neighbour()), 'dead', 'silent past the timeout on the shared monotonic clock');
    // Our own pid, seen from another namespace, is not us either: only its heartbeat counts.
    assert.equal(us.judge(neighbour(process.pid)), 'dead', 'no heartbeat at all: it closed, or was swept');
  });

  it('on another clock (WSL and Windows, another machine): dead once this process has watched it not change for the timeout', () => {
    const ours = bootClock('boot.ours');
    const theirs = bootClock('win32.other.123');
    const them = new OwnerLiveness(dir, nodeStoreFs, neighbour(), theirs);
    const us = new OwnerLiveness(dir, nodeStoreFs, 'us:1:a::', ours);
    them.beat();
    theirs.advance(10 * LIVENESS_TIMEOUT_MS); // their clock means nothing here
    assert.equal(us.judge(neighbour()), 'alive', 'first sight');
    ours.advance(LIVENESS_TIMEOUT_MS / 2);
    them.beat();
    ours.advance(LIVENESS_TIMEOUT_MS / 2 + 1_000);
    assert.equal(us.judge(neighbour()), 'alive', 'it changed while we watched');
    ours.advance(LIVENESS_TIMEOUT_MS + 1);
    assert.equal(us.judge(neighbour()), 'dead', 'unchanged for the timeout of our own clock');
  });

  it('a renamed host leaves no reservation stuck; an old owner string from another host is never guessed dead', () => {
    const clock = bootClock();
    const renamed = `old-name:${process.pid}:cafe::${pidNamespace() ?? 'linux.1'}`;
    const oldProcess = new OwnerLiveness(dir, nodeStoreFs, renamed, clock);
    const us = new OwnerLiveness(dir, nodeStoreFs, 'us:1:a::', clock);
    oldProcess.beat();
    assert.equal(us.judge(renamed), 'alive');
    clock.advance(LIVENESS_TIMEOUT_MS + 1);
    assert.equal(us.judge(renamed), 'dead', 'its heartbeat stopped: what it held is released');
    assert.equal(us.judge('elsewhere:12:abcd'), 'unknown', 'written before heartbeats, on another host');
    assert.equal(us.isAlive('elsewhere:12:abcd'), true);
  });

  it('in our own PID namespace the pid decides at once, heartbeat or not', async () => {
    const clock = bootClock();
    const us = new OwnerLiveness(dir, nodeStoreFs, 'us:1:a::', clock);
    const ns = pidNamespace();
    if (ns === undefined) return; // where Linux hides the namespace, pids are never compared (covered above)
    const start = processStart(process.pid) ?? '';
    assert.equal(us.judge(`${hostname()}:${NO_SUCH_PID}:n:${start}:${ns}`), 'dead', 'no such process');
    // A process of our own, not our parent: under Wine the first Windows process has none (process.ppid is 0).
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      await once(child, 'spawn');
      const owner = `${hostname()}:${child.pid}:n:${processStart(child.pid!) ?? ''}:${ns}`;
      assert.equal(us.judge(owner), 'alive', 'a live process, no heartbeat needed');
      child.kill('SIGKILL');
      await once(child, 'exit');
      assert.equal(us.judge(owner), 'dead', 'gone, though it never wrote a heartbeat either way');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('sweeps the heartbeats of dead owners and keeps the live; closing removes its own', () => {
    const clock = bootClock();
    const alive = new OwnerLiveness(dir, nodeStoreFs, neighbour(11), clock);
    const dead = new OwnerLiveness(dir, nodeStoreFs, neighbour(12), clock);
    const us = new OwnerLiveness(dir, nodeStoreFs, 'us:1:a::', clock);
    us.beat();
    dead.beat();
    clock.advance(LIVENESS_TIMEOUT_MS + 1);
    alive.beat();
    assert.equal(us.sweep(), 1);
    assert.ok(existsSync(alive.fileOf(neighbour(11))));
    assert.ok(!existsSync(dead.fileOf(neighbour(12))));
    us.remove();
    assert.deepEqual(readdirSync(path.join(dir, 'owners')).sort(), [path.basename(alive.fileOf(neighbour(11)))]);
  });

  it('a store never breaks the lock, nor interrupts the run, of a live owner in another namespace; it does once that owner falls silent', async () => {
    const clock = bootClock();
    const store = await WorkspaceStore.open({ dir, pollMs: 0, monotonic: clock });
    const them = new OwnerLiveness(dir, nodeStoreFs, neighbour(), clock);
    them.beat();
    await store.commit([
      { k: 'run', run: run('theirs', neighbour()) },
      { k: 'reserve', reservation: reservation('held', neighbour()) },
    ]);
    await new Promise((r) => setTimeout(r, 10)); // the store lets go of the lock once its writes are done
    // They take the store lock and hold it.
    const lockPath = path.join(dir, 'store.lock');
    const theirLock = new FileLock(
      nodeStoreFs,
      lockPath,
      neighbour(),
      { judge: () => 'alive', ensure: () => {} },
      clock,
    );
    assert.ok(theirLock.tryAcquire());
    const ourLock = new FileLock(
      nodeStoreFs,
      lockPath,
      store.ownerId,
      { judge: (o) => store.owners.judge(o), ensure: () => {} },
      clock,
    );
    await assert.rejects(ourLock.acquire(50), /Timed out waiting .* \(held by .*:4194000:beef/);
    assert.deepEqual(await recoverAbandoned(store), { reservations: 0, runs: 0 });
    assert.equal(store.queries.getRun('theirs')?.status, 'running');

    clock.advance(LIVENESS_TIMEOUT_MS + 1);
    await ourLock.acquire(1_000); // a silent owner's lock is broken
    ourLock.release();
    assert.deepEqual(await recoverAbandoned(store), { reservations: 1, runs: 1 });
    assert.equal(store.queries.getRun('theirs')?.status, 'interrupted');
    assert.equal(store.queries.ledgerEntry('est-held')?.costMicros, 7_000);
    await store.close();
  });
});
