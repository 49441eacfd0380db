import assert from 'node:assert/strict';
import { closeSync, existsSync, fsyncSync, mkdtempSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

// The windows tier's proof that it runs as Windows, with the file semantics the store must live with there. If this
// file ran on Linux by mistake, every test in it would fail.
describe('the windows tier runs as Windows', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'ab-platform-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is Windows’ own node.exe: win32, drive-letter paths with backslashes', () => {
    assert.equal(process.platform, 'win32');
    assert.equal(path.sep, '\\');
    assert.match(process.execPath, /^[A-Za-z]:\\.*node\.exe$/i);
    assert.match(dir, /^[A-Za-z]:\\/, 'the temp folder is a Windows path');
    assert.match(__filename, /^[A-Za-z]:\\/, 'the test files are read through a Windows path');
  });

  it('has Windows’ file system: case-insensitive names, no fsync of a directory, no rename over an open file', () => {
    writeFileSync(path.join(dir, 'Journal.txt'), 'x');
    assert.equal(existsSync(path.join(dir.toUpperCase(), 'JOURNAL.TXT')), true, 'names are case-insensitive');

    const handle = openSync(dir, 'r');
    try {
      assert.throws(() => fsyncSync(handle), { code: 'EPERM' }, 'Windows refuses to flush a directory handle');
    } finally {
      closeSync(handle);
    }

    writeFileSync(path.join(dir, 'next.txt'), 'y');
    const open = openSync(path.join(dir, 'Journal.txt'), 'r');
    try {
      assert.throws(() => renameSync(path.join(dir, 'next.txt'), path.join(dir, 'Journal.txt')), { code: 'EPERM' });
    } finally {
      closeSync(open);
    }
  });
});
