import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PolicyError } from '../../core/policy/issues';
import { loadPolicy } from '../../core/policy/load';
import type { PriceOverride, PriceRates } from '../../core/policy/types';
import { resolvePrice, UnknownModelError } from '../../core/pricing/cost';
import { PRICE_TABLE_DATE, utcDay } from '../../core/pricing/prices';
import { GENAI_PRICES_DATA_DATE, GENAI_PRICES_VERSION } from '../../core/pricing/secondSource';
import { priceTable, priceTableAgeDays, stalePriceNotice, type PriceTableRow } from '../../core/pricing/table';
import { stateRoot, StateLocationError, type Env } from '../../core/statePaths';
import { PROVIDERS, type ProviderId } from '../../core/usage';
import { CliError, ExitCode, printJson, type CliCommand, type CliContext } from '../context';

/**
 * `agent-budget prices [--model M] [--provider P] [--date YYYY-MM-DD] [--json]`: the rates in force (today, UTC,
 * unless --date), promotions and when they end, the next announced change, each price's source and the day it was
 * checked, and budget.json's `prices` marked as overrides. `--model` shows the one entry a served model id bills
 * at — a dated snapshot resolves to its model, and a model only the second source lists shows that source.
 */
export const pricesCommand: CliCommand = {
  name: 'prices',
  summary: 'the price table: rates in force, promotions, sources and dates, budget.json overrides',
  usage:
    'agent-budget prices [--model <model>] [--provider anthropic|openai|gemini] [--date YYYY-MM-DD] [--workspace <dir>] [--json]',
  options: {
    model: { type: 'string' },
    provider: { type: 'string' },
    date: { type: 'string' },
  },
  async run(ctx, values) {
    const provider = values.provider as string | undefined;
    if (provider !== undefined && !PROVIDERS.includes(provider as ProviderId)) {
      throw new CliError(`unknown provider "${provider}": use one of ${PROVIDERS.join(', ')}.`);
    }
    const date = values.date as string | undefined;
    if (date !== undefined && !isDay(date)) {
      throw new CliError(`--date must be a day as YYYY-MM-DD (UTC), got "${date}".`);
    }
    const day = date ?? utcDay(Date.now());
    let overrides: Record<string, PriceOverride>;
    try {
      overrides = (await loadPolicy(ctx.workspace)).policy.prices;
    } catch (err) {
      if (err instanceof PolicyError) throw new CliError(err.message);
      throw err;
    }

    let rows: PriceTableRow[];
    const model = values.model as string | undefined;
    if (model !== undefined) {
      rows = [modelRow(model, provider as ProviderId | undefined, overrides, day)];
    } else {
      rows = priceTable(overrides, day).filter((r) => provider === undefined || r.provider === provider);
    }

    if (ctx.json) {
      printJson(ctx, {
        day,
        tableDate: PRICE_TABLE_DATE,
        tableAgeDays: priceTableAgeDays(Date.parse(`${day}T00:00:00Z`)),
        secondSource: {
          name: '@pydantic/genai-prices',
          version: GENAI_PRICES_VERSION,
          dataDate: GENAI_PRICES_DATA_DATE,
        },
        models: rows,
      });
      return ExitCode.ok;
    }
    ctx.stdout.write(`${renderRows(rows, day)}\n`);
    return ExitCode.ok;
  },
};

/** The one row `model` bills at: a table or budget.json entry (its snapshot or alias resolved), or the second source. */
function modelRow(
  model: string,
  provider: ProviderId | undefined,
  overrides: Record<string, PriceOverride>,
  day: string,
): PriceTableRow {
  let price;
  try {
    price = resolvePrice(provider, model, overrides, { at: day });
  } catch (err) {
    if (err instanceof UnknownModelError) throw new CliError(err.message);
    throw err;
  }
  const listed = priceTable(overrides, day).find((r) => r.id === price.priceId && r.provider === price.provider);
  if (listed && (price.origin === 'table' || price.origin === 'policy')) return listed;
  return {
    id: price.priceId,
    provider: price.provider,
    aliases: [],
    origin: price.origin,
    replacesBuiltIn: false,
    rates: price.base,
    ...(price.above ? { above: price.above } : {}),
    contextWindow: price.contextWindow,
    source: price.priceSource,
    note:
      price.origin === 'local'
        ? 'A local model: free on your own loopback endpoint.'
        : 'Not in the built-in table: priced by the second source (genai-prices) and marked so in the ledger.',
  };
}

