import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { formatUsd, type Micros } from '../../core/money';
import { priceCall, UnknownModelError, type PriceLineKind } from '../../core/pricing/cost';
import { normalizeUsage, UsageShapeError } from '../../core/providers/normalize';
import { PROVIDERS, type ProviderId } from '../../core/usage';
import { CliError, ExitCode, loadPolicyFor, printJson, type CliCommand } from '../context';

/**
 * `agent-budget cost --provider P --model M --usage <json or @file>`: prices one call from the provider's raw
 * usage object (Anthropic `usage`, also `{message_start, message_delta}` — both, since message_start's output count
 * is a placeholder; OpenAI Chat Completions or Responses
 * `usage`; Gemini `usageMetadata`; or a whole response wrapping one) with the workspace's price overrides.
 */
export const costCommand: CliCommand = {
  name: 'cost',
  summary: "price one call from a provider's raw usage object",
  usage:
    'agent-budget cost --provider anthropic|openai|gemini --model <model> --usage <json | @file> [--date YYYY-MM-DD] [--workspace <dir>] [--json]',
  options: {
    provider: { type: 'string' },
    model: { type: 'string' },
    usage: { type: 'string' },
    /** The UTC day whose rates apply (a call made then); default today. */
    date: { type: 'string' },
  },
  async run(ctx, values) {
    const provider = values.provider;
    const model = values.model;
    const usageArg = values.usage;
    if (typeof provider !== 'string' || typeof model !== 'string' || typeof usageArg !== 'string') {
      throw new CliError(`--provider, --model and --usage are all required.\nUsage: ${costCommand.usage}`);
    }
    if (!PROVIDERS.includes(provider as ProviderId)) {
      throw new CliError(`unknown provider "${provider}": use one of ${PROVIDERS.join(', ')}.`);
    }
    const providerId = provider as ProviderId;
    const date = values.date;
    if (
      date !== undefined &&
      (typeof date !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00Z`)))
    ) {
      throw new CliError(`--date must be a day as YYYY-MM-DD (UTC), got "${String(date)}".`);
    }
    const raw = parseUsageJson(usageArg.startsWith('@') ? await readUsageFile(usageArg.slice(1)) : usageArg, usageArg);

    let normalized;
    try {
      normalized = normalizeUsage(providerId, raw);
    } catch (err) {
      if (err instanceof UsageShapeError) {
        throw new CliError(
          `--usage is not ${/^[aeiou]/.test(provider) ? 'an' : 'a'} ${provider} usage object: ${err.message}`,
        );
      }
      throw err;
    }

    const prices = (await loadPolicyFor(ctx)).policy.prices;

    let price;
    try {
      price = priceCall({
        provider: providerId,
        model,
        usage: normalized.usage,
        overrides: prices,
        context: { at: date },
      });
    } catch (err) {
      if (err instanceof UnknownModelError) throw new CliError(err.message);
      throw err;
    }

    if (ctx.json) {
      printJson(ctx, {
        provider: providerId,
        model,
        costMicros: price.costMicros,
        lines: price.lines,
        priceSource: price.priceSource,
        origin: price.origin,
        ...(price.promotionUntil ? { promotionUntil: price.promotionUntil } : {}),
        priceId: price.priceId,
        tier: price.tier,
        usageShape: normalized.shape,
        usage: normalized.usage,
      });
      return ExitCode.ok;
    }

    const rows = price.lines.map((l) => [LABELS[l.kind], l.tokens.toLocaleString('en-US'), exactUsd(l.micros)]);
    const total = price.lines.reduce((s, l) => s + l.tokens, 0);
    rows.push(['total', total.toLocaleString('en-US'), exactUsd(price.costMicros)]);
    const widths = [0, 1, 2].map((i) =>
      Math.max(['kind', 'tokens', 'cost'][i]!.length, ...rows.map((r) => r[i]!.length)),
    );
    const line = (r: string[]) =>
      `  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padStart(widths[1]!)}  ${r[2]!.padStart(widths[2]!)}`;
    const out = [
      `${providerId} ${model}${price.priceId !== model ? ` (priced as ${price.priceId})` : ''}: ${exactUsd(price.costMicros)} (${formatUsd(price.costMicros)})` +
        `${price.tier === 'above' ? ' — whole call at the long-prompt rates' : ''}`,
      line(['kind', 'tokens', 'cost']),
      ...rows.slice(0, -1).map(line),
      `  ${'-'.repeat(widths[0]! + widths[1]! + widths[2]! + 4)}`,
      line(rows[rows.length - 1]!),
      `Prices: ${price.priceSource}`,
    ];
    ctx.stdout.write(`${out.join('\n')}\n`);
    return ExitCode.ok;
  },
};

const LABELS: Record<PriceLineKind, string> = {
  input: 'input',
  cacheRead: 'cache read',
  cacheWrite5m: 'cache write 5m',
  cacheWrite1h: 'cache write 1h',
  output: 'output',
  reasoning: 'reasoning',
};

/** Every µ$ shown: `$0.004650`. */
function exactUsd(micros: Micros): string {
  return `$${(micros / 1_000_000).toFixed(6)}`;
}

async function readUsageFile(file: string): Promise<string> {
  try {
    return await readFile(path.resolve(file), 'utf8');
  } catch (err) {
    throw new CliError(
      `cannot read --usage file "${file}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

function parseUsageJson(text: string, arg: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const where = arg.startsWith('@') ? `the file ${arg.slice(1)}` : '--usage';
    throw new CliError(
      `${where} is not valid JSON (${(err as Error).message}). Pass the provider's usage object, e.g. --usage '{"input_tokens": 1200, "output_tokens": 300}'.`,
    );
  }
}
