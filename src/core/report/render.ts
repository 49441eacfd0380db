import type { BudgetLevel } from '../budget/engine';
import {
  bar,
  csvRow,
  formatMoney,
  formatPct,
  formatUnitCost,
  formatTokens,
  groupThousands,
  mdCell,
  mdCode,
  mdTable,
  microsToUsdText,
} from './format';
import { experimentsMarkdown } from './experiments';
import { OWN_CLIENT } from '../store/records';
import type { InventoryEstimate } from './estimate';
import type { CapUse, ReportRow, SpendReport } from './report';

/**
 * The report as text: Markdown for the editor's preview (and the README), CSV for spreadsheets. Both read a
 * SpendReport and compute nothing of their own beyond formatting, so they cannot disagree with `--json`.
 */

const LEVEL_TEXT: Record<BudgetLevel, string> = {
  ok: '🟢 ok',
  warn: '🟡 warn',
  critical: '🟠 critical',
  blocked: '🔴 at cap',
};

const PERIOD_WORD = { daily: 'daily', weekly: 'weekly', monthly: 'monthly' } as const;

function money(m: number): string {
  return formatMoney(m);
}

function capText(c: CapUse, monthReport: boolean): string {
  const whole = monthReport && c.period === 'monthly';
  return whole ? c.periodKey : `peak ${c.periodKey}`;
}

