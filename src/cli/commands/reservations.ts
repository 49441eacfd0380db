import { formatUsd } from '../../core/money';
import { LiveReservationError, releaseReservations } from '../../core/runner/abandoned';
import type { Reservation } from '../../core/store/records';
import type { WorkspaceStore } from '../../core/store/store';
import { CliError, ExitCode, openWorkspace, printJson, type CliCommand, type CliContext } from '../context';

const USAGE =
  'agent-budget reservations [--json]\n' +
  '       agent-budget reservations release <id>…|--dead [--no-charge] [--force] [--json]';

/**
 * `agent-budget reservations`: the open reservations (budget held for calls in flight) with their owner and
 * whether it is alive; `release` closes stuck ones — charged as estimated by default (the call may have been
 * billed, and the ledger never under-counts), or without a charge with `--no-charge`. The workspace opens without
 * its own recovery, so what is listed is what is stuck, and `--no-charge` can still decide.
 */
export const reservationsCommand: CliCommand = {
  name: 'reservations',
  summary: 'list budget held for calls in flight; release stuck reservations',
  usage: USAGE,
  options: {
    dead: { type: 'boolean' },
    'no-charge': { type: 'boolean' },
    force: { type: 'boolean' },
  },
  positionals: true,
  async run(ctx, values, positionals) {
    const [action, ...ids] = positionals;
    if (action !== undefined && action !== 'release')
      throw new CliError(`unknown action "${action}".\nUsage: ${USAGE}`);
    if (action === undefined && (values.dead || values['no-charge'] || values.force || ids.length))
      throw new CliError(`--dead, --no-charge and --force go with "release".\nUsage: ${USAGE}`);
    if (action === 'release' && !values.dead && ids.length === 0)
      throw new CliError(`give the reservation id(s) to release, or --dead.\nUsage: ${USAGE}`);
    const workspace = await openWorkspace(ctx, { pollMs: 0, recover: false });
    try {
      if (workspace.store.report.problem) ctx.stderr.write(`${workspace.store.report.problem}\n`);
      if (action === 'release') return await release(ctx, workspace.store, ids, values);
      return list(ctx, workspace.store);
    } finally {
      await workspace.close();
    }
  },
};

function list(ctx: CliContext, store: WorkspaceStore): ExitCode {
  const now = Date.now();
  const rows = store.queries.openReservations().map((r) => ({
    r,
    alive: store.owners.judge(r.owner),
    silentMs: store.owners.silentForMs(r.owner),
  }));
  if (ctx.json) {
    printJson(
      ctx,
      rows.map(({ r, alive, silentMs }) => ({
        reservationId: r.id,
        owner: r.owner,
        alive,
        ...(silentMs !== undefined ? { silentSeconds: Math.round(silentMs / 1000) } : {}),
        runId: r.runId,
        workflow: r.workflow,
        provider: r.provider,
        model: r.model,
        heldMicros: r.micros,
        tokens: r.tokens,
        heldAt: new Date(r.ts).toISOString(),
        ageSeconds: Math.max(0, Math.round((now - r.ts) / 1000)),
      })),
    );
    return ExitCode.ok;
  }
  if (rows.length === 0) {
    ctx.stdout.write('No open reservations: no budget is held for a call in flight.\n');
    return ExitCode.ok;
  }
  const table = [
    ['RESERVATION', 'OWNER', 'ALIVE', 'RUN', 'WORKFLOW', 'MODEL', 'HELD', 'TOKENS', 'AGE'],
    ...rows.map(({ r, alive, silentMs }) => [
      r.id,
      r.owner.split(':').slice(0, 2).join(':'),
      alive === 'alive'
        ? 'yes'
        : alive === 'dead'
          ? 'no'
          : silentMs === undefined
            ? '?'
            : `? (silent ${age(silentMs)})`,
      r.runId ?? '-',
      r.workflow,
      r.model,
      formatUsd(r.micros),
      r.tokens.toLocaleString('en-US'),
      age(now - r.ts),
    ]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table)
    ctx.stdout.write(
      `${row
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
  const held = rows.reduce((n, { r }) => n + r.micros, 0);
  ctx.stdout.write(
    `\n${rows.length} open, ${formatUsd(held)} held. Stuck ones: agent-budget reservations release <id>|--dead [--no-charge]\n`,
  );
  return ExitCode.ok;
}

async function release(
  ctx: CliContext,
  store: WorkspaceStore,
  ids: string[],
  values: Record<string, unknown>,
): Promise<ExitCode> {
  const charge = values['no-charge'] !== true;
  const pick = (open: Reservation[]): Reservation[] => {
    const chosen = new Map<string, Reservation>();
    if (values.dead) for (const r of open) if (store.owners.judge(r.owner) === 'dead') chosen.set(r.id, r);
    for (const id of ids) {
      const matches = open.filter((r) => r.id === id || r.id.startsWith(id));
      const exact = matches.find((r) => r.id === id);
      if (!exact && matches.length === 0)
        throw new CliError(`no open reservation "${id}" (agent-budget reservations lists them).`);
      if (!exact && matches.length > 1)
        throw new CliError(`"${id}" matches several reservations (${matches.map((r) => r.id).join(', ')}).`);
      const r = exact ?? matches[0]!;
      chosen.set(r.id, r);
    }
    return [...chosen.values()];
  };
  let released;
  try {
    released = await releaseReservations(store, pick, { charge, force: values.force === true });
  } catch (err) {
    if (err instanceof LiveReservationError) throw new CliError(err.message);
    throw err;
  }
  const chargedMicros = released.reduce((n, r) => n + r.chargedMicros, 0);
  if (ctx.json) {
    printJson(ctx, {
      released: released.map(({ reservation: r, chargedMicros: c }) => ({
        reservationId: r.id,
        owner: r.owner,
        runId: r.runId,
        heldMicros: r.micros,
        chargedMicros: c,
      })),
      chargedMicros,
    });
    return ExitCode.ok;
  }
  if (released.length === 0) {
    ctx.stdout.write('Nothing to release: no open reservation has a dead owner.\n');
    return ExitCode.ok;
  }
  for (const { reservation: r, chargedMicros: c } of released) {
    ctx.stdout.write(
      `Released ${r.id} (${r.workflow}, ${r.model}, ${formatUsd(r.micros)} held): ` +
        `${charge ? `charged ${formatUsd(c)} as estimated` : 'no charge'}.\n`,
    );
  }
  if (released.length > 1) ctx.stdout.write(`Charged ${formatUsd(chargedMicros)} in all.\n`);
  return ExitCode.ok;
}

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}