function isDay(s: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`));
}

/** `$0.10` for per-million rates: up to four decimals, no trailing zeros past the cents. */
function usd(perMTok: number): string {
  const fixed = perMTok.toFixed(4).replace(/0{1,2}$/, '');
  return `$${fixed}`;
}

function ratesText(r: Required<PriceRates>): string {
  return (
    `${usd(r.inputPerMTok)} in · ${usd(r.outputPerMTok)} out · ${usd(r.cacheReadPerMTok)} cache read · ` +
    `${usd(r.cacheWrite5mPerMTok)} / ${usd(r.cacheWrite1hPerMTok)} cache write 5m / 1h`
  );
}

function renderRows(rows: PriceTableRow[], day: string): string {
  const lines = [
    `Prices in force on ${day} (UTC), USD per million tokens · built-in table checked ${PRICE_TABLE_DATE}`,
    '',
  ];
  for (const r of rows) {
    const tag = r.origin === 'policy' ? (r.replacesBuiltIn ? ' [budget.json override]' : ' [budget.json]') : '';
    lines.push(`${r.id} (${r.provider})${tag}${r.aliases.length ? ` — also ${r.aliases.join(', ')}` : ''}`);
    lines.push(`  ${ratesText(r.rates)}`);
    if (r.above) lines.push(`  prompts over ${r.above.tokens.toLocaleString('en-US')} tokens: ${ratesText(r.above)}`);
    if (r.promotionUntil) lines.push(`  promotional rate until ${r.promotionUntil}`);
    if (r.nextChange) lines.push(`  from ${r.nextChange.day}: ${ratesText(r.nextChange.rates)}`);
    const limits = [
      r.contextWindow ? `${r.contextWindow.toLocaleString('en-US')} context` : '',
      r.maxOutputTokens ? `${r.maxOutputTokens.toLocaleString('en-US')} max output` : '',
    ].filter(Boolean);
    if (limits.length) lines.push(`  ${limits.join(' · ')}`);
    lines.push(`  source: ${r.source}${r.asOf ? ` (checked ${r.asOf})` : ''}`);
  }
  lines.push('', 'Override or add a price under "prices" in .agent-budget/budget.json (docs/policy.md).');
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// The once-a-month notice that the built-in table is old (stderr, so --json output stays one document)

/**
 * The per-user folder the notice is remembered in: the per-user state root (statePaths.ts) as the environment the CLI
 * was given names it. Without a home there (nor AGENT_BUDGET_STATE_HOME, LOCALAPPDATA or XDG_STATE_HOME) the notice
 * is not shown: a notice that cannot be remembered would repeat on every command.
 */
export function userStateRoot(env: Env, platform: NodeJS.Platform = process.platform): string | undefined {
  const home = env.HOME ?? env.USERPROFILE;
  const named = env.AGENT_BUDGET_STATE_HOME ?? (platform === 'win32' ? env.LOCALAPPDATA : env.XDG_STATE_HOME);
  if (!home && !named) return undefined;
  try {
    return stateRoot({ platform, env, homedir: () => home ?? '', realpath: (p) => p });
  } catch (err) {
    if (err instanceof StateLocationError) return undefined;
    throw err;
  }
}

const NOTICE_FILE = 'price-table-notice.json';

/** Prints the stale-table notice on stderr at most once a month per user; never fails the command it precedes. */
export async function noticeStalePrices(ctx: Pick<CliContext, 'env' | 'stderr'>, now = Date.now()): Promise<void> {
  const root = userStateRoot(ctx.env);
  if (!root) return;
  const file = path.join(root, NOTICE_FILE);
  let last: string | undefined;
  try {
    const saved = JSON.parse(await readFile(file, 'utf8')) as { month?: unknown };
    if (typeof saved.month === 'string') last = saved.month;
  } catch {
    // first notice, or an unreadable file: it is rewritten below
  }
  const notice = stalePriceNotice(now, last);
  if (!notice) return;
  ctx.stderr.write(`agent-budget: ${notice.message}\n`);
  try {
    await mkdir(root, { recursive: true });
    await writeFile(`${file}.tmp`, JSON.stringify({ month: notice.month }));
    await rename(`${file}.tmp`, file);
  } catch {
    // a read-only home: the notice comes again next time, which is better than none
  }
}
