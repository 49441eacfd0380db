import type { TeamLedger, TeamLedgerRow } from './types';

/**
 * The local store's side of shipping: every record lands in the workspace store first, and the team ledger gets
 * it from there. The store implements this with a cursor over its ledger records (the wiring phase); a row is
 * marked shipped only after the ledger has it, so a crash or a cut in between ships it again, which the ledger
 * ignores (rows are keyed by their local id).
 */
export interface TeamOutbox {
  /** Up to `limit` rows not yet marked shipped, oldest first. */
  pending(limit: number): Promise<TeamLedgerRow[]>;
  /** The ledger has these rows now (counted, or already there). */
  markShipped(ids: readonly string[]): Promise<void>;
}

export interface DrainResult {
  shipped: number;
  counted: number;
  duplicates: number;
  conflicts: string[];
}

/**
 * Ships everything pending, batch by batch, until the outbox is empty. Rows in `settled` (settled online by this
 * process, not yet known to be on the server's disk) are confirmed instead of shipped again — the ledger checks it
 * has them and makes them durable — and only those it lacks (lost in a server crash) are shipped. Throws what the
 * ledger throws (unreachable: the rest stays pending for the next drain); what was shipped before stays marked.
 */
export async function drainOutbox(
  ledger: TeamLedger,
  outbox: TeamOutbox,
  batch = 500,
  settled: Set<string> = new Set(),
): Promise<DrainResult> {
  const result: DrainResult = { shipped: 0, counted: 0, duplicates: 0, conflicts: [] };
  for (;;) {
    const rows = await outbox.pending(batch);
    if (rows.length === 0) return result;
    const known = rows.filter((r) => settled.has(r.id)).map((r) => r.id);
    const present = new Set(await ledger.confirm(known));
    const toShip = rows.filter((r) => !present.has(r.id));
    if (toShip.length > 0) {
      const shipped = await ledger.ship(toShip);
      result.counted += shipped.counted;
      result.duplicates += shipped.duplicates;
      result.conflicts.push(...shipped.conflicts);
    }
    result.duplicates += present.size;
    await outbox.markShipped(rows.map((r) => r.id));
    for (const id of known) settled.delete(id);
    result.shipped += rows.length;
  }
}
