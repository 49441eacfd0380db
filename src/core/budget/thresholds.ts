import type { LedgerEntry, StoreRecord } from '../store/records';
import type { BudgetAlert, ScopeUse } from './types';

/**
 * Budget alerts (policy `alerts.thresholdsPct`): the thresholds a charge takes a capped USD scope across, each fired
 * once per scope and period across every process (the store records an alert as fired in the same write as the
 * charge that crossed it). Delivering them (notifications, the webhook) is src/core/report/alerts.ts.
 */

/** Thresholds `entry` takes a USD scope across, not yet fired for the scope's period. */
export function crossedThresholds(
  usd: readonly ScopeUse[],
  entry: LedgerEntry,
  thresholdsPct: readonly number[],
  fired: (scope: string, periodKey: string, pct: number) => boolean,
): BudgetAlert[] {
  const alerts: BudgetAlert[] = [];
  for (const use of usd) {
    if (use.limit === undefined || use.limit <= 0) continue;
    const after = use.used + entry.costMicros; // counters move when the charge's record applies, just after this
    const periodKey = use.key.slice(use.key.indexOf('@') + 1);
    for (const pct of thresholdsPct) {
      if (after * 100 >= use.limit * pct && !fired(use.scope, periodKey, pct)) {
        alerts.push({ scope: use.scope, periodKey, pct, usedMicros: after, limitMicros: use.limit });
      }
    }
  }
  return alerts;
}

/** The record marking `alert` fired, written with the charge that crossed it. */
export function alertRecord(alert: BudgetAlert, ts: number): StoreRecord {
  return { k: 'alert', scope: alert.scope, periodKey: alert.periodKey, pct: alert.pct, ts };
}
