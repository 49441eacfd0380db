import * as fs from 'node:fs';
import { PLATFORM_DURABILITY, type DurabilityPlan } from './durability';

/**
 * The file operations the store needs, injected so tests can fail a sync or a rename on purpose. The default is
 * node's file system.
 *
 * Why some are synchronous: on the write path a lock, two stats and an append cost ~50 µs as direct system calls
 * but ~1.5 ms through fs/promises (each call is a thread-pool round trip, FileHandle more so). Only the fsync —
 * the one slow call, and the one that concurrent writers batch behind — stays asynchronous, as do whole-file reads
 * and writes of snapshots.
 *
 * Links: no operation follows a symbolic link. A state folder may come from a cloned repository, and a link there
 * (`journal-999999.log -> ~/.zshrc`) must never be read or written through: files open with O_NOFOLLOW (ELOOP on a
 * link), or after an lstat where the platform has no O_NOFOLLOW (Windows); stats are lstats; mkdir refuses a link.
 */
export interface StoreFs {
  /** Creates the folder (and missing parents); throws ELOOP when `path` is a symbolic link. */
  mkdir(path: string): void;
  readdir(path: string): string[];
  /** What is at `path` itself (never what a link points to); undefined when nothing is. */
  kind(path: string): 'file' | 'directory' | 'symlink' | 'other' | undefined;
  /** Whole file (snapshots, journals at open). */
  readFile(path: string): Promise<Buffer>;
  /** `length` bytes at `position` (fewer at end of file): the tail of a journal. */
  readRange(path: string, position: number, length: number): Buffer;
  writeFile(path: string, data: Uint8Array | string): void;
  /** Writes `data` at the start of the file without truncating or syncing it (creating it if missing): a heartbeat. */
  overwrite(path: string, data: Uint8Array): void;
  /** Creates `path` with `data` only if it does not exist; throws EEXIST otherwise. A failed write leaves no file. */
  createExclusive(path: string, data: string): void;
  size(path: string): number | undefined;
  mtimeMs(path: string): number | undefined;
  rename(from: string, to: string): void;
  link(existing: string, newPath: string): void;
  /** Removes a file; missing is fine. */
  unlink(path: string): void;
  openAppend(path: string): AppendHandle;
  /** Makes a create or rename in the folder survive a power cut, where the platform can (see durability.ts). */
  syncDir(path: string): Promise<void>;
  /** Writes a whole file durably: write, fsync, close. */
  writeFileDurable(path: string, data: Uint8Array): Promise<void>;
  watch(path: string, onChange: () => void): { close(): void };
}

