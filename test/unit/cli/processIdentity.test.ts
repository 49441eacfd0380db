import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import {
  clockDomain,
  CURRENT_OWNER,
  newId,
  ownerProbe,
  parseOwner,
  pidNamespace,
  pidVerdict,
  processOwnerProbe,
  processStart,
  type ProcessTable,
  type SystemFiles,
} from '../../../src/core/processIdentity';
import { Workspace } from '../../../src/core/workspace';
import { runCli } from '../../support/cli';

const LINUX = process.platform === 'linux';

/** What the encoding before this one minted for the same time and random bits: the leading '0' was a '-'. */
function legacyOf(id: string): string {
  assert.equal(id[0], '0');
  return `-${id.slice(1)}`;
}

describe('ids: time-sortable, never starting with "-"', () => {
  it('no id begins with "-", from 1970 to the year 2200', () => {
    for (let t = 0; t < Date.UTC(2200, 0, 1); t += 977_777_777_777)
      assert.notEqual(newId(t)[0], '-', `id of ${new Date(t).toISOString()}`);
    for (let i = 0; i < 2_000; i++) assert.notEqual(newId()[0], '-');
  });

  it('sort as their creation times do, and after every id of the old encoding (old stores stay newest-first)', () => {
    const times = [
      0,
      1,
      63,
      64,
      Date.UTC(2020, 0, 1),
      Date.UTC(2026, 10, 22, 9),
      Date.UTC(2026, 10, 22, 9) + 1,
      Date.UTC(2108, 11, 31),
      Date.UTC(2109, 6, 1),
    ];
    const ids = times.map((t) => newId(t));
    assert.deepEqual([...ids].sort(), ids);
    const oldest = newId(Date.UTC(2026, 0, 1));
    const latestOld = legacyOf(newId(Date.UTC(2108, 11, 31)));
    assert.ok(latestOld < oldest, 'an old id from any time before 2109 sorts before a new one');
    assert.ok(`-${'z'.repeat(15)}` < newId(0), 'even the largest old-encoding id');
  });

  it('runs newest first in a store holding runs with old ids', async () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'ab-ids-'));
    try {
      const ws = await Workspace.open(folder, { pollMs: 0 });
      const at = Date.now();
      const run = (id: string) => ({
        k: 'run' as const,
        run: {
          id,
          workflow: 'explain',
          status: 'completed' as const,
          title: id,
          createdAt: at,
          updatedAt: at,
          rev: 1,
          owner: CURRENT_OWNER,
          parentRunId: null,
          variant: null,
          data: null,
        },
      });
      const fresh = newId(at);
      const old = legacyOf(newId(at));
      await ws.store.commit([run(fresh), run(old)]);
      await ws.close();
      const listed = JSON.parse((await runCli(['runs', '--json', '--workspace', folder])).stdout) as Array<{
        runId: string;
      }>;
      assert.deepEqual(
        listed.map((r) => r.runId),
        [fresh, old],
        'same creation time: the new id is the newer',
      );
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('owner liveness: the pid and the process start', () => {
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill();
      await once(child, 'exit');
    }
    child = undefined;
  });

  async function startChild(): Promise<number> {
    child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await once(child, 'spawn');
    return child.pid!;
  }

  it('reads the boot id and field 22 of /proc/<pid>/stat, whatever the command name holds', () => {
    const files: Record<string, string> = {
      '/proc/sys/kernel/random/boot_id': 'b00t\n',
      '/proc/42/stat': '42 (a) b (c d) S 1 42 42 0 -1 4194304 101 0 0 0 0 0 0 0 20 0 1 0 315473 3133440 409 0\n',
    };
    const read = (f: string) => {
      if (!(f in files)) throw Object.assign(new Error(`ENOENT ${f}`), { code: 'ENOENT' });
      return files[f]!;
    };
    assert.equal(processStart(42, read, 'linux'), 'b00t.315473');
    assert.equal(processStart(43, read, 'linux'), undefined, 'no such process');
    // Under Wine `/proc/42/stat` is Linux's process 42, not Windows' (and on Windows C:\proc is anyone's folder).
    assert.equal(processStart(42, read, 'win32'), undefined, 'Windows never reads /proc');
    assert.equal(processStart(42, read, 'darwin'), undefined);
    if (LINUX) {
      assert.match(processStart(process.pid) ?? '', /^[0-9a-f-]{36}\.\d+$/);
      assert.equal(
        CURRENT_OWNER.split(':')[3],
        processStart(process.pid),
        'this process writes its start into its owner id',
      );
    }
  });

  it('a live process is alive; the same pid with another start (reused after its owner died) is not; old owner strings go by pid', async () => {
    const pid = await startChild();
    if (!LINUX) {
      // No /proc: owners are `host:pid:nonce` and the pid alone decides, as before.
      assert.equal(processStart(pid), undefined);
      assert.equal(processOwnerProbe.isAlive(`${hostname()}:${pid}:0badc0de`), true);
      return;
    }
    const start = processStart(pid)!;
    assert.ok(start);
    assert.equal(processOwnerProbe.isAlive(`${hostname()}:${pid}:0badc0de:${start}`), true);
    const [bootId, ticks] = start.split('.');
    assert.equal(
      processOwnerProbe.isAlive(`${hostname()}:${pid}:0badc0de:${bootId}.${Number(ticks) - 1}`),
      false,
      'pid reused',
    );
    assert.equal(
      processOwnerProbe.isAlive(`${hostname()}:${pid}:0badc0de`),
      true,
      'pre-start owner string: pid only, as before',
    );
    assert.equal(processOwnerProbe.isAlive(`elsewhere:${pid}:0badc0de:x.1`), true, 'another host is never judged');
    child!.kill();
    await once(child!, 'exit');
    assert.equal(processOwnerProbe.isAlive(`${hostname()}:${pid}:0badc0de:${start}`), false);
    assert.equal(processOwnerProbe.isAlive(`${hostname()}:${pid}:0badc0de`), false);
  });

  it('after a reboot the same pid and start ticks under another boot id is another process', () => {
    const table: ProcessTable = { exists: (pid) => pid === 4242, start: () => 'boot-b.777' };
    const probe = ownerProbe(table, 'self');
    assert.equal(probe.isAlive(`${hostname()}:4242:n:boot-a.777`), false);
    assert.equal(probe.isAlive(`${hostname()}:4242:n:boot-b.777`), true);
    assert.equal(probe.isAlive(`${hostname()}:4242:n`), true, 'an owner string without a start goes by the pid');
    assert.equal(probe.isAlive(`${hostname()}:4243:n:boot-b.777`), false, 'no such pid');
    const unknown = ownerProbe({ exists: () => true, start: () => undefined }, 'self');
    assert.equal(
      unknown.isAlive(`${hostname()}:4242:n:boot-a.777`),
      true,
      'where the start cannot be read, the pid decides',
    );
  });

  it('records the PID namespace in the owner id, and reads owner ids of every age', () => {
    const parsed = parseOwner(CURRENT_OWNER)!;
    assert.equal(parsed.current, true);
    assert.equal(parsed.host, hostname());
    assert.equal(parsed.pid, process.pid);
    assert.equal(parsed.ns, pidNamespace());
    if (LINUX) assert.match(parsed.ns ?? '', /^linux\.\d+$/);
    assert.deepEqual(parseOwner('h:12:abcd'), {
      host: 'h',
      pid: 12,
      nonce: 'abcd',
      start: undefined,
      ns: undefined,
      current: false,
    });
    assert.deepEqual(parseOwner('h:12:abcd:b.7'), {
      host: 'h',
      pid: 12,
      nonce: 'abcd',
      start: 'b.7',
      ns: undefined,
      current: false,
    });
    assert.deepEqual(parseOwner('h:12:abcd::win32'), {
      host: 'h',
      pid: 12,
      nonce: 'abcd',
      start: undefined,
      ns: 'win32',
      current: true,
    });
    assert.equal(parseOwner('h:x:abcd'), undefined);
  });

  it('reads the namespace and the boot clock from the system, where it tells', () => {
    const files = (links: Record<string, string>, reads: Record<string, string> = {}): SystemFiles => ({
      readlink: (f) => {
        if (!(f in links)) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
        return links[f]!;
      },
      read: (f) => {
        if (!(f in reads)) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
        return reads[f]!;
      },
    });
    assert.equal(pidNamespace('linux', files({ '/proc/self/ns/pid': 'pid:[4026532221]' })), 'linux.4026532221');
    assert.equal(pidNamespace('linux', files({})), undefined, 'hidden: pids are then never compared');
    assert.equal(pidNamespace('darwin', files({})), 'darwin');
    assert.equal(pidNamespace('win32', files({})), 'win32');
    assert.equal(clockDomain('linux', files({}, { '/proc/sys/kernel/random/boot_id': 'b00t\n' })), 'boot.b00t');
    assert.match(clockDomain('win32', files({})), /^win32\./);
  });

  it('compares pids only within one host and one PID namespace', () => {
    const table: ProcessTable = { exists: (pid) => pid === 4242, start: () => 'boot-b.777' };
    const here = { host: hostname(), ns: 'linux.1' };
    const verdict = (owner: string) => pidVerdict(owner, table, 'self', here);
    assert.equal(verdict(`${hostname()}:4243:n:boot-b.777:linux.1`), 'dead', 'same namespace, no such pid');
    assert.equal(verdict(`${hostname()}:4242:n:boot-b.777:linux.1`), 'alive');
    assert.equal(verdict(`${hostname()}:4242:n:boot-a.777:linux.1`), 'dead', 'same pid, a later process');
    assert.equal(verdict(`${hostname()}:4243:n:boot-b.777:linux.2`), 'unknown', 'a container or WSL under our name');
    assert.equal(verdict(`${hostname()}:4243:n::`), 'unknown', 'its namespace unknown: never compared');
    assert.equal(verdict(`${hostname()}:4243:n:boot-b.777`), 'dead', 'an owner id from before namespaces: as before');
    assert.equal(verdict(`elsewhere:4243:n::linux.1`), 'unknown', 'another host');
  });

  it("a run whose owner's pid now belongs to another process is interrupted, not left running", async () => {
    const pid = await startChild();
    // Where the start cannot be read (no /proc) any recorded start is ignored and the pid decides: then it runs.
    const [bootId, ticks] = (processStart(pid) ?? 'x.1000').split('.');
    const folder = mkdtempSync(path.join(tmpdir(), 'ab-owner-'));
    try {
      const ws = await Workspace.open(folder, { pollMs: 0 });
      const id = newId();
      const at = Date.now();
      // The run's process died and the kernel gave its pid to `child`, which started later.
      const owner = `${hostname()}:${pid}:0badc0de:${bootId}.${Number(ticks) - 100}`;
      await ws.store.commit([
        {
          k: 'run',
          run: {
            id,
            workflow: 'explain',
            status: 'running',
            title: 't',
            createdAt: at,
            updatedAt: at,
            rev: 1,
            owner,
            parentRunId: null,
            variant: null,
            data: null,
          },
        },
      ]);
      await ws.close();
      const listed = JSON.parse((await runCli(['runs', '--json', '--workspace', folder])).stdout) as Array<{
        runId: string;
        status: string;
      }>;
      assert.deepEqual(
        listed.map((r) => [r.runId, r.status]),
        [[id, LINUX ? 'interrupted' : 'running']],
      );
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
