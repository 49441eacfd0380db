import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname, uptime } from 'node:os';

/** What identity questions read from the system; injected in tests. */
export interface SystemFiles {
  read(file: string): string;
  readlink(file: string): string;
}

const systemFiles: SystemFiles = {
  read: (f) => readFileSync(f, 'utf8'),
  readlink: (f) => readlinkSync(f),
};

function bootId(files: SystemFiles): string | undefined {
  try {
    return files.read('/proc/sys/kernel/random/boot_id').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Which life of a process `pid` is, where the system can tell: on Linux the boot id and the process's start time in
 * clock ticks since boot (field 22 of /proc/<pid>/stat), so a pid reused after the owner died — by another process,
 * or after a reboot — reads differently. Undefined elsewhere, or when the process is gone.
 *
 * Linux only, by platform and not by whether /proc answers: on Windows `/proc/…` is a folder on the current drive
 * (anyone may create C:\proc), and under Wine it is Linux's own /proc, whose pids are not Windows' pids.
 */
export function processStart(
  pid: number,
  read: (file: string) => string = (f) => readFileSync(f, 'utf8'),
  platform: NodeJS.Platform = process.platform,
): string | undefined {
  if (platform !== 'linux') return undefined;
  try {
    const boot = read('/proc/sys/kernel/random/boot_id').trim();
    const stat = read(`/proc/${pid}/stat`);
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so count fields after the last ')' (field 3 on).
    const startTicks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return boot && startTicks && /^\d+$/.test(startTicks) ? `${boot}.${startTicks}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The PID namespace this process's pids mean something in. Two processes may compare pids only when they share it:
 * a container with host networking, or WSL beside Windows, has the host's name but its own pids. On Linux it is the
 * inode of /proc/self/ns/pid (the same number on every boot for the host's own namespace: the boot is told apart by
 * the owner's start); elsewhere the platform, whose processes share one pid space per machine. Undefined where
 * Linux will not say (then pids are never compared).
 */
export function pidNamespace(platform: NodeJS.Platform = process.platform, files = systemFiles): string | undefined {
  if (platform !== 'linux') return platform;
  try {
    const m = /^pid:\[(\d+)\]$/.exec(files.readlink('/proc/self/ns/pid'));
    return m ? `linux.${m[1]}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Milliseconds on a clock that never jumps and that every process of the same boot reads alike: libuv's hrtime is
 * CLOCK_MONOTONIC on Linux, mach_absolute_time on macOS and QueryPerformanceCounter on Windows, all counted from boot
 * and shared system-wide. Heartbeats are compared on it, never on the wall clock (which a user or NTP can move a day).
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

/**
 * Names the boot whose monotonic clock `monotonicMs` reads, so two processes know when they may subtract each
 * other's readings: Linux's boot id exactly; elsewhere the boot time to the minute, which two processes of one boot
 * compute alike (when they differ — a clock moved between the two — they fall back to watching, which is safe).
 */
export function clockDomain(platform: NodeJS.Platform = process.platform, files = systemFiles): string {
  const boot = platform === 'linux' ? bootId(files) : undefined;
  if (boot) return `boot.${boot}`;
  return `${platform}.${hostname()}.${Math.round((Date.now() / 1000 - uptime()) / 60)}`;
}

/**
 * Who owns a run, a reservation or a lock: `host:pid:nonce:start:ns` — `start` as processStart (empty where the
 * system does not say), `ns` as pidNamespace (empty where unknown). Older stores hold `host:pid:nonce[:start]`, still
 * read (see parseOwner). The nonce tells two lives of one pid apart in logs and names the owner's heartbeat.
 */
export const CURRENT_OWNER = (() => {
  const start = processStart(process.pid) ?? '';
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}:${start}:${pidNamespace() ?? ''}`;
})();

export interface OwnerId {
  host: string;
  pid: number;
  nonce: string;
  /** processStart of the owner, when its system told it. */
  start?: string;
  /** pidNamespace of the owner; undefined in owner strings written before namespaces were recorded. */
  ns?: string;
  /** Written with a namespace field (and so with a heartbeat: see store/liveness.ts). */
  current: boolean;
}

export function parseOwner(owner: string): OwnerId | undefined {
  const parts = owner.split(':');
  const [host, pidText, nonce, start, ns] = parts;
  const pid = Number(pidText);
  if (!host || !Number.isInteger(pid) || pid <= 0 || nonce === undefined || parts.length > 5) return undefined;
  return { host, pid, nonce, start: start || undefined, ns: ns || undefined, current: parts.length === 5 };
}

/** What liveness can say of an owner from the process table alone. */
export type PidVerdict = 'alive' | 'dead' | 'unknown';

export interface OwnerProbe {
  /**
   * False only when the owner is certainly gone. Unknown owners count as alive: a lock is never broken, nor a run
   * interrupted, on a guess.
   */
  isAlive(owner: string): boolean;
}

/** What the probe asks the system; injected in tests. */
export interface ProcessTable {
  /** Whether a process `pid` exists (signal 0). */
  exists(pid: number): boolean;
  start(pid: number): string | undefined;
}

const systemProcesses: ProcessTable = {
  exists(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
  start: (pid) => processStart(pid),
};

/**
 * Judges an owner by its pid where pids are comparable: the same host and — for owners that record it — the same
 * PID namespace. There the answer is exact: the pid is gone or now belongs to a later process (reused, or a
 * reboot) → dead; else alive. Anywhere else → unknown: heartbeats decide (store/liveness.ts). `processes`, `self`
 * and `where` are for tests.
 */
export function pidVerdict(
  owner: string,
  processes: ProcessTable = systemProcesses,
  self = CURRENT_OWNER,
  where: { host: string; ns: string | undefined } = { host: hostname(), ns: pidNamespace() },
): PidVerdict {
  if (owner === self) return 'alive';
  const o = parseOwner(owner);
  if (!o || o.host !== where.host) return 'unknown';
  if (o.current && (o.ns === undefined || o.ns !== where.ns)) return 'unknown';
  if (o.pid === process.pid && where.ns === pidNamespace()) return 'dead'; // an earlier life of our own pid
  if (!processes.exists(o.pid)) return 'dead';
  // A process runs under that pid; it is the owner unless its start says it is a later one.
  if (o.start === undefined) return 'alive';
  const now = processes.start(o.pid);
  return now === undefined || now === o.start ? 'alive' : 'dead';
}

/** The liveness check by pid alone (no heartbeats): unknown counts as alive. */
export function ownerProbe(processes: ProcessTable = systemProcesses, self = CURRENT_OWNER): OwnerProbe {
  return { isAlive: (owner) => pidVerdict(owner, processes, self) !== 'dead' };
}

export const processOwnerProbe: OwnerProbe = ownerProbe();

/** 64 characters in ASCII order, so ids sort as their creation times do. */
const SORTABLE = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';

/**
 * Added to the time before encoding: one in the leading digit, so ids start with '0' (until 2109, then '1') where
 * they used to start with '-'. Ids that start with '-' read as options on command lines and as formulas in
 * spreadsheets. The alphabet stays (the run-id checks of the panel and run output accept exactly
 * it), and since '-' < '0' every new id sorts after every id of the old encoding: old stores stay newest-first.
 */
const LEADING_DIGIT_OFFSET = 64 ** 7;

/**
 * A 16-character id for ledger rows, runs, tasks and reservations: 8 characters of creation time (ms) and 48
 * random bits. Time-ordered ids land at the right edge of the store's B-tree indexes, which keeps an insert
 * as cheap with a million rows as with a thousand.
 */
export function newId(now = Date.now()): string {
  let out = '';
  let t = now + LEADING_DIGIT_OFFSET;
  for (let i = 0; i < 8; i++) {
    out = SORTABLE[t % 64]! + out;
    t = Math.floor(t / 64);
  }
  if (poolOffset + 8 > pool.length) {
    pool = randomBytes(4096);
    poolOffset = 0;
  }
  for (let i = 0; i < 8; i++) out += SORTABLE[pool[poolOffset++]! & 63]!;
  return out;
}

// Random bytes drawn 4 KiB at a time: one crypto call per 512 ids instead of one per id (ids are minted on every
// admission and settlement, the budget engine's hot path).
let pool = Buffer.alloc(0);
let poolOffset = 0;
