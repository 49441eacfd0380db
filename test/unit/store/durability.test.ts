import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { durabilityFor, PLATFORM_DURABILITY } from '../../../src/core/store/durability';
import { crc32, snapshotName } from '../../../src/core/store/journal';
import { WorkspaceStore } from '../../../src/core/store/store';
import { createNodeStoreFs, nodeStoreFs, type StoreFs } from '../../../src/core/store/storeFs';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';

/** Windows' answer to deleting or renaming a file another process has open. */
function heldOpen(held: () => Set<string>): StoreFs {
  const refuse = (p: string) => {
    if (held().has(path.basename(p)))
      throw Object.assign(new Error(`EPERM: operation not permitted, '${p}'`), { code: 'EPERM' });
  };
  return {
    ...nodeStoreFs,
    unlink: (p) => {
      refuse(p);
      nodeStoreFs.unlink(p);
    },
    rename: (from, to) => {
      refuse(from);
      nodeStoreFs.rename(from, to);
    },
  };
}

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
    // (Run on Windows itself, the Linux plan's folder sync is attempted and refused: the attempt is what counts here.)
    const linux = await syncCalls(() =>
      createNodeStoreFs(durabilityFor('linux'))
        .syncDir(dir)
        .catch((err: NodeJS.ErrnoException) => assert.equal(process.platform === 'win32' && err.code, 'EPERM')),
    );
    assert.deepEqual(linux, ['fsync']);
    const windows = await syncCalls(() => createNodeStoreFs(durabilityFor('win32')).syncDir(dir));
    assert.deepEqual(windows, [], 'no folder handle is even opened: Windows would answer EPERM');
    await assert.rejects(
      createNodeStoreFs(durabilityFor('linux')).syncDir(path.join(dir, 'missing')),
      /ENOENT/,
      'where folders are synced, a failure is a failure',
    );
  });

  it('compaction and pruning tolerate a snapshot another window holds open (Windows): kept now, removed later', async () => {
    const stateDir = path.join(dir, '.agent-budget');
    const held = new Set<string>();
    const logs: string[] = [];
    const store = await WorkspaceStore.open({
      dir: stateDir,
      pollMs: 0,
      fs: heldOpen(() => held),
      log: (l) => logs.push(l),
    });
    const rand = seededRandom(4);
    const snapshots = () => fs.readdirSync(stateDir).filter((f) => f.startsWith('snapshot-'));
    for (let i = 0; i < 3; i++) {
      await store.commit([{ k: 'ledger', entry: randomEntry(rand, Date.UTC(2026, 10, 1) + i) }]);
      await store.compact();
    }
    assert.equal(snapshots().length, 2, 'newest and backup');
    // Another window is reading the backup (the oldest snapshot) when the next compaction prunes it.
    held.add(snapshots().sort()[0]!);
    await store.commit([{ k: 'ledger', entry: randomEntry(rand, Date.UTC(2026, 10, 2)) }]);
    await store.compact();
    assert.equal(snapshots().length, 3, 'the held snapshot stays');
    assert.match(logs.join('\n'), /could not remove .*snapshot-.*another window may have it open/);
    await store.commit([{ k: 'ledger', entry: randomEntry(rand, Date.UTC(2026, 10, 3)) }]);
    assert.equal(store.queries.ledgerCount(), 5, 'the write path never noticed');
    held.clear();
    await store.compact();
    assert.equal(snapshots().length, 2, 'removed at a later compaction');
    await store.close();
  });

  it('a damaged snapshot another window holds open stays in place, said so, and the store still opens', async () => {
    const stateDir = path.join(dir, '.agent-budget');
    const first = await WorkspaceStore.open({ dir: stateDir, pollMs: 0 });
    await first.commit([{ k: 'ledger', entry: randomEntry(seededRandom(5), Date.UTC(2026, 10, 1)) }]);
    await first.close();
    const bytes = Buffer.alloc(4096, 7);
    const damaged = snapshotName(7, (crc32(bytes) + 1) >>> 0);
    fs.writeFileSync(path.join(stateDir, damaged), bytes);
    const store = await WorkspaceStore.open({ dir: stateDir, pollMs: 0, fs: heldOpen(() => new Set([damaged])) });
    assert.equal(store.queries.ledgerCount(), 1);
    assert.match(store.report.problem ?? '', new RegExp(`${damaged} could not be moved aside .*EPERM.*left in place`));
    assert.ok(fs.existsSync(path.join(stateDir, damaged)));
    await store.close();
  });
});