/** Renders the report as Markdown: short headings, tables, money as $1,234.56 (µ$ kept where small). */
export function renderReportMarkdown(r: SpendReport): string {
  const out: string[] = [];
  const month = r.kind === 'month';
  out.push(`# Agent Budget report — ${r.title}`);
  out.push('');
  out.push(
    `**${mdCell(r.workspace)}** · ${r.fromDate} to ${r.toDate} (${mdCell(r.timeZone)}) · generated ${r.generatedAt.slice(0, 16).replace('T', ' ')} UTC` +
      (r.current ? ' · the period is still running' : ''),
  );
  out.push('');

  // Summary
  out.push('## Summary');
  out.push('');
  const monthly = r.caps.find((c) => c.period === 'monthly');
  const capLine =
    month && monthly
      ? ` — ${formatPct(monthly.pct)} of the ${money(monthly.limitMicros)} monthly cap (${LEVEL_TEXT[monthly.level]})`
      : '';
  out.push(
    `- **Spent ${money(r.totalMicros)}** in ${groupThousands(r.calls)} calls (${formatTokens(r.tokens)} tokens)${capLine}`,
  );
  if (r.estimatedMicros > 0) {
    out.push(
      `- Of which **${money(r.estimatedMicros)} estimated** (${formatPct((r.estimatedMicros / Math.max(1, r.totalMicros)) * 100)}): ` +
        'calls whose usage never arrived, charged at their reservation',
    );
  }
  if (r.cache.savedMicros > 0) {
    out.push(
      `- Prompt caching saved **${money(r.cache.savedMicros)}** against the uncached input rate (net ${money(r.cache.netMicros)} after cache-write premiums)`,
    );
  }
  const monthForecast = r.forecast?.caps.find((c) => c.scope === 'workspace.monthly');
  if (r.forecast && monthForecast) {
    const when = monthForecast.reached
      ? 'the monthly cap is **already reached**'
      : monthForecast.reachesOn
        ? `the monthly cap is reached on **${monthForecast.reachesOn}**`
        : `the month ends at about ${money(monthForecast.projectedMicros)}, under the ${money(monthForecast.limitMicros)} cap`;
    out.push(`- At this rate (${money(r.forecast.burn.perDayMicros)}/day since ${r.forecast.burn.sinceDay}) ${when}`);
    // Other caps the pace reaches before they reset (or that are reached already): the ones to act on.
    for (const c of r.forecast.caps.filter((x) => x !== monthForecast && (x.reached || x.reachesOn)).slice(0, 3)) {
      const who = c.workflow
        ? `**${mdCell(c.workflow)}**'s ${PERIOD_WORD[c.period]} cap`
        : `the ${PERIOD_WORD[c.period]} cap`;
      out.push(
        `- ${c.reached ? `${who} (${money(c.limitMicros)}) is reached` : `At this rate ${who} (${money(c.limitMicros)}) is reached on **${c.reachesOn}**`}`,
      );
    }
  } else if (month && monthly?.reachedOn) {
    out.push(`- The monthly cap was reached on **${monthly.reachedOn}**`);
  }
  if (r.roi.valueMicros > 0) {
    out.push(
      `- Estimated value **${money(r.roi.valueMicros)}** for ${money(r.roi.spendMicros)} of spend on the workflows it covers` +
        (r.roi.returnMultiple !== null ? ` (${r.roi.returnMultiple.toFixed(1)}× return)` : ''),
    );
  }
  const top = r.top.workflows[0];
  if (top)
    out.push(`- Largest consumer: **${mdCell(top.key)}**, ${money(top.micros)} (${formatPct(top.sharePct)} of spend)`);
  out.push('');

  if (r.totalMicros === 0 && r.calls === 0) {
    out.push('_No spend recorded in this period._');
    out.push('');
  }

  // Caps
  if (r.caps.length > 0) {
    out.push('## Budget caps');
    out.push('');
    out.push(
      mdTable(
        ['Cap', 'Limit', 'Used', 'Period', '%', 'Health', 'Reached'],
        r.caps.map((c) => [
          `workspace ${PERIOD_WORD[c.period]}`,
          money(c.limitMicros),
          money(c.usedMicros),
          capText(c, month),
          formatPct(c.pct),
          LEVEL_TEXT[c.level],
          c.periodsAtCap > 0
            ? `${c.reachedOn ?? ''}${c.periods > 1 ? ` (${c.periodsAtCap} of ${c.periods} ${periodsWord(c)})` : ''}`
            : '–',
        ]),
        ['left', 'right', 'right', 'left', 'right', 'left', 'left'],
      ),
    );
    out.push('');
  }

  // Workflows
  if (r.byWorkflow.length > 0) {
    out.push('## By workflow');
    out.push('');
    out.push(
      mdTable(
        ['Workflow', 'Spend', 'Share', 'Calls', 'Tokens', 'Runs', 'Per run', 'Caps', 'Health'],
        r.byWorkflow.map((w) => [
          mdCell(w.key),
          money(w.micros),
          formatPct(w.sharePct),
          groupThousands(w.calls),
          formatTokens(w.tokens),
          groupThousands(w.runs),
          w.costPerRunMicros === null ? '–' : formatUnitCost(w.costPerRunMicros),
          w.caps.length
            ? w.caps.map((c) => `${PERIOD_WORD[c.period]} ${money(c.limitMicros)}: ${formatPct(c.pct)}`).join(' · ')
            : '–',
          w.caps.length ? LEVEL_TEXT[w.level] : '–',
        ]),
        ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'left', 'left'],
      ),
    );
    out.push('');
  }

  // Models and providers
  if (r.byModel.length > 0) {
    out.push('## By model');
    out.push('');
    out.push(
      mdTable(
        ['Model', 'Provider', 'Spend', 'Share', 'Calls', 'Tokens', 'Cache saved'],
        r.byModel.map((m) => [
          mdCell(m.key),
          mdCell(m.provider),
          money(m.micros),
          formatPct(m.sharePct),
          groupThousands(m.calls),
          formatTokens(m.tokens),
          m.cacheSavedMicros > 0 ? money(m.cacheSavedMicros) : '–',
        ]),
        ['left', 'left', 'right', 'right', 'right', 'right', 'right'],
      ),
    );
    out.push('');
    out.push('## By provider');
    out.push('');
    out.push(simpleTable('Provider', r.byProvider));
    out.push('');
  }
  // Only our own workflows spent: a one-row table would say nothing.
  if (r.byClient.some((c) => c.key !== OWN_CLIENT)) {
    out.push('## By client');
    out.push('');
    out.push(simpleTable('Client', r.byClient));
    out.push('');
  }

  if (r.byTask.length > 0) {
    out.push('## By task');
    out.push('');
    out.push(simpleTable('Task (step)', r.byTask));
    out.push('');
  }
  if (r.byTool.length > 0) {
    out.push('## By tool');
    out.push('');
    out.push(simpleTable('Tool', r.byTool));
    out.push('');
  }

  // Days
  const spendDays = r.byDay.filter((d) => d.micros !== 0 || d.calls !== 0);
  if (spendDays.length > 0) {
    const max = Math.max(...spendDays.map((d) => d.micros));
    out.push('## By day');
    out.push('');
    out.push(
      mdTable(
        ['Day', 'Spend', 'Calls', 'Tokens', ''],
        spendDays.map((d) => [
          mdCell(d.key),
          money(d.micros),
          groupThousands(d.calls),
          formatTokens(d.tokens),
          bar(d.micros, max),
        ]),
        ['left', 'right', 'right', 'right', 'left'],
      ),
    );
    out.push('');
    out.push(`${spendDays.length} of ${r.byDay.length} days had spend.`);
    out.push('');
  }

  // Top runs
  if (r.top.runs.length > 0) {
    out.push('## Top runs');
    out.push('');
    out.push(
      mdTable(
        ['Run', 'Workflow', 'Status', 'Spend', 'Tokens', 'Started'],
        r.top.runs.map((t) => [
          `${mdCode(t.runId.slice(0, 12))} ${mdCell(truncate(t.title, 40))}`,
          mdCell(t.workflow),
          mdCell(t.status),
          money(t.micros),
          formatTokens(t.tokens),
          t.createdAt.slice(0, 16).replace('T', ' '),
        ]),
        ['left', 'left', 'left', 'right', 'right', 'left'],
      ),
    );
    out.push('');
  }

  // Cache
  if (r.cache.byModel.length > 0) {
    out.push('## Cache savings');
    out.push('');
    out.push(
      mdTable(
        ['Model', 'Cache reads', 'Saved', 'Cache writes', 'Write premium'],
        r.cache.byModel.map((c) => [
          mdCell(c.model),
          formatTokens(c.readTokens),
          c.unpriced ? 'no price' : money(c.savedMicros),
          formatTokens(c.writeTokens),
          c.unpriced ? '–' : money(c.writePremiumMicros),
        ]),
        ['left', 'right', 'right', 'right', 'right'],
      ),
    );
    out.push('');
    out.push(
      "Saved = cache reads priced at the model's input rate minus what they cost; write premium = what cache writes cost above the input rate.",
    );
    out.push('');
  }

  // Estimates
  const e = r.estimate;
  if (e.calls > 0 || e.reservedCalls > 0) {
    out.push('## Estimates vs actual');
    out.push('');
    if (e.calls > 0) {
      out.push(
        `- Prompt estimates: ${formatTokens(e.estimatedInputTokens)} estimated vs ${formatTokens(e.actualInputTokens)} actual prompt tokens over ` +
          `${groupThousands(e.calls)} calls (${e.inputErrorPct === null ? '–' : `${e.inputErrorPct >= 0 ? '+' : ''}${formatPct(e.inputErrorPct)}`})`,
      );
    }
    if (e.reservedCalls > 0) {
      out.push(
        `- Reservations: ${money(e.reservedMicros)} held for calls that cost ${money(e.actualMicros)} ` +
          `(${e.reservationUsedPct === null ? '–' : formatPct(e.reservationUsedPct)} of the worst case used)`,
      );
    }
    out.push('');
    if (e.reservedCalls > 0) {
      out.push(
        'Prompt estimates are what each call was expected to bill (the tokenizer for OpenAI models, a per-model ' +
          "calibration on this workspace's calls for the others). A reservation holds a call's worst case — its " +
          "prompt's upper bound and its whole answer limit, at the dearest rate it may bill — until the provider " +
          'reports its usage, then the rest goes back to the budget: that is what keeps a hard limit hard.',
      );
      out.push('');
    }
  }

  // ROI
  out.push('## Value');
  out.push('');
  if (r.roi.workflows.length > 0) {
    out.push(
      mdTable(
        ['Workflow', 'Runs', 'Value per run', 'Value', 'Spend', 'Net', 'Return'],
        r.roi.workflows.map((w) => [
          mdCell(w.workflow),
          groupThousands(w.runs),
          w.valuePerRunMicros === null
            ? '–'
            : `${money(w.valuePerRunMicros)}${w.basis === 'minutesSaved' ? ` (${w.minutesSavedPerRun} min)` : ''}`,
          w.valueMicros === null ? '–' : money(w.valueMicros),
          money(w.spendMicros),
          w.netMicros === null ? '–' : money(w.netMicros),
          w.returnMultiple === null ? '–' : `${w.returnMultiple.toFixed(1)}×`,
        ]),
        ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
      ),
    );
    out.push('');
    out.push(
      `Value counts completed runs not marked rejected${r.roi.hourlyRateUsd !== null ? `, at ${money(Math.round(r.roi.hourlyRateUsd * 1e6))}/hour` : ''}; ` +
        "spend is all of the workflow's, failed runs included.",
    );
    out.push('');
  }
  for (const note of r.roi.notes) {
    out.push(`_${mdCell(note)}_`);
    out.push('');
  }

  // Forecast
  if (r.forecast && r.forecast.caps.length > 0) {
    out.push('## Forecast');
    out.push('');
    out.push(
      mdTable(
        ['Cap', 'Limit', 'Used', 'Per day', 'Projected', 'Cap reached'],
        r.forecast.caps.map((c) => [
          `${mdCell(c.workflow ?? 'workspace')} ${PERIOD_WORD[c.period]} (${c.periodKey})`,
          money(c.limitMicros),
          `${money(c.usedMicros)} (${formatPct(c.pct)})`,
          money(c.burnPerDayMicros),
          money(c.projectedMicros),
          c.reached ? '**reached**' : c.reachesOn ? `**${c.reachesOn}**` : 'not this period',
        ]),
        ['left', 'right', 'right', 'right', 'right', 'left'],
      ),
    );
    out.push('');
    out.push(
      `Per day = average spend since ${r.forecast.burn.sinceDay} (last 7 days at most); projections assume that pace holds until the period resets.`,
    );
    out.push('');
  }

  // Variants
  if (r.variants.length > 0) {
    out.push('## Variants');
    out.push('');
    for (const v of r.variants) {
      out.push(`### ${mdCell(v.workflow)}`);
      out.push('');
      out.push(
        mdTable(
          ['Variant', 'Runs', 'Per run', 'Tokens per run', 'Failed', 'Accepted', 'Per accepted'],
          v.variants.map((x) => [
            mdCode(x.variant),
            groupThousands(x.runs),
            formatUnitCost(x.costPerRunMicros),
            formatTokens(x.tokensPerRun),
            x.failureRatePct === null ? '–' : formatPct(x.failureRatePct),
            x.acceptanceRatePct === null ? '–' : `${formatPct(x.acceptanceRatePct)} of ${x.accepted + x.rejected}`,
            x.costPerAcceptedMicros === null ? '–' : formatUnitCost(x.costPerAcceptedMicros),
          ]),
          ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
        ),
      );
      out.push('');
    }
    out.push(
      'Failed = failed ÷ finished runs; accepted = accepted ÷ marked runs (`agent-budget mark <run> accepted|rejected`).',
    );
    out.push('');
  }
  out.push(...experimentsMarkdown(r.experiments));

  return `${out.join('\n').trimEnd()}\n`;
}

