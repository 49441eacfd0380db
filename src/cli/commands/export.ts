import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { daysToMs, isDayKey, isMonthKey, monthDays, today } from '../../core/report/days';
import { exportLedger, type ExportFormat } from '../../core/report/export';
import { CliError, ExitCode, openWorkspace, type CliCommand } from '../context';

/**
 * `agent-budget export [--month M | --from D [--to D]] [--csv | --json | --jsonl] [--out F]`: the raw ledger (every
 * billed call and tool charge) of a range of days in the policy's zone (default: everything), streamed page by
 * page. CSV by default; `--json` is one JSON array (the one document of docs/cli.md's --json), `--jsonl` one object a
 * line. With `--out` the file is written beside itself and renamed when complete, and a one-line summary goes to
 * stderr; without, the rows go to stdout.
 */
export const exportCommand: CliCommand = {
  name: 'export',
  summary: 'stream the raw ledger (CSV, JSON or JSON lines) for a date range',
  usage:
    'agent-budget export [--month YYYY-MM | --from YYYY-MM-DD [--to YYYY-MM-DD]] [--csv | --json | --jsonl] [--out <file>] [--workspace <dir>]',
  options: {
    month: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    csv: { type: 'boolean' },
    jsonl: { type: 'boolean' },
    out: { type: 'string' },
  },
  async run(ctx, values) {
    const formats = [values.csv === true && 'csv', ctx.json && 'json', values.jsonl === true && 'jsonl'].filter(
      Boolean,
    ) as ExportFormat[];
    if (formats.length > 1)
      throw new CliError(`choose one of --csv, --json and --jsonl.\nUsage: ${exportCommand.usage}`);
    const format = formats[0] ?? 'csv';
    const workspace = await openWorkspace(ctx, { pollMs: 0 });
    try {
      if (workspace.store.report.problem) ctx.stderr.write(`${workspace.store.report.problem}\n`);
      const tz = workspace.policy.timeZone;
      const range = exportRange(values, tz);
      const { fromMs, toMs } = range ? daysToMs(range, tz) : { fromMs: 0, toMs: Number.MAX_SAFE_INTEGER };
      const out = typeof values.out === 'string' ? path.resolve(values.out) : undefined;
      if (!out) {
        try {
          await exportLedger(workspace.store.queries, ctx.stdout, { fromMs, toMs, format, timeZone: tz });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EPIPE') return ExitCode.ok; // `| head`: the reader has what it wanted
          throw err;
        }
        return ExitCode.ok;
      }
      const partial = `${out}.partial`;
      const file = createWriteStream(partial);
      try {
        const result = await exportLedger(workspace.store.queries, file, { fromMs, toMs, format, timeZone: tz });
        file.end();
        await finished(file);
        await rename(partial, out);
        ctx.stderr.write(
          `Exported ${result.rows.toLocaleString('en-US')} ledger row(s)${range ? ` from ${range.fromDay} to ${range.toDay}` : ''} to ${out}.\n`,
        );
        return ExitCode.ok;
      } catch (err) {
        file.destroy();
        await rm(partial, { force: true });
        const code = (err as NodeJS.ErrnoException).code;
        if (code) throw new CliError(`cannot write ${out}: ${code} (${(err as Error).message})`);
        throw err;
      }
    } finally {
      await workspace.close();
    }
  },
};

function exportRange(
  values: Record<string, unknown>,
  tz: string | undefined,
): { fromDay: string; toDay: string } | undefined {
  const month = values.month as string | undefined;
  const from = values.from as string | undefined;
  const to = values.to as string | undefined;
  if (month !== undefined) {
    if (from !== undefined || to !== undefined)
      throw new CliError(`give --month or --from/--to, not both.\nUsage: ${exportCommand.usage}`);
    if (!isMonthKey(month)) throw new CliError(`"${month}" is not a month: write it as YYYY-MM.`);
    return monthDays(month);
  }
  if (from === undefined && to === undefined) return undefined;
  if (from === undefined) throw new CliError(`--to needs --from.\nUsage: ${exportCommand.usage}`);
  const end = to ?? today(Date.now(), tz);
  for (const d of [from, end]) if (!isDayKey(d)) throw new CliError(`"${d}" is not a date: write it as YYYY-MM-DD.`);
  if (end < from) throw new CliError(`the range ends (${end}) before it starts (${from}).`);
  return { fromDay: from, toDay: end };
}
