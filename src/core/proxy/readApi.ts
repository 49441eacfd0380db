import { collectStatus, runsDocument } from '../report/documents';
import { buildReport, currentMonth, type ReportPeriod } from '../report/report';
import { RUN_STATUSES, type RunStatus } from '../store/records';
import type { Workspace } from '../workspace';
import { clientCaps, type ProxyClient } from './tokens';

/**
 * `/agent-budget/v1/status`, `report` and `runs`: the same documents as `agent-budget status|report|runs --json`
 * (docs/cli.md), for statuslines, hooks and CI scripts. Query parameters are the CLI's options (`?month=`, `?from=&to=`,
 * `?status=a,b&limit=`); a bad one is a 400 with `{error}`.
 */
export function readApi(
  workspace: Workspace,
  resource: 'status' | 'report' | 'runs',
  query: URLSearchParams,
  clients: readonly ProxyClient[],
  now = Date.now(),
): { status: number; body: unknown } {
  try {
    switch (resource) {
      case 'status': {
        const caps = Object.fromEntries(clients.map((c) => [c.name, clientCaps(c)]));
        return { status: 200, body: { scopes: collectStatus(workspace, now, caps) } };
      }
      case 'report':
        return { status: 200, body: buildReport(workspace, reportPeriod(workspace, query, now), { now }) };
      case 'runs':
        return { status: 200, body: runsDocument(workspace, runsOptions(query)) };
    }
  } catch (err) {
    if (err instanceof RangeError) return { status: 400, body: { error: err.message } };
    throw err;
  }
}

function reportPeriod(workspace: Workspace, query: URLSearchParams, now: number): ReportPeriod {
  const month = query.get('month');
  const from = query.get('from');
  const to = query.get('to');
  if (month !== null && (from !== null || to !== null)) throw new RangeError('give month, or from and to, not both.');
  if (from !== null) {
    if (to === null) throw new RangeError('from needs to (both YYYY-MM-DD).');
    return { from, to };
  }
  return { month: month ?? currentMonth(workspace.policy, now) };
}

function runsOptions(query: URLSearchParams): { status?: RunStatus[]; limit?: number } {
  const options: { status?: RunStatus[]; limit?: number } = {};
  const status = query.get('status');
  if (status !== null) {
    const list = status.split(',').map((s) => s.trim()) as RunStatus[];
    const bad = list.filter((s) => !RUN_STATUSES.includes(s));
    if (bad.length) throw new RangeError(`unknown status "${bad.join('", "')}": use ${RUN_STATUSES.join(', ')}.`);
    options.status = list;
  }
  const limit = query.get('limit');
  if (limit !== null) {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`limit must be a whole number ≥ 1, got "${limit}".`);
    options.limit = n;
  }
  return options;
}