function periodsWord(c: CapUse): string {
  return c.period === 'daily' ? 'days' : c.period === 'weekly' ? 'weeks' : 'months';
}

function simpleTable(label: string, rows: ReportRow[]): string {
  return mdTable(
    [label, 'Spend', 'Share', 'Calls', 'Tokens'],
    rows.map((r) => [
      mdCell(r.key),
      money(r.micros),
      formatPct(r.sharePct),
      groupThousands(r.calls),
      formatTokens(r.tokens),
    ]),
    ['left', 'right', 'right', 'right', 'right'],
  );
}

function truncate(s: string, n: number): string {
  const line = s.replace(/\s+/g, ' ').trim();
  return line.length > n ? `${line.slice(0, n - 1)}…` : line;
}

// ---------------------------------------------------------------------------------------------------------------
// CSV

/** Columns of the report CSV: one table, every line a row of one section of the report. */
export const REPORT_CSV_COLUMNS = [
  'section',
  'key',
  'provider',
  'micros',
  'usd',
  'calls',
  'tokens',
  'estimated_micros',
  'limit_micros',
  'pct',
  'level',
] as const;

/**
 * The report as ONE CSV table in long format (RFC 4180, CRLF, header first): each line is a row of one section,
 * named in the `section` column, so a spreadsheet filter or `csvgrep -c section -m workflow` gives any table back
 * and every line has the same columns. Sections: `total`; `cap` (workspace caps, peak use; key = scope, with
 * limit/pct/level); `workflow` (with its worst cap's limit/pct/level); `model` (with provider); `provider`;
 * `day` (every day, zeros too); `task`; `tool`; `cache-savings` (micros = saved, tokens = cache-read tokens);
 * `top-run` (key = run id). Money as integer µ$ and as exact dollars (`usd`). ROI, forecasts and variants are in
 * `--json` and the Markdown report.
 */
