import path from 'node:path';
import { crc32, parseJournalName, parseSnapshotName, snapshotName } from './journal';
import { StoreOpenError } from './errors';
import { migrate, NewerStoreError } from './schema';
import type { Database, SqlJsStatic } from './sqlite';
import type { StoreFs } from './storeFs';

/** How much damaged/ keeps: at most this many files and bytes (the newest file always stays); older ones go. */
export interface DamagedLimits {
  maxFiles: number;
  maxBytes: number;
}

export const DAMAGED_LIMITS: DamagedLimits = { maxFiles: 10, maxBytes: 512 * 1024 * 1024 };

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/** Page size × page count from the header must match the file: catches truncation without a full integrity scan. */
function looksLikeCompleteSqlite(bytes: Uint8Array): boolean {
  if (bytes.length < 100 || !Buffer.from(bytes.buffer, bytes.byteOffset, 16).equals(SQLITE_MAGIC)) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rawPageSize = view.getUint16(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  const pages = view.getUint32(28);
  return pages > 0 && pageSize * pages === bytes.length;
}

export interface LoadedSnapshot {
  /** Undefined when no snapshot was intact (or none exists): start empty and replay every journal. */
  db: Database | undefined;
  gen: number;
  bytes: number;
  problems: string[];
  movedAside: string[];
}

/**
 * The snapshot files: loading the newest intact one (verify, quarantine the damaged), writing a new one (temp
 * file, fsync, rename, folder sync), pruning old ones, and `damaged/`, kept bounded.
 *
 * Only damage quarantines: a checksum that does not match or a header that does not describe the file. A snapshot
 * that is intact but cannot be loaded — out of memory, a migration that fails — stops the open with every file in
 * place (StoreOpenError): moving it aside would open on the older backup or on nothing, and budgets would
 * silently restart from less than was spent.
 */
export class SnapshotFiles {
  private pruneFailures = new Set<string>();

  constructor(
    private readonly dir: string,
    private readonly fs: StoreFs,
    private readonly wallNow: () => number,
    private readonly log: (line: string) => void,
    private readonly limits: DamagedLimits = DAMAGED_LIMITS,
  ) {}

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  async loadNewest(names: string[], engine: Pick<SqlJsStatic, 'Database'>): Promise<LoadedSnapshot> {
    const snapshots = names
      .map((name) => ({ name, parsed: parseSnapshotName(name) }))
      .filter((s): s is { name: string; parsed: { gen: number; crc: number } } => s.parsed !== undefined)
      .sort((a, b) => b.parsed.gen - a.parsed.gen);
    const out: LoadedSnapshot = { db: undefined, gen: 0, bytes: 0, problems: [], movedAside: [] };
    for (const snap of snapshots) {
      let bytes: Buffer;
      try {
        bytes = await this.fs.readFile(this.file(snap.name));
      } catch (err) {
        // Not damage: left in place. The older snapshot and the journals kept for it hold the same records.
        out.problems.push(`could not read ${snap.name}: ${(err as Error).message}`);
        continue;
      }
      const why =
        crc32(bytes) !== snap.parsed.crc
          ? 'its checksum does not match (truncated or overwritten)'
          : !looksLikeCompleteSqlite(bytes)
            ? 'it is not a complete SQLite file'
            : undefined;
      if (why) {
        out.problems.push(`${snap.name}: ${why}`);
        const moved = this.quarantine(snap.name, out.problems);
        if (moved) out.movedAside.push(moved);
        continue;
      }
      let db: Database | undefined;
      try {
        db = new engine.Database(bytes);
        migrate(db);
      } catch (err) {
        db?.close();
        if (err instanceof NewerStoreError) throw err;
        throw new StoreOpenError(
          this.dir,
          `Agent Budget could not open its store in ${this.dir}: ${snap.name} is intact but could not be loaded ` +
            `(${(err as Error).message}). Nothing was moved or changed, and no call is admitted until it opens ` +
            '(budgets are never restarted from zero). Free memory or update Agent Budget, then reload.',
          { cause: err },
        );
      }
      return { ...out, db, gen: snap.parsed.gen, bytes: bytes.length };
    }
    if (snapshots.length > 0)
      out.problems.push('no intact snapshot remained; rebuilt from the journal files that exist');
    return out;
  }

  /** Writes memory's bytes as the snapshot of generation `gen` and makes it live with one rename. */
  async write(gen: number, bytes: Uint8Array): Promise<void> {
    const name = snapshotName(gen, crc32(bytes));
    const temp = this.file(`${name}.tmp`);
    try {
      await this.fs.writeFileDurable(temp, bytes);
      this.fs.rename(temp, this.file(name));
    } catch (err) {
      this.removeQuietly(temp); // a partial temp file is never left behind
      throw err;
    }
    await this.fs.syncDir(this.dir);
  }

  /**
   * Keeps the newest snapshot and one backup, and every journal the backup needs to be complete; removes temp files
   * of compactions that died (the caller holds compact.lock, so no other compaction is writing one). A file another
   * window still has open (Windows refuses to delete it) stays until a later compaction: never an error.
   */
  prune(): void {
    const names = this.fs.readdir(this.dir);
    const snaps = names
      .map((name) => ({ name, gen: parseSnapshotName(name)?.gen }))
      .filter((s): s is { name: string; gen: number } => s.gen !== undefined)
      .sort((a, b) => b.gen - a.gen);
    const doomed = snaps.slice(2).map((s) => s.name);
    if (snaps.length >= 2) {
      const keepFrom = snaps[1]!.gen;
      for (const name of names) {
        const gen = parseJournalName(name);
        if (gen !== undefined && gen < keepFrom) doomed.push(name);
      }
    }
    doomed.push(...names.filter((n) => n.endsWith('.sqlite.tmp')));
    for (const name of doomed) this.removeQuietly(this.file(name));
  }

  /** Moves a damaged file into damaged/ (never deleted); returns where, or undefined when it had to stay. */
  quarantine(name: string, problems: string[]): string | undefined {
    try {
      const target = this.damagedPath(name);
      this.fs.rename(this.file(name), target);
      this.boundDamaged(problems);
      return target;
    } catch (err) {
      problems.push(`${name} could not be moved aside (${(err as Error).message}); it was left in place`);
      return undefined;
    }
  }

  /** A journal with a damaged line stays live (other processes append to it): a copy goes aside, once per content. */
  copyAside(name: string, bytes: Buffer, problems: string[]): string | undefined {
    try {
      const tag = `${crc32(bytes).toString(16).padStart(8, '0')}-${name}`;
      const existing = this.fs.readdir(this.damagedDir()).find((n) => n.endsWith(tag));
      if (existing) return path.join(this.damagedDir(), existing);
      const target = this.damagedPath(tag);
      this.fs.writeFile(target, bytes);
      this.boundDamaged(problems);
      return target;
    } catch (err) {
      problems.push(`a copy of ${name} could not be set aside (${(err as Error).message})`);
      return undefined;
    }
  }

  private damagedDir(): string {
    const dir = this.file('damaged');
    this.fs.mkdir(dir); // refuses a link: damaged/ pointing elsewhere would move files out of the state folder
    return dir;
  }

  private damagedPath(name: string): string {
    const stamp = new Date(this.wallNow()).toISOString().replace(/[:.]/g, '-');
    return path.join(this.damagedDir(), `${stamp}-${name}`);
  }

  /** Drops the oldest files of damaged/ beyond its limits, and says so. */
  private boundDamaged(problems: string[]): void {
    const dir = this.damagedDir();
    const files = this.fs
      .readdir(dir)
      .map((name) => ({ name, size: this.fs.size(path.join(dir, name)) ?? 0 }))
      .sort((a, b) => (a.name < b.name ? 1 : -1)); // names start with the time they were set aside: newest first
    let bytes = 0;
    const dropped: string[] = [];
    files.forEach((f, i) => {
      bytes += f.size;
      if (i > 0 && (i >= this.limits.maxFiles || bytes > this.limits.maxBytes)) {
        this.removeQuietly(path.join(dir, f.name));
        dropped.push(f.name);
      }
    });
    if (dropped.length) {
      problems.push(
        `damaged/ keeps at most ${this.limits.maxFiles} files and ${Math.round(this.limits.maxBytes / 2 ** 20)} MiB: the ${dropped.length} ` +
          `oldest were deleted (${dropped.join(', ')})`,
      );
    }
  }

  private removeQuietly(file: string): void {
    try {
      this.fs.unlink(file);
      this.pruneFailures.delete(file);
    } catch (err) {
      if (!this.pruneFailures.has(file)) {
        this.pruneFailures.add(file);
        this.log(
          `Agent Budget: could not remove ${file} (${(err as Error).message}); another window may have it open. ` +
            'It is retried at the next compaction.',
        );
      }
    }
  }
}
