import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StoreOpenError } from '../../../src/core/store/errors';
import { WorkspaceStore } from '../../../src/core/store/store';
import { durabilityFor } from '../../../src/core/store/durability';
import { createNodeStoreFs, nodeStoreFs } from '../../../src/core/store/storeFs';
import { randomEntry, seededRandom } from '../../support/ledgerFixtures';
import { itWhere, symbolicLinks } from '../../support/platform';

const NOV1 = Date.UTC(2026, 10, 1);

// Every test here makes a link, so each is defined only where links can be made (itWhere): Wine's symlinkSync
// reports success and creates nothing, and Windows makes them only with Developer Mode. Where they can be made —
// Windows included — the store must refuse them (storeFs.ts: an lstat before each open there, no O_NOFOLLOW).
describe('the store never follows a link in its folder, nor writes outside it', () => {
  let root: string;
  let dir: string;
  /** Stands for the user's files a hostile repository would point at. */
  let home: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'ab-links-'));
    dir = path.join(root, 'repo', '.agent-budget');
    home = path.join(root, 'home');
    mkdirSync(home, { recursive: true });
    writeFileSync(path.join(home, '.zshrc'), 'export PATH=~/bin:$PATH\n');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const homeUntouched = () => {
    assert.deepEqual(readdirSync(home), ['.zshrc'], 'nothing was created where the links point');
    assert.equal(readFileSync(path.join(home, '.zshrc'), 'utf8'), 'export PATH=~/bin:$PATH\n');
  };
  const refused = (pattern: RegExp) => (err: unknown) => {
    assert.ok(err instanceof StoreOpenError, String(err));
    assert.match(err.message, pattern);
    assert.match(err.message, /never follows a link/);
    return true;
  };

  itWhere(symbolicLinks, 'refuses a state folder that is itself a link', async () => {
    mkdirSync(path.dirname(dir), { recursive: true });
    symlinkSync(home, dir);
    await assert.rejects(WorkspaceStore.open({ dir, pollMs: 0 }), refused(/the folder is a symbolic link/));
    homeUntouched();
  });

  for (const [name, target] of [
    ['journal-999999.log', '.zshrc'],
    ['damaged', '.'],
    ['archive', '.'],
    ['owners', '.'],
    ['store.lock', '.zshrc'],
    ['snapshot-000009-00000000.sqlite', '.zshrc'],
  ] as const) {
    itWhere(symbolicLinks, `refuses ${name} -> ~/${target}, and writes nothing through it`, async () => {
      const store = await WorkspaceStore.open({ dir, pollMs: 0 });
      await store.commit([{ k: 'ledger', entry: randomEntry(seededRandom(1), NOV1) }]);
      await store.close();
      rmSync(path.join(dir, name), { recursive: true, force: true }); // owners/ exists once a store has opened
      symlinkSync(path.join(home, target), path.join(dir, name));
      await assert.rejects(
        WorkspaceStore.open({ dir, pollMs: 0 }),
        refused(new RegExp(`${name.replace(/\./g, '\\.')} is a symbolic link`)),
      );
      homeUntouched();
    });
  }

  itWhere(
    symbolicLinks,
    'a link that appears after opening is still not followed (O_NOFOLLOW): archive/ made a link mid-session',
    async () => {
      const logs: string[] = [];
      const store = await WorkspaceStore.open({ dir, pollMs: 0, retentionDays: 1, log: (l) => logs.push(l) });
      await store.commit([{ k: 'ledger', entry: randomEntry(seededRandom(2), NOV1) }]); // old enough to archive
      try {
        symlinkSync(home, path.join(dir, 'archive'));
        await assert.rejects(store.compact(), /ELOOP/);
        homeUntouched();
        assert.equal(
          store.queries.ledgerCount(),
          1,
          'the row stays in the store: nothing was archived through the link',
        );
      } finally {
        await store.close(); // also when it fails: Windows cannot remove a folder whose files a store holds open
      }
    },
  );

  for (const [how, fs] of [
    ['with O_NOFOLLOW where the platform has it', nodeStoreFs],
    // Windows' own code path, run wherever links can be made: it has no O_NOFOLLOW.
    ['with an lstat before each open, as on Windows', createNodeStoreFs(durabilityFor(process.platform), 0)],
  ] as const) {
    itWhere(
      symbolicLinks,
      `the file system itself refuses links ${how}: reads, appends, writes, folder creation`,
      async () => {
        mkdirSync(dir, { recursive: true });
        const link = path.join(dir, 'journal-000001.log');
        symlinkSync(path.join(home, '.zshrc'), link);
        assert.throws(() => fs.readRange(link, 0, 10), /ELOOP/);
        await assert.rejects(fs.readFile(link), /ELOOP/);
        assert.throws(() => fs.openAppend(link), /ELOOP/);
        assert.throws(() => fs.writeFile(link, 'x'), /ELOOP/);
        assert.throws(() => fs.overwrite(link, Buffer.from('x')), /ELOOP/);
        assert.throws(() => fs.createExclusive(link, 'x'), /ELOOP|EEXIST/);
        await assert.rejects(fs.writeFileDurable(link, Buffer.from('x')), /ELOOP/);
        symlinkSync(home, path.join(dir, 'damaged'));
        assert.throws(() => fs.mkdir(path.join(dir, 'damaged')), /ELOOP/);
        assert.equal(fs.kind(link), 'symlink');
        assert.equal(
          fs.size(link),
          Buffer.byteLength(path.join(home, '.zshrc')),
          "the link's own size, not its target's",
        );
        homeUntouched();
        assert.ok(existsSync(link), 'the link itself is left for the user to look at');
      },
    );
  }
});