export function renderReportCsv(r: SpendReport): string {
  const lines: string[] = [csvRow([...REPORT_CSV_COLUMNS])];
  const add = (
    section: string,
    key: string,
    v: {
      provider?: string;
      micros: number;
      calls?: number;
      tokens?: number;
      estimatedMicros?: number;
      limit?: number;
      pct?: number;
      level?: string;
    },
  ) =>
    lines.push(
      csvRow([
        section,
        key,
        v.provider ?? '',
        v.micros,
        microsToUsdText(v.micros),
        v.calls ?? '',
        v.tokens ?? '',
        v.estimatedMicros ?? '',
        v.limit ?? '',
        v.pct === undefined ? '' : Math.round(v.pct * 100) / 100,
        v.level ?? '',
      ]),
    );
  add('total', `${r.fromDate}..${r.toDate}`, {
    micros: r.totalMicros,
    calls: r.calls,
    tokens: r.tokens,
    estimatedMicros: r.estimatedMicros,
  });
  for (const c of r.caps)
    add('cap', c.scope, { micros: c.usedMicros, limit: c.limitMicros, pct: c.pct, level: c.level });
  for (const w of r.byWorkflow) {
    const worst = [...w.caps].sort((a, b) => b.pct - a.pct)[0];
    add('workflow', w.key, {
      micros: w.micros,
      calls: w.calls,
      tokens: w.tokens,
      estimatedMicros: w.estimatedMicros,
      limit: worst?.limitMicros,
      pct: worst?.pct,
      level: worst ? w.level : undefined,
    });
  }
  for (const m of r.byModel)
    add('model', m.key, {
      provider: m.provider,
      micros: m.micros,
      calls: m.calls,
      tokens: m.tokens,
      estimatedMicros: m.estimatedMicros,
    });
  const rows = (section: string, list: ReportRow[]) => {
    for (const x of list)
      add(section, x.key, { micros: x.micros, calls: x.calls, tokens: x.tokens, estimatedMicros: x.estimatedMicros });
  };
  rows('provider', r.byProvider);
  rows('client', r.byClient);
  rows('day', r.byDay);
  rows('task', r.byTask);
  rows('tool', r.byTool);
  for (const c of r.cache.byModel)
    add('cache-savings', c.model, { provider: c.provider, micros: c.savedMicros, tokens: c.readTokens });
  for (const t of r.top.runs) add('top-run', t.runId, { micros: t.micros, calls: t.calls, tokens: t.tokens });
  return lines.join('');
}

