import { createHash } from 'node:crypto';
import path from 'node:path';
import { clockDomain, monotonicMs, parseOwner, pidVerdict, type OwnerProbe, type PidVerdict } from '../processIdentity';
import type { StoreFs } from './storeFs';

/** How often a process renews its heartbeat. */
export const HEARTBEAT_EVERY_MS = 3_000;
/**
 * A heartbeat older than this is a dead owner's. Ten beats: a process whose event loop stalls for a few seconds (a
 * large snapshot loading) is not taken for dead.
 */
export const LIVENESS_TIMEOUT_MS = 30_000;

/** A monotonic clock (ms) and the name of the boot it counts from (see processIdentity.ts). Injected in tests. */
export interface MonotonicClock {
  now(): number;
  domain: string;
}

export const systemMonotonic: MonotonicClock = { now: monotonicMs, domain: clockDomain() };

interface Beat {
  owner: string;
  domain: string;
  mono: number;
  n: number;
}

/** Padded so each beat overwrites the whole of the previous one in place (no truncate, no new blocks). */
const BEAT_BYTES = 320;

/**
 * Whether the owner of a lock, a run or a reservation is alive, and this process's own heartbeat.
 *
 * Each process keeps `owners/<hash>.beat` in the state folder, rewritten every few seconds with its reading of the
 * monotonic clock. An owner is judged:
 * 1. by its pid, where pids are comparable — same host and same PID namespace (processIdentity.ts pidVerdict):
 *    exact and immediate;
 * 2. otherwise by its heartbeat: none (it closed, or was found dead and cleaned up) → dead; written on the same
 *    boot's clock as ours → dead once older than the timeout; on another clock (WSL beside Windows, another
 *    machine) → dead once this process has watched it not change for the timeout, on its own monotonic clock.
 *    Never the wall clock: a clock moved a day must not kill a live owner, nor keep a dead one alive.
 * 3. owner strings from before heartbeats, on another host: unknown (alive; a lock of theirs still yields after a
 *    long hold, see lock.ts).
 * So a container or WSL sharing the host's name never has a live lock broken or a live run interrupted, and a
 * renamed host's reservations are released by its stale heartbeat.
 */
export class OwnerLiveness implements OwnerProbe {
  private beats = 0;
  private written = false;
  private readonly watched = new Map<string, { body: string; since: number }>();
  private readonly folder: string;

  constructor(
    dir: string,
    private readonly fs: StoreFs,
    readonly owner: string,
    private readonly clock: MonotonicClock = systemMonotonic,
    private readonly byPid: (owner: string) => PidVerdict = (o) => pidVerdict(o, undefined, owner),
  ) {
    this.folder = path.join(dir, 'owners');
  }

  /** The heartbeat file of `owner` (a hash: owner strings hold ':', which Windows file names may not). */
  fileOf(owner: string): string {
    return path.join(this.folder, `${createHash('sha256').update(owner).digest('hex').slice(0, 24)}.beat`);
  }

  /** Renews this process's heartbeat. Throws the file system's error (the caller decides what it costs). */
  beat(): void {
    if (!this.written) this.fs.mkdir(this.folder);
    const beat: Beat = { owner: this.owner, domain: this.clock.domain, mono: this.clock.now(), n: ++this.beats };
    this.fs.overwrite(this.fileOf(this.owner), Buffer.from(JSON.stringify(beat).padEnd(BEAT_BYTES, ' ')));
    this.written = true;
  }

  /** Before a lock or a record names this process: its heartbeat must exist, or others would take it for dead. */
  ensure(): void {
    if (!this.written) this.beat();
  }

  isAlive(owner: string): boolean {
    return this.judge(owner) !== 'dead';
  }

  judge(owner: string): PidVerdict {
    if (owner === this.owner) return 'alive';
    const byPid = this.byPid(owner);
    if (byPid !== 'unknown') return byPid;
    if (!parseOwner(owner)?.current) return 'unknown';
    let body: string;
    try {
      const read = this.read(owner);
      if (read === undefined) return 'dead';
      body = read;
    } catch {
      return 'unknown'; // unreadable (a link, an I/O error): no verdict
    }
    const beat = parseBeat(body);
    if (beat?.domain === this.clock.domain) {
      const age = this.clock.now() - beat.mono;
      if (age >= 0) return age > LIVENESS_TIMEOUT_MS ? 'dead' : 'alive';
    }
    return this.watch(owner, body);
  }

  /** How long ago `owner` last beat, when this process can tell (same clock, or watched), for display. */
  silentForMs(owner: string): number | undefined {
    try {
      const beat = parseBeat(this.read(owner) ?? '');
      if (beat?.domain === this.clock.domain) return Math.max(0, this.clock.now() - beat.mono);
    } catch {
      return undefined;
    }
    const seen = this.watched.get(owner);
    return seen ? this.clock.now() - seen.since : undefined;
  }

  /** Removes the heartbeats of owners judged dead (and unreadable ones that stayed unchanged for the timeout). */
  sweep(): number {
    let removed = 0;
    let names: string[];
    try {
      names = this.fs.readdir(this.folder);
    } catch {
      return 0;
    }
    for (const name of names) {
      const file = path.join(this.folder, name);
      if (!name.endsWith('.beat') || file === this.fileOf(this.owner)) continue;
      let body: string;
      try {
        body = this.fs.readRange(file, 0, BEAT_BYTES).toString('utf8');
      } catch {
        continue;
      }
      const owner = parseBeat(body)?.owner;
      const dead =
        owner !== undefined && this.fileOf(owner) === file
          ? this.judge(owner) === 'dead'
          : this.watch(`file:${name}`, body) === 'dead';
      if (dead) {
        this.fs.unlink(file);
        removed++;
      }
    }
    return removed;
  }

  /** On close: this process no longer owns anything live. */
  remove(): void {
    if (this.written) this.fs.unlink(this.fileOf(this.owner));
    this.written = false;
  }

  private read(owner: string): string | undefined {
    const file = this.fileOf(owner);
    if (this.fs.kind(file) === undefined) return undefined;
    return this.fs.readRange(file, 0, BEAT_BYTES).toString('utf8');
  }

  private watch(key: string, body: string): PidVerdict {
    const now = this.clock.now();
    const seen = this.watched.get(key);
    if (!seen || seen.body !== body) {
      this.watched.set(key, { body, since: now });
      return 'alive';
    }
    return now - seen.since > LIVENESS_TIMEOUT_MS ? 'dead' : 'alive';
  }
}

function parseBeat(body: string): Beat | undefined {
  try {
    const beat = JSON.parse(body) as Partial<Beat>;
    return typeof beat.owner === 'string' && typeof beat.domain === 'string' && typeof beat.mono === 'number'
      ? (beat as Beat)
      : undefined;
  } catch {
    return undefined;
  }
}
