import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * Who owns a run, a reservation or a lock: `host:pid:nonce`. The nonce tells two lives of one pid apart in logs;
 * liveness is judged by the pid on the same host.
 */
export const CURRENT_OWNER = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

export interface OwnerProbe {
  /** False only when the owner is certainly gone (same host, pid not running). Unknown hosts count as alive. */
  isAlive(owner: string): boolean;
}

export const processOwnerProbe: OwnerProbe = {
  isAlive(owner) {
    const [host, pidText] = owner.split(':');
    const pid = Number(pidText);
    if (host !== hostname() || !Number.isInteger(pid) || pid <= 0) return true;
    if (owner === CURRENT_OWNER) return true;
    if (pid === process.pid) return false; // an earlier life of our own pid
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
};

/** 64 characters in ASCII order, so ids sort as their creation times do. */
const SORTABLE = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';

/**
 * A 16-character id for ledger rows, runs, tasks and reservations: 8 characters of creation time (ms) and 48
 * random bits. Time-ordered ids land at the right edge of the store's B-tree indexes, which keeps an insert
 * as cheap with a million rows as with a thousand.
 */
export function newId(now = Date.now()): string {
  let out = '';
  let t = now;
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
