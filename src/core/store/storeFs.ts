import * as fs from 'node:fs';

/**
 * The file operations the store needs, injected so tests can fail a sync or a rename on purpose. The default is
 * node's file system.
 *
 * Why some are synchronous: on the write path a lock, two stats and an append cost ~50 µs as direct system calls
 * but ~1.5 ms through fs/promises (each call is a thread-pool round trip, FileHandle more so). Only the fsync —
 * the one slow call, and the one that concurrent writers batch behind — stays asynchronous, as do whole-file reads
 * and writes of snapshots.
 */
export interface StoreFs {
  mkdir(path: string): void;
  readdir(path: string): string[];
  /** Whole file (snapshots, journals at open). */
  readFile(path: string): Promise<Buffer>;
  /** `length` bytes at `position` (fewer at end of file): the tail of a journal. */
  readRange(path: string, position: number, length: number): Buffer;
  writeFile(path: string, data: Uint8Array | string): void;
  /** Creates `path` with `data` only if it does not exist; throws EEXIST otherwise. */
  createExclusive(path: string, data: string): void;
  size(path: string): number | undefined;
  mtimeMs(path: string): number | undefined;
  rename(from: string, to: string): void;
  link(existing: string, newPath: string): void;
  /** Removes a file; missing is fine. */
  unlink(path: string): void;
  openAppend(path: string): AppendHandle;
  /** fsync of a directory, so a rename or a new file in it survives a power cut. */
  syncDir(path: string): Promise<void>;
  /** Writes a whole file durably: write, fsync, close. */
  writeFileDurable(path: string, data: Uint8Array): Promise<void>;
  watch(path: string, onChange: () => void): { close(): void };
}

export interface AppendHandle {
  /** Appends all of `data` (O_APPEND: atomic position with respect to other processes). */
  append(data: Uint8Array): void;
  /** fdatasync: when it resolves, what was appended survives a power cut. */
  datasync(): Promise<void>;
  close(): void;
}

function missingIsUndefined<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done);
}

function fsyncPromise(fd: number, dataOnly: boolean): Promise<void> {
  return new Promise((resolve, reject) =>
    (dataOnly ? fs.fdatasync : fs.fsync)(fd, (err) => (err ? reject(err) : resolve())),
  );
}

export const nodeStoreFs: StoreFs = {
  mkdir: (path) => void fs.mkdirSync(path, { recursive: true }),
  readdir: (path) => fs.readdirSync(path),
  // One read of the whole size: fs/promises.readFile reads in 512 KiB thread-pool round trips, several times
  // slower for a 200 MB snapshot.
  async readFile(path) {
    const fd = fs.openSync(path, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.allocUnsafe(size);
      let done = 0;
      while (done < size) {
        const n = await new Promise<number>((resolve, reject) =>
          fs.read(fd, buf, done, size - done, done, (err, bytes) => (err ? reject(err) : resolve(bytes))),
        );
        if (n === 0) break;
        done += n;
      }
      return buf.subarray(0, done);
    } finally {
      fs.closeSync(fd);
    }
  },
  readRange(path, position, length) {
    const fd = fs.openSync(path, 'r');
    try {
      const buf = Buffer.allocUnsafe(length);
      let read = 0;
      while (read < length) {
        const n = fs.readSync(fd, buf, read, length - read, position + read);
        if (n === 0) break;
        read += n;
      }
      return buf.subarray(0, read);
    } finally {
      fs.closeSync(fd);
    }
  },
  writeFile: (path, data) => fs.writeFileSync(path, data),
  createExclusive(path, data) {
    const fd = fs.openSync(path, 'wx');
    try {
      fs.writeSync(fd, data);
    } finally {
      fs.closeSync(fd);
    }
  },
  // No ENOENT exception for a missing file: the write path asks after the next journal generation every time.
  size: (path) => fs.statSync(path, { throwIfNoEntry: false })?.size,
  mtimeMs: (path) => fs.statSync(path, { throwIfNoEntry: false })?.mtimeMs,
  rename: (from, to) => fs.renameSync(from, to),
  link: (existing, newPath) => fs.linkSync(existing, newPath),
  unlink: (path) => void missingIsUndefined(() => fs.unlinkSync(path)),
  openAppend(path) {
    const fd = fs.openSync(path, 'a');
    return {
      append: (data) => writeAll(fd, data),
      datasync: () => fsyncPromise(fd, true),
      close: () => fs.closeSync(fd),
    };
  },
  async syncDir(path) {
    // Windows has no fsync of a directory: FlushFileBuffers on a directory handle fails (EPERM; nodejs/node#3879).
    // There a new or renamed name is as durable as NTFS's metadata journal makes it (the file's own data is synced);
    // on Linux and macOS the fsync below is what makes it survive a power cut.
    if (process.platform === 'win32') return;
    const fd = fs.openSync(path, 'r');
    try {
      await fsyncPromise(fd, false);
    } finally {
      fs.closeSync(fd);
    }
  },
  async writeFileDurable(path, data) {
    const fd = fs.openSync(path, 'w');
    try {
      let done = 0;
      while (done < data.length) {
        done += await new Promise<number>((resolve, reject) =>
          fs.write(fd, data, done, data.length - done, null, (err, written) => (err ? reject(err) : resolve(written))),
        );
      }
      await fsyncPromise(fd, false);
    } finally {
      fs.closeSync(fd);
    }
  },
  watch(path, onChange) {
    try {
      const watcher = fs.watch(path, { persistent: false }, () => onChange());
      watcher.on('error', () => undefined);
      return watcher;
    } catch {
      return { close() {} };
    }
  },
};