// ---------------------------------------------------------------------------------------------------------------
// Estimate

/** The inventory forecast as Markdown (the "Estimate Workflow Cost…" command and `agent-budget estimate`). */
export function renderEstimateMarkdown(e: InventoryEstimate, source: string): string {
  const out: string[] = [];
  out.push(`# Agent Budget estimate — ${mdCell(source)}`);
  out.push('');
  const monthly = e.caps.find((c) => c.period === 'monthly');
  out.push(
    `- **${money(e.totalMicros)} a month** for ${e.byWorkflow.length} workflow${e.byWorkflow.length === 1 ? '' : 's'}` +
      (monthly
        ? ` — ${formatPct(monthly.pct)} of the ${money(monthly.limitMicros)} monthly cap, headroom ${money(monthly.headroomMicros)} (${LEVEL_TEXT[monthly.level]})`
        : ''),
  );
  if (e.byWorkflow.some((w) => w.actual)) {
    out.push(`- With recent actuals where there are any: **${money(e.totalWithActualsMicros)} a month**`);
  }
  out.push('');
  out.push(
    mdTable(
      ['Workflow', 'Model', 'Runs/month', 'Tokens per run (in / out)', 'Per run', 'Per month', 'From actuals', 'Caps'],
      e.byWorkflow.map((w) => [
        mdCell(w.key),
        mdCell(w.priceId && w.priceId !== w.model ? `${w.model} (${w.priceId})` : w.model),
        groupThousands(w.runsPerMonth),
        `${formatTokens(w.inputTokensPerRun)} / ${formatTokens(w.outputTokensPerRun)}${w.callsPerRun !== 1 ? ` (${w.callsPerRun} turns)` : ''}`,
        w.error ? '**no price**' : formatUnitCost(w.costPerRunMicros),
        w.error ? '–' : `**${money(w.micros)}**`,
        w.actual
          ? `${money(w.actual.monthlyMicros)} (${formatUnitCost(w.actual.costPerRunMicros)}/run over ${w.actual.runs} runs)`
          : '–',
        w.caps.length
          ? w.caps
              .map((c) => `${c.period} ${money(c.limitMicros)}: ${formatPct(c.pct)} ${LEVEL_TEXT[c.level]}`)
              .join(' · ')
          : '–',
      ]),
      ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'left'],
    ),
  );
  out.push('');
  if (e.caps.length > 0) {
    out.push('## Against the workspace caps');
    out.push('');
    out.push(
      mdTable(
        ['Cap', 'Limit', 'Forecast', 'Headroom', '%', 'Health'],
        e.caps.map((c) => [
          `workspace ${c.period}`,
          money(c.limitMicros),
          money(c.forecastMicros),
          money(c.headroomMicros),
          formatPct(c.pct),
          LEVEL_TEXT[c.level],
        ]),
        ['left', 'right', 'right', 'right', 'right', 'left'],
      ),
    );
    out.push('');
    out.push('Daily and weekly forecasts spread the month evenly (a month = 30.44 days).');
    out.push('');
  }
  for (const err of e.errors) {
    out.push(`> ${mdCell(err)}`);
    out.push('');
  }
  out.push(
    'Priced with the same price table and budget.json overrides as real calls (input and output at base rates, no caching).',
  );
  return `${out.join('\n').trimEnd()}\n`;
}
