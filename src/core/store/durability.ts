/**
 * Which sync makes a write durable on each platform, in one place (storeFs.ts follows it; the README quotes it).
 *
 * - **Linux**: `fdatasync` after a journal append (the data and the size needed to read it back), `fsync` for a
 *   snapshot, and `fsync` of the folder after a file is created or renamed in it, so the name survives a power cut.
 * - **macOS**: Node's `fs.fsync` and `fs.fdatasync` both go through libuv, which on Apple platforms issues
 *   `fcntl(F_FULLFSYNC)` (falling back to a plain `fsync` only where the file system does not support it): the
 *   drive's own cache is flushed, which a bare `fsync` on macOS does not do. So the store calls `fsync` (there is
 *   no separate data-only sync on macOS) and gets F_FULLFSYNC.
 * - **Windows**: `fsync` is FlushFileBuffers (data and the file's own metadata, through the drive cache). Windows
 *   refuses to sync a folder (EPERM, nodejs/node#3879) and offers an unprivileged process nothing else, so folder
 *   syncs are skipped: the name of a file just created or renamed (a new journal generation at compaction, a new
 *   snapshot) rests on NTFS's metadata journal, which commits within seconds. Appends to an existing journal — all
 *   writes between compactions — are as durable as on Linux.
 */
export interface DurabilityPlan {
  platform: NodeJS.Platform;
  /** The call that makes appended journal bytes durable. */
  journalSync: 'fdatasync' | 'fsync';
  /** Whether a folder is synced after a file is created or renamed in it. */
  syncFolders: boolean;
  /** What reaches stable storage once a write is acknowledged, in one sentence. */
  promise: string;
}

export function durabilityFor(platform: NodeJS.Platform): DurabilityPlan {
  switch (platform) {
    case 'darwin':
      return {
        platform,
        journalSync: 'fsync',
        syncFolders: true,
        promise: 'fsync through libuv, which issues fcntl(F_FULLFSYNC): the drive cache is flushed too',
      };
    case 'win32':
      return {
        platform,
        journalSync: 'fsync',
        syncFolders: false,
        promise:
          "FlushFileBuffers on each file; folders cannot be synced, so new names rest on NTFS's metadata journal",
      };
    default:
      return {
        platform,
        journalSync: 'fdatasync',
        syncFolders: true,
        promise: 'fdatasync after each append, fsync of snapshots and of the folder after a create or rename',
      };
  }
}

export const PLATFORM_DURABILITY = durabilityFor(process.platform);