export interface AppendHandle {
  /** Appends all of `data` (O_APPEND: atomic position with respect to other processes). */
  append(data: Uint8Array): void;
  /** The sync of durability.ts: when it resolves, what was appended survives a power cut. */
  datasync(): Promise<void>;
  /** Cuts the file back to `size` bytes (a partial append under the lock, taken back). */
  truncate(size: number): void;
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

function syncPromise(fd: number, kind: 'fdatasync' | 'fsync'): Promise<void> {
  return new Promise((resolve, reject) =>
    (kind === 'fdatasync' ? fs.fdatasync : fs.fsync)(fd, (err) => (err ? reject(err) : resolve())),
  );
}

const C = fs.constants;
// Windows has no O_NOFOLLOW (undefined here): openNoFollowWith lstats first there.
const NOFOLLOW = C.O_NOFOLLOW ?? 0;

export function symlinkRefused(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ELOOP: refusing to follow the symbolic link ${path}`), {
    code: 'ELOOP',
    errno: -40,
    path,
  });
}

/**
 * Opens `path` without following a link at it. With O_NOFOLLOW the kernel refuses (ELOOP). Without it (Windows,
 * where lstat also reports a junction as a link) an lstat comes first: a link already there — the case of a cloned
 * repository — is refused, but one swapped in between the lstat and the open, which takes a program already running
 * as the user, is not seen (the README's Windows paragraph says so).
 */
function openNoFollowWith(path: string, flags: number, noFollow: number): number {
  if (!noFollow && fs.lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink()) throw symlinkRefused(path);
  return fs.openSync(path, flags | noFollow);
}

const READ = C.O_RDONLY;
const APPEND = C.O_WRONLY | C.O_APPEND | C.O_CREAT;
const TRUNCATE = C.O_WRONLY | C.O_CREAT | C.O_TRUNC;
const IN_PLACE = C.O_WRONLY | C.O_CREAT;
const EXCLUSIVE = C.O_WRONLY | C.O_CREAT | C.O_EXCL;

/**
 * Node's file system, syncing as `plan` says (the platform's own plan by default; tests pass another). `noFollow`
 * is the platform's O_NOFOLLOW (0 where it has none, as on Windows: tests pass 0 to run Windows' way where links
 * can be made).
 */
export function createNodeStoreFs(plan: DurabilityPlan = PLATFORM_DURABILITY, noFollow: number = NOFOLLOW): StoreFs {
  const openNoFollow = (path: string, flags: number) => openNoFollowWith(path, flags, noFollow);
  return {
    mkdir(path) {
      const kind = fs.lstatSync(path, { throwIfNoEntry: false });
      if (kind?.isSymbolicLink()) throw symlinkRefused(path);
      if (!kind) fs.mkdirSync(path, { recursive: true });
    },
    readdir: (path) => fs.readdirSync(path),
    kind(path) {
      const s = fs.lstatSync(path, { throwIfNoEntry: false });
      if (!s) return undefined;
      return s.isSymbolicLink() ? 'symlink' : s.isDirectory() ? 'directory' : s.isFile() ? 'file' : 'other';
    },
    // One read of the whole size: fs/promises.readFile reads in 512 KiB thread-pool round trips, several times
    // slower for a 200 MB snapshot.
    async readFile(path) {
      const fd = openNoFollow(path, READ);
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
      const fd = openNoFollow(path, READ);
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
    writeFile(path, data) {
      const fd = openNoFollow(path, TRUNCATE);
      try {
        writeAll(fd, typeof data === 'string' ? Buffer.from(data) : data);
      } finally {
        fs.closeSync(fd);
      }
    },
    overwrite(path, data) {
      const fd = openNoFollow(path, IN_PLACE);
      try {
        let done = 0;
        while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done, done);
      } finally {
        fs.closeSync(fd);
      }
    },
    createExclusive(path, data) {
      const fd = openNoFollow(path, EXCLUSIVE);
      try {
        writeAll(fd, Buffer.from(data));
      } catch (err) {
        // Ours (O_EXCL): a lock file without its body would read as a lock whose owner cannot be judged.
        fs.closeSync(fd);
        missingIsUndefined(() => fs.unlinkSync(path));
        throw err;
      }
      fs.closeSync(fd);
    },
    // No ENOENT exception for a missing file: the write path asks after the next journal generation every time.
    size: (path) => fs.lstatSync(path, { throwIfNoEntry: false })?.size,
    mtimeMs: (path) => fs.lstatSync(path, { throwIfNoEntry: false })?.mtimeMs,
    rename: (from, to) => fs.renameSync(from, to),
    link: (existing, newPath) => fs.linkSync(existing, newPath),
    unlink: (path) => void missingIsUndefined(() => fs.unlinkSync(path)),
    openAppend(path) {
      const fd = openNoFollow(path, APPEND);
      return {
        append: (data) => writeAll(fd, data),
        datasync: () => syncPromise(fd, plan.journalSync),
        truncate: (size) => fs.ftruncateSync(fd, size),
        close: () => fs.closeSync(fd),
      };
    },
    async syncDir(path) {
      // Windows refuses fsync on a folder (EPERM): see durability.ts for what that leaves to NTFS.
      if (!plan.syncFolders) return;
      const fd = openNoFollow(path, READ | (C.O_DIRECTORY ?? 0));
      try {
        await syncPromise(fd, 'fsync');
      } finally {
        fs.closeSync(fd);
      }
    },
    async writeFileDurable(path, data) {
      const fd = openNoFollow(path, TRUNCATE);
      try {
        let done = 0;
        while (done < data.length) {
          done += await new Promise<number>((resolve, reject) =>
            fs.write(fd, data, done, data.length - done, null, (err, written) =>
              err ? reject(err) : resolve(written),
            ),
          );
        }
        await syncPromise(fd, 'fsync');
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
}

export const nodeStoreFs: StoreFs = createNodeStoreFs();
