import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { durabilityFor, PLATFORM_DURABILITY } from '../../../src/core/store/durability';
import { createNodeStoreFs } from '../../../src/core/store/storeFs';

/** Records which sync calls node:fs receives while `body` runs, and still performs them. */
async function syncCalls(body: () => Promise<void>): Promise<string[]> {
  const calls: string[] = [];
  const real = { fsync: fs.fsync, fdatasync: fs.fdatasync };
  const spy =
    (name: 'fsync' | 'fdatasync') =>
    (fd: number, cb: (err: NodeJS.ErrnoException | null) => void): void => {
      calls.push(name);
      real[name](fd, cb);
    };
  fs.fsync = spy('fsync') as typeof fs.fsync;
  fs.fdatasync = spy('fdatasync') as typeof fs.fdatasync;
  try {
    await body();
  } finally {
    fs.fsync = real.fsync;
    fs.fdatasync = real.fdatasync;
  }
  return calls;
}

describe('durability on each platform (durability.ts)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(tmpdir(), 'ab-sync-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('chooses, per platform, the sync that reaches stable storage and whether folders can be synced', () => {
    assert.deepEqual(
      ['linux', 'darwin', 'win32'].map((p) => {
        const plan = durabilityFor(p as NodeJS.Platform);
        return [p, plan.journalSync, plan.syncFolders];
      }),
      [
        ['linux', 'fdatasync', true],
        // libuv turns fsync (and fdatasync) into fcntl(F_FULLFSYNC) on Apple platforms: the drive cache is flushed.
        ['darwin', 'fsync', true],
        // Windows refuses to fsync a folder (EPERM): skipped, and said so in the README.
        ['win32', 'fsync', false],
      ],
    );
    assert.match(durabilityFor('darwin').promise, /F_FULLFSYNC/);
    assert.equal(PLATFORM_DURABILITY.platform, process.platform);
  });

  for (const platform of ['linux', 'darwin', 'win32'] as const) {
    it(`a ${platform} journal append is made durable with ${durabilityFor(platform).journalSync}; snapshots with fsync`, async () => {
      const storeFs = createNodeStoreFs(durabilityFor(platform));
      const calls = await syncCalls(async () => {
        const journal = storeFs.openAppend(path.join(dir, 'journal-000000.log'));
        journal.append(Buffer.from('line\n'));
        await journal.datasync();
        journal.close();
      });
      assert.deepEqual(calls, [durabilityFor(platform).journalSync]);
      const snapshot = await syncCalls(() => storeFs.writeFileDurable(path.join(dir, 's.tmp'), Buffer.from('x')));
      assert.deepEqual(snapshot, ['fsync']);
    });
  }

  it('syncs a folder where the platform allows it, and skips it where it refuses (Windows)', async () => {
    const linux = await syncCalls(() => createNodeStoreFs(durabilityFor('linux')).syncDir(dir));
    assert.deepEqual(linux, ['fsync']);
    const windows = await syncCalls(() => createNodeStoreFs(durabilityFor('win32')).syncDir(dir));
    assert.deepEqual(windows, [], 'no folder handle is even opened: Windows would answer EPERM');
    await assert.rejects(
      createNodeStoreFs(durabilityFor('linux')).syncDir(path.join(dir, 'missing')),
      /ENOENT/,
      'where folders are synced, a failure is a failure',
    );
  });
});
