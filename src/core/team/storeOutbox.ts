import { lstatSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Micros } from '../money';
import type { LedgerEntry } from '../store/records';
import type { WorkspaceStore } from '../store/store';
import type { OfflineSnapshot } from './offline';
import type { TeamOutbox } from './outbox';
import type { TeamLedgerRow } from './types';

/** The cursor's file in the workspace's per-user state folder (beside the store's files, never in the repository). */
export const OUTBOX_FILE = 'team-outbox.json';

/**
 * How far back of the newest shipped row the outbox still looks. A row's `ts` is taken before its write waits for
 * the store's lock, so a row may land after a later-stamped one was shipped; ten minutes is far beyond any such
 * wait. Rows inside the window are told apart by id (`recent`), and the ledger ignores a replay anyway.
 */
export const OUTBOX_LAG_MS = 10 * 60_000;

/** What the cursor file keeps across processes: shipping progress, and what the offline allowance last knew. */
interface OutboxState {
  /** When this workspace joined the team ledger: rows stamped earlier are not the team's (absent: ship all). */
  since?: number;
  /** The newest `ts` of a shipped row: rows older than this minus the lag are all shipped. */
  watermark: number;
  /** Ids shipped within the lag window, with their `ts` (pruned as the watermark moves). */
  recent: Record<string, number>;
  /** The last online reading (OfflineAllowance.snapshot), so a process that starts offline has an allowance. */
  lastSeen?: OfflineSnapshot;
  /** µ$ settled offline since the ledger was last reached, by every process of this workspace: one outage, one allowance. */
  offlineSpent?: Micros;
}

/**
 * The local store as the team ledger's outbox: every ledger row of the workspace (calls, tool charges, estimated
 * charges of crashed calls) is written to the store first and shipped from it, oldest first, by a cursor kept in
 * `team-outbox.json`. A row is marked shipped only after the ledger has it; shipping twice is harmless (rows are
 * keyed by their local id), so a crash, a cut or two processes shipping at once never lose or double-count a row.
 *
 * The first time a workspace meets a team ledger the cursor starts now: spend from before joining the team is not
 * the team's. A cursor file that is unreadable (damaged, a link) ships every row again, the safe side: the ledger
 * drops what it already has, and an older local row can only make the team's counters stricter.
 */
export class StoreOutbox implements TeamOutbox {
  private state: OutboxState;
  private readonly file: string;

  constructor(
    private readonly store: WorkspaceStore,
    private readonly identity: { member: string; machine: string },
    now: number,
    private readonly log: (line: string) => void = () => undefined,
  ) {
    this.file = path.join(store.dir, OUTBOX_FILE);
    this.state = this.read(now);
  }

  get lastSeen(): OfflineSnapshot | undefined {
    return this.state.lastSeen;
  }

  get offlineSpent(): Micros {
    return this.state.offlineSpent ?? 0;
  }

  /** Keeps the offline allowance's reading and the outage's spend for the next process. */
  saveAllowance(lastSeen: OfflineSnapshot, offlineSpent: Micros): void {
    this.state.lastSeen = lastSeen;
    this.state.offlineSpent = offlineSpent;
    this.write();
  }

  pending(limit: number): Promise<TeamLedgerRow[]> {
    const out: TeamLedgerRow[] = [];
    const from = Math.max(this.state.since ?? Number.MIN_SAFE_INTEGER, this.state.watermark - OUTBOX_LAG_MS);
    for (const page of this.store.queries.ledgerRows(from, Number.MAX_SAFE_INTEGER)) {
      for (const entry of page) {
        if (Object.hasOwn(this.state.recent, entry.id)) continue;
        out.push(teamRowOf(entry, this.identity));
        if (out.length >= limit) return Promise.resolve(out);
      }
    }
    return Promise.resolve(out);
  }

  markShipped(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      const entry = this.store.queries.ledgerEntry(id);
      if (!entry) continue;
      this.state.recent[id] = entry.ts;
      if (entry.ts > this.state.watermark) this.state.watermark = entry.ts;
    }
    const floor = this.state.watermark - OUTBOX_LAG_MS;
    for (const [id, ts] of Object.entries(this.state.recent)) if (ts < floor) delete this.state.recent[id];
    this.write();
    return Promise.resolve();
  }

  private read(now: number): OutboxState {
    let text: string;
    try {
      if (lstatSync(this.file).isSymbolicLink()) throw new Error(`${this.file} is a symbolic link`);
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { since: now, watermark: now, recent: {} };
      return this.restart(err);
    }
    try {
      const v = JSON.parse(text) as Partial<OutboxState>;
      if (!Number.isSafeInteger(v.watermark) || typeof v.recent !== 'object' || v.recent === null)
        throw new Error('not a team outbox cursor');
      const recent: Record<string, number> = {};
      for (const [id, ts] of Object.entries(v.recent)) if (Number.isSafeInteger(ts)) recent[id] = ts;
      const remaining = v.lastSeen?.remainingMicros;
      return {
        ...(Number.isSafeInteger(v.since) ? { since: v.since } : {}),
        watermark: v.watermark!,
        recent,
        ...(remaining === null || Number.isSafeInteger(remaining) ? { lastSeen: { remainingMicros: remaining! } } : {}),
        offlineSpent: Number.isSafeInteger(v.offlineSpent) && v.offlineSpent! >= 0 ? v.offlineSpent : 0,
      };
    } catch (err) {
      return this.restart(err);
    }
  }

  private restart(err: unknown): OutboxState {
    this.log(
      `The team outbox's cursor ${this.file} could not be read (${(err as Error).message}): every local ledger row ` +
        'is shipped again (the team ledger ignores the ones it has).',
    );
    try {
      rmSync(this.file, { force: true }); // a link is removed, never followed
    } catch {
      // the write below replaces it, or fails loudly
    }
    return { watermark: Number.MIN_SAFE_INTEGER + OUTBOX_LAG_MS, recent: {} };
  }

  /** Write to a temporary file and rename over: a crash leaves the old cursor or the new, never half of one. */
  private write(): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}

/** A local ledger row as the team ledger keeps it: who and where, filed in the period its call was admitted in. */
export function teamRowOf(entry: LedgerEntry, identity: { member: string; machine: string }): TeamLedgerRow {
  return {
    id: entry.id,
    reservationId: entry.reservationId,
    member: identity.member,
    machine: identity.machine,
    ts: entry.heldAt ?? entry.ts,
    workflow: entry.workflow,
    provider: entry.provider,
    model: entry.model,
    client: entry.client ?? 'agent-budget',
    runId: entry.runId,
    task: entry.task,
    costMicros: entry.costMicros,
    estimated: entry.estimated,
    usage: entry.usage,
  };
}
