import path from 'node:path';
import { journalName, parseChunk, parseJournalName, parseSnapshotName } from './journal';
import type { StoreRecord } from './records';
import type { AppendHandle, StoreFs } from './storeFs';

/** Where this process has read a journal generation to; complete once a newer one exists and it was read to its end. */
interface Position {
  offset: number;
  /** Bytes after the last newline: a record being written, or one torn by a crash. */
  trailing: number;
  complete: boolean;
}

/** Thrown by catchUp when the journal it was reading was compacted away by another process. */
export class StoreOvertaken extends Error {
  constructor() {
    super('Another process compacted the store past records this one had not read; reloading.');
  }
}

export interface ReplayResult {
  replayedRecords: number;
  damagedLines: number;
  tornTail: boolean;
  problems: string[];
  /** Journals holding damaged lines, to copy aside for inspection (they stay live). */
  damaged: Array<{ name: string; bytes: Buffer }>;
}

/**
 * The journal files: one append handle on the newest generation, the read position in every generation this
 * process has not finished, replay at open, and tailing what other processes append. Generations rotate at
 * compaction: a snapshot named for generation N holds everything before N.
 */
export class JournalFiles {
  private readonly positions = new Map<number, Position>();
  /** The generation of the snapshot loaded: journals before it are not read. */
  baseGen = 0;
  /** The newest generation: where appends go. */
  currentGen = 0;
  private handle: { gen: number; file: AppendHandle } | undefined;
  /** A journal this process created whose folder entry is not yet synced (see append). */
  private unsyncedDir = false;

  constructor(
    private readonly dir: string,
    private readonly fs: StoreFs,
    private readonly owner: string,
    private readonly log: (line: string) => void,
  ) {}

  private file(gen: number): string {
    return path.join(this.dir, journalName(gen));
  }

  /** Replays every journal from `baseGen` on (at open and reload), in generation order. */
  async replay(baseGen: number, names: string[], apply: (records: StoreRecord[]) => void): Promise<ReplayResult> {
    this.closeHandle();
    this.positions.clear();
    this.baseGen = baseGen;
    const result: ReplayResult = { replayedRecords: 0, damagedLines: 0, tornTail: false, problems: [], damaged: [] };
    const live = names
      .map(parseJournalName)
      .filter((g): g is number => g !== undefined && g >= baseGen)
      .sort((a, b) => a - b);
    for (const gen of live) {
      const name = journalName(gen);
      let buf: Buffer;
      try {
        buf = await this.fs.readFile(this.file(gen));
      } catch (err) {
        result.problems.push(`could not read ${name}: ${(err as Error).message}`);
        continue;
      }
      const chunk = parseChunk(buf);
      apply(chunk.records.map((r) => r.record));
      result.replayedRecords += chunk.records.length;
      const last = gen === live[live.length - 1];
      this.positions.set(gen, { offset: chunk.consumed, trailing: chunk.trailing, complete: !last });
      if (chunk.trailing > 0) result.tornTail = true;
      if (chunk.damaged > 0) {
        result.damagedLines += chunk.damaged;
        result.problems.push(`${chunk.damaged} damaged record(s) in ${name} were skipped`);
        result.damaged.push({ name, bytes: buf });
      }
    }
    this.currentGen = live.length ? live[live.length - 1]! : baseGen;
    return result;
  }

