/**
 * A separate process spending against one team ledger (bundled by childBundle.ts for the team race and crash
 * tests). argv: <mode> <url> <stateDir> <member> <machine> <teamDailyCapMicros> <leaseMs> <nowMs> <worstCaseMicros>
 * - `spend`: admit a call's worst case on the team ledger, write its ledger record to the workspace's local store
 *   (the store is written first, as the outbox requires), settle it on the team ledger; until a cap blocks.
 *   Prints `settled <id> <micros>` per call, then `blocked`.
 * - `hold`: admit three calls and never settle them (a process about to be SIGKILLed mid-call). Prints `held <id>`.
 */
import pg from 'pg';
import { newId } from '../../src/core/processIdentity';
import type { LedgerEntry } from '../../src/core/store/records';
import { UTC_DAYS, WorkspaceStore } from '../../src/core/store/store';
import { PostgresTeamLedger } from '../../src/core/team/postgresLedger';

async function main(): Promise<void> {
  const [mode, url, dir, member, machine, capText, leaseText, nowText, worstText] = process.argv.slice(2);
  const now = Number(nowText);
  const worst = Number(worstText);
  const ledger = new PostgresTeamLedger({
    url: url!,
    timeZone: 'UTC',
    leaseMs: Number(leaseText),
    maxConnections: 1,
    // 16 of these start at once on a small CI machine: connecting may take a while there.
    connectTimeoutMs: 30_000,
    driver: pg,
  });
  const admit = (reservationId: string) =>
    ledger.admit({
      reservationId,
      member: member!,
      machine: machine!,
      micros: worst,
      at: now,
      team: { daily: Number(capText) },
      memberCaps: {},
    });
  if (mode === 'hold') {
    for (let i = 0; i < 3; i++) {
      const id = newId();
      if (!(await admit(id)).ok) throw new Error('hold: not admitted');
      process.stdout.write(`held ${id}\n`);
    }
    setInterval(() => undefined, 60_000); // in flight until killed
    return;
  }
  const store = await WorkspaceStore.open({ dir: dir!, pollMs: 0, days: UTC_DAYS });
  for (let i = 0; ; i++) {
    const reservationId = newId();
    const decision = await admit(reservationId);
    if (!decision.ok) break;
    // The provider billed less than the worst case, by a different amount each call.
    const costMicros = worst - (i % 4) * 1_000;
    const entry: LedgerEntry = {
      id: newId(now),
      ts: now,
      provider: 'anthropic',
      model: 'claude-haiku-4-5',
      workflow: 'race',
      runId: `run-${process.pid}`,
      taskId: `task-${i}`,
      task: 'spend',
      tool: null,
      variant: null,
      usage: { input: 100, output: 200, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
      costMicros,
      estimated: false,
      requestId: null,
      latencyMs: null,
      reservationId,
      reservedMicros: worst,
      estimatedInputTokens: 100,
    };
    await store.commit([{ k: 'ledger', entry }]);
    await ledger.settle(reservationId, {
      id: entry.id,
      reservationId,
      member: member!,
      machine: machine!,
      ts: entry.ts,
      workflow: entry.workflow,
      provider: entry.provider,
      model: entry.model,
      client: 'agent-budget',
      runId: entry.runId,
      task: entry.task,
      costMicros,
      estimated: false,
      usage: entry.usage,
    });
    process.stdout.write(`settled ${entry.id} ${costMicros}\n`);
  }
  process.stdout.write('blocked\n');
  await store.close();
  await ledger.close();
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