  /**
   * Applies what other processes appended. Looks for a newer generation with one stat (cheap enough for every
   * batch) and lists the folder only when one appeared. Throws StoreOvertaken when another process's compaction
   * deleted journal this one had not finished (its snapshot has those records: reload).
   */
  catchUp(apply: (records: StoreRecord[]) => void): void {
    const newer = this.fs.size(this.file(this.currentGen + 1));
    // The current journal gone too: compacted away (two compactions ahead of us), or not created yet.
    const gone = this.positions.has(this.currentGen) && this.fs.size(this.file(this.currentGen)) === undefined;
    if (newer !== undefined || gone || !this.positions.has(this.currentGen)) {
      const names = this.fs.readdir(this.dir);
      const gens = names
        .map(parseJournalName)
        .filter((g): g is number => g !== undefined && g >= this.baseGen)
        .sort((a, b) => a - b);
      // The first generation we have not read to its end. If a newer snapshot exists and a journal between the
      // two is gone, another process compacted past records we never read: its snapshot has them.
      const unread = [...this.positions].filter(([, p]) => !p.complete).map(([g]) => g);
      const frontier = unread.length ? Math.min(...unread) : this.currentGen;
      if (gens.length && gens[0]! > frontier) {
        const snapshots = names.map((n) => parseSnapshotName(n)?.gen ?? -1);
        if (Math.max(...snapshots) > frontier) throw new StoreOvertaken();
      }
      for (const gen of gens)
        if (!this.positions.has(gen)) this.positions.set(gen, { offset: 0, trailing: 0, complete: false });
      if (gens.length) this.currentGen = Math.max(this.currentGen, gens[gens.length - 1]!);
    }
    for (const [gen, pos] of [...this.positions].sort((a, b) => a[0] - b[0])) {
      if (pos.complete) continue;
      const size = this.fs.size(this.file(gen));
      if (size === undefined) {
        this.positions.delete(gen);
        continue;
      }
      if (size > pos.offset + pos.trailing) {
        const chunk = parseChunk(this.fs.readRange(this.file(gen), pos.offset, size - pos.offset), this.owner);
        apply(chunk.records.map((r) => r.record));
        if (chunk.damaged > 0)
          this.log(`Agent Budget: skipped ${chunk.damaged} damaged record(s) in ${journalName(gen)}.`);
        pos.offset += chunk.consumed;
        pos.trailing = chunk.trailing;
      }
      if (gen < this.currentGen) pos.complete = true;
    }
  }

  /**
   * Appends `lines` to the newest generation. Call under the lock, caught up. A partial append (the disk filled
   * mid-write) is cut back off, so no torn line is left for others to skip; the caller is told it failed.
   */
  append(lines: Buffer[]): AppendHandle {
    const file = this.appendHandle();
    const position = this.positions.get(this.currentGen)!;
    // A torn last line (a crash mid-write) must not swallow our first record: start on a fresh line.
    const parts = position.trailing > 0 ? [Buffer.from('\n'), ...lines] : lines;
    const buf = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const end = position.offset + position.trailing;
    try {
      file.append(buf);
    } catch (err) {
      try {
        file.truncate(end);
      } catch {
        // left torn: readers skip it by its checksum, and the reload that follows re-reads the file
      }
      throw err;
    }
    position.offset = end + buf.length;
    position.trailing = 0;
    return file;
  }

  /** Syncs the folder when this process created a journal since the last call (before acknowledging its records). */
  async syncCreated(): Promise<void> {
    if (!this.unsyncedDir) return;
    await this.fs.syncDir(this.dir);
    this.unsyncedDir = false;
  }

  /** Bytes in the live journal as far as this process has read or written it (no stat). */
  bytes(): number {
    const p = this.positions.get(this.currentGen);
    return p ? p.offset + p.trailing : (this.fs.size(this.file(this.currentGen)) ?? 0);
  }

  /**
   * Starts the next generation (compaction, under the lock, caught up): creates its file durably and moves to it,
   * sealing the one before. Returns the new generation: a snapshot of memory now holds everything before it.
   */
  async rotate(apply: (records: StoreRecord[]) => void): Promise<number> {
    const gen = this.currentGen + 1;
    const created = this.fs.openAppend(this.file(gen));
    try {
      await created.datasync();
    } finally {
      created.close();
    }
    await this.fs.syncDir(this.dir);
    this.catchUp(apply); // marks the sealed generation complete and moves to the new one
    return gen;
  }

  closeHandle(): void {
    try {
      this.handle?.file.close();
    } catch {
      // already closed
    }
    this.handle = undefined;
  }

  /** The handle for the newest generation, reopened after a rotation. Call under the lock, after catchUp. */
  private appendHandle(): AppendHandle {
    // (No position for it: its file vanished under an open handle. Reopen, which recreates it.)
    if (this.handle?.gen === this.currentGen && this.positions.has(this.currentGen)) return this.handle.file;
    this.closeHandle();
    const name = this.file(this.currentGen);
    // A journal this call creates is a new folder entry: the folder is synced too before the write is acknowledged.
    if (this.fs.size(name) === undefined) this.unsyncedDir = true;
    const file = this.fs.openAppend(name);
    this.handle = { gen: this.currentGen, file };
    if (!this.positions.has(this.currentGen))
      this.positions.set(this.currentGen, { offset: 0, trailing: 0, complete: false });
    return file;
  }
}
