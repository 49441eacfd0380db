// The budget panel's browser bundle. It talks to the extension only through ./protocol.ts: it posts `ready`
// once listening, renders each `snapshot` it is sent, and asks for actions with request/reply.
// Rendering is lit (already a dependency of @vscode-elements/elements, so it costs no extra bytes): templates
// escape every value, and nothing here sets innerHTML or a style attribute (the CSP has no 'unsafe-inline').
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-tab-header/index.js';
import '@vscode-elements/elements/dist/vscode-tab-panel/index.js';
import '@vscode-elements/elements/dist/vscode-tabs/index.js';
import { html, nothing, render, type TemplateResult } from 'lit';
import { spendTable, useBar } from './bar';
import { dayChart } from './chart';
import { experimentsSection } from './experiments';
import { formatDay, formatPct, formatTime, formatTokens, formatUsd } from './format';
import './panel.css';
import { teamSection } from './team';
import {
  DEFAULT_VIEW_STATE,
  DIMENSIONS,
  RANGES,
  RequestChannel,
  TABS,
  type Dimension,
  type HostMessage,
  type PanelRequest,
  type PanelSnapshot,
  type PanelViewState,
  type RangeId,
  type RunRow,
  type WebviewMessage,
} from './protocol';

interface VsCodeApi {
  postMessage(message: WebviewMessage): void;
  getState(): unknown;
  setState(state: PanelViewState): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const channel = new RequestChannel((m) => vscode.postMessage(m));

const RANGE_LABELS: Record<RangeId, string> = {
  today: 'Today',
  '7d': 'Last 7 days',
  '30d': 'Last 30 days',
  month: 'This month',
  lastMonth: 'Last month',
  '90d': 'Last 90 days',
};
const DIMENSION_LABELS: Record<Dimension, string> = {
  workflow: 'Workflow',
  model: 'Model',
  provider: 'Provider',
  task: 'Task',
  tool: 'Tool',
  client: 'Client',
};
const EMPTY_KEY: Record<Dimension, string> = {
  workflow: '(none)',
  model: '(none)',
  provider: '(none)',
  task: '(outside a task)',
  tool: '(model calls)',
  client: '(none)',
};

function initialState(): PanelViewState {
  const saved = vscode.getState() as Partial<PanelViewState> | undefined;
  let fromHost: Partial<PanelViewState> = {};
  try {
    fromHost = JSON.parse(document.body.dataset.initialState ?? '{}') as Partial<PanelViewState>;
  } catch {
    // keep defaults
  }
  const pick = <T extends string>(values: readonly T[], ...candidates: unknown[]): T | undefined =>
    candidates.find((c): c is T => typeof c === 'string' && (values as readonly string[]).includes(c));
  return {
    range: pick(RANGES, saved?.range, fromHost.range) ?? DEFAULT_VIEW_STATE.range,
    tab: pick(TABS, fromHost.tab, saved?.tab) ?? DEFAULT_VIEW_STATE.tab,
  };
}

let state = initialState();
let snapshot: PanelSnapshot | undefined;
let highlighted: string | undefined;
const busy = new Set<string>();
let error: string | undefined;
const root = document.getElementById('app')!;
// lit appends to a container it did not render before: drop the static "Loading…" placeholder first.
root.replaceChildren();

function setView(next: Partial<PanelViewState>): void {
  state = { ...state, ...next };
  vscode.setState(state);
  vscode.postMessage({ type: 'view', state });
  draw();
}

async function act(key: string, request: PanelRequest): Promise<void> {
  busy.add(key);
  error = undefined;
  draw();
  try {
    await channel.request(request);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  } finally {
    busy.delete(key);
    draw();
  }
}

window.addEventListener('message', (event: MessageEvent<HostMessage>) => {
  const message = event.data;
  if (!message || typeof message !== 'object') return;
  if (channel.receive(message)) return;
  if (message.type === 'snapshot') {
    const first = snapshot === undefined;
    snapshot = message.snapshot;
    draw();
    // Report the first paint (two frames: layout, then paint) for the time-to-data measurement.
    if (first)
      requestAnimationFrame(() =>
        requestAnimationFrame(() => vscode.postMessage({ type: 'painted', generatedAt: message.snapshot.generatedAt })),
      );
  } else if (message.type === 'team') {
    // The team ledger's reading, for the snapshot shown (the host drops one of a range no longer picked).
    if (snapshot) {
      snapshot = { ...snapshot, team: message.team };
      draw();
    }
  } else if (message.type === 'reveal') {
    highlighted = message.runId;
    state = { ...state, tab: 'runs' };
    vscode.setState(state);
    draw();
    requestAnimationFrame(() =>
      document.querySelector(`[data-run-id="${CSS.escape(message.runId)}"]`)?.scrollIntoView({ block: 'center' }),
    );
  }
});

function draw(): void {
  render(view(), root);
}

function view(): TemplateResult {
  const tabIndex = TABS.indexOf(state.tab);
  return html`
    <header class="toolbar">
      <h1><vscode-icon name="pulse"></vscode-icon> Agent Budget</h1>
      <label class="range">
        <span>Range</span>
        <vscode-single-select
          aria-label="Range"
          .value=${state.range}
          @change=${(e: Event) => setView({ range: (e.target as HTMLSelectElement).value as RangeId })}
        >
          ${RANGES.map((r) => html`<vscode-option value=${r} ?selected=${r === state.range}>${RANGE_LABELS[r]}</vscode-option>`)}
        </vscode-single-select>
      </label>
      <span class="spacer"></span>
      ${
        snapshot?.canExport
          ? html`<vscode-button
                secondary
                icon="export"
                ?disabled=${busy.has('export-csv')}
                @click=${() => act('export-csv', { kind: 'export', format: 'csv' })}
                >Export CSV</vscode-button
              >
              <vscode-button
                secondary
                icon="json"
                ?disabled=${busy.has('export-json')}
                @click=${() => act('export-json', { kind: 'export', format: 'json' })}
                >Export JSON</vscode-button
              >`
          : nothing
      }
      <vscode-button secondary icon="settings-gear" @click=${() => act('policy', { kind: 'editPolicy' })}
        >Budget policy</vscode-button
      >
    </header>
    ${error ? html`<p class="error" role="alert"><vscode-icon name="error"></vscode-icon> ${error}</p>` : nothing}
    ${
      snapshot?.policyError
        ? html`<p class="error" role="alert">
            <vscode-icon name="error"></vscode-icon> Runs are stopped: budget.json is not valid.
            ${snapshot.policyError.split('\n')[1] ?? ''}
          </p>`
        : nothing
    }
    ${
      snapshot
        ? html`<vscode-tabs
            selected-index=${tabIndex}
            @vsc-tabs-select=${(e: CustomEvent<{ selectedIndex: number }>) => setView({ tab: TABS[e.detail.selectedIndex] ?? 'overview' })}
          >
            <vscode-tab-header slot="header">Overview</vscode-tab-header>
            <vscode-tab-panel>${overview(snapshot)}</vscode-tab-panel>
            <vscode-tab-header slot="header">Breakdown</vscode-tab-header>
            <vscode-tab-panel>${breakdowns(snapshot)}</vscode-tab-panel>
            <vscode-tab-header slot="header">Runs${toResumeBadge(snapshot)}</vscode-tab-header>
            <vscode-tab-panel
              >${runs(snapshot)} ${experimentsSection(snapshot, (k, r) => void act(k, r), busy)}</vscode-tab-panel
            >
            <vscode-tab-header slot="header">Prices</vscode-tab-header>
            <vscode-tab-panel>${prices(snapshot)}</vscode-tab-panel>
          </vscode-tabs>`
        : html`<p class="muted">Loading spend…</p>`
    }
  `;
}

function overview(s: PanelSnapshot): TemplateResult {
  const dailyCap = s.scopes.find((x) => x.scope === 'workspace.daily')?.limitMicros;
  const est = s.estimate;
  return html`
    <section aria-labelledby="scopes-h">
      <h2 id="scopes-h">Budgets now</h2>
      ${
        s.scopes.length === 0
          ? html`<p class="muted">No USD caps are set. Add <code>limits.workspace.dailyUsd</code> to budget.json.</p>`
          : html`<table class="scopes">
              <thead>
                <tr>
                  <th>Scope</th>
                  <th class="num">Used</th>
                  <th class="num">Limit</th>
                  <th class="bar-col">Use</th>
                  <th>Resets</th>
                </tr>
              </thead>
              <tbody>
                ${s.scopes.map(
                  (x) =>
                    html`<tr class="level-${x.level}">
                      <td>${x.label}</td>
                      <td class="num">
                        ${formatUsd(x.usedMicros + x.reservedMicros)}${x.reservedMicros > 0 ? html` <span class="muted">(${formatUsd(x.reservedMicros)} held)</span>` : nothing}
                      </td>
                      <td class="num">${formatUsd(x.limitMicros)}</td>
                      <td class="bar-col">
                        ${useBar(x.pct, `${x.label} ${formatPct(x.pct)}`)}
                        <span class="pct">${formatPct(x.pct)}</span>
                      </td>
                      <td>${x.resetsAt ? formatTime(x.resetsAt) : ''}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }
    </section>
    ${teamSection(s.team, RANGE_LABELS[s.range])}
    <section class="cards" aria-label="Summary">
      <div class="card">
        <h3>Spent (${RANGE_LABELS[s.range].toLowerCase()})</h3>
        <p class="big">${formatUsd(s.totals.costMicros)}</p>
        <p class="muted">
          ${s.totals.calls.toLocaleString()} calls · ${formatTokens(s.totals.tokens)}
          tokens${s.totals.estimatedMicros > 0 ? html` · ${formatUsd(s.totals.estimatedMicros)} estimated` : nothing}
        </p>
      </div>
      <div class="card">
        <h3>Burn rate</h3>
        <p class="big">${formatUsd(s.burnPerDayMicros)}<span class="unit">/day</span></p>
        ${
          s.forecasts.length === 0
            ? html`<p class="muted">No weekly or monthly cap to forecast.</p>`
            : s.forecasts.map(
                (f) =>
                  html`<p class="forecast">
                    ${
                      f.reachesOn
                        ? html`<vscode-icon name="warning"></vscode-icon> At this rate ${f.cap}
                            (${formatUsd(f.limitMicros)}) is reached on <strong>${formatDay(f.reachesOn)}</strong>.`
                        : html`At this rate spend reaches ${formatUsd(f.projectedMicros)} of ${f.cap}
                          (${formatUsd(f.limitMicros)}) by the end of the ${f.period === 'weekly' ? 'week' : 'month'}.`
                    }
                  </p>`,
              )
        }
      </div>
      <div class="card">
        <h3>Estimate vs actual</h3>
        ${
          est.calls === 0 && est.reservedCalls === 0
            ? html`<p class="muted">No calls in this range.</p>`
            : html`<p>
                  Prompt tokens: estimated ${formatTokens(est.estimatedInput)}, actual ${formatTokens(est.actualInput)}
                  ${est.actualInput > 0 ? html`<span class="muted">(${formatPct(((est.estimatedInput - est.actualInput) / est.actualInput) * 100, true)})</span>` : nothing}
                </p>
                <p>
                  Held ${formatUsd(est.reservedMicros)} for ${est.reservedCalls.toLocaleString()} calls that cost
                  ${formatUsd(est.actualMicros)}.
                </p>
                <p class="muted">
                  Each call holds its worst case (its prompt's upper bound and its whole answer limit) until the
                  provider reports what it used; the rest goes back to the budget at once.
                </p>`
        }
      </div>
      <div class="card">
        <h3>Cache savings</h3>
        <p class="big">${formatUsd(s.cache.savedMicros)}</p>
        <p class="muted">
          ${formatTokens(s.cache.readTokens)} tokens read from cache, ${formatTokens(s.cache.writeTokens)}
          written${
            s.cache.writePremiumMicros > 0
              ? html` (writes cost ${formatUsd(s.cache.writePremiumMicros)} extra:
                  <span data-cache-net>${formatUsd(s.cache.savedMicros - s.cache.writePremiumMicros)} net</span>)`
              : nothing
          }.
        </p>
      </div>
    </section>
    <section aria-labelledby="chart-h">
      <h2 id="chart-h">Spend by day</h2>
      ${dayChart(s.byDay, dailyCap)}
    </section>
    <section aria-labelledby="top-h">
      <h2 id="top-h">Top consumers</h2>
      <div class="grid">
        ${(['workflow', 'model'] as const).map((d) => breakdownTable(d, s.breakdowns[d].slice(0, 5)))}
      </div>
    </section>
  `;
}

function breakdowns(s: PanelSnapshot): TemplateResult {
  return html`<div class="grid">${DIMENSIONS.map((d) => breakdownTable(d, s.breakdowns[d]))}</div>`;
}

function breakdownTable(d: Dimension, rows: PanelSnapshot['breakdowns'][Dimension]): TemplateResult {
  const labels = {
    heading: `By ${DIMENSION_LABELS[d].toLowerCase()}`,
    column: DIMENSION_LABELS[d],
    none: EMPTY_KEY[d],
    empty: 'No spend in this range.',
  };
  return html`<div class="breakdown" data-dimension=${d}>${spendTable(labels, rows)}</div>`;
}

/** The price table in force today: what each model costs, promotions and changes ahead, and where it came from. */
function prices(s: PanelSnapshot): TemplateResult {
  const p = s.prices;
  // $/MTok as published: cents always, sub-cent digits when there are any ($0.20, $0.075, $8.00).
  const rate = (usd: number) => `$${usd.toFixed(4).replace(/0{1,2}$/, '')}`;
  return html`<section aria-labelledby="prices-h" class="prices">
    <h2 id="prices-h">Prices in force on ${formatDay(p.day, false)} (UTC)</h2>
    <p class="muted">
      USD per million tokens, as the providers publish them; each call is billed at the rates of its day. Built-in table
      checked ${formatDay(p.tableDate, false)}. Set or override a price under <code>prices</code> in budget.json.
    </p>
    ${
      p.stale
        ? html`<p class="warning" role="status">
            <vscode-icon name="warning"></vscode-icon> The built-in table is over 60 days old: a provider may have
            changed a price since. Update Agent Budget, or set the price under <code>prices</code> in budget.json.
          </p>`
        : nothing
    }
    <table>
      <thead>
        <tr>
          <th>Model</th>
          <th>Provider</th>
          <th class="num">Input</th>
          <th class="num">Output</th>
          <th class="num">Cache read</th>
          <th class="num">Cache write 5m / 1h</th>
          <th>Notes</th>
          <th>Source</th>
        </tr>
      </thead>
      <tbody>
        ${p.rows.map(
          (r) =>
            html`<tr data-model=${r.model}>
              <td>${r.model}</td>
              <td>${r.provider}</td>
              <td class="num">${rate(r.inputPerMTok)}</td>
              <td class="num">${rate(r.outputPerMTok)}</td>
              <td class="num">${rate(r.cacheReadPerMTok)}</td>
              <td class="num">${rate(r.cacheWrite5mPerMTok)} / ${rate(r.cacheWrite1hPerMTok)}</td>
              <td>
                ${[
                  r.origin === 'policy' ? (r.replacesBuiltIn ? 'budget.json override' : 'from budget.json') : '',
                  r.promotionUntil ? `promotion until ${r.promotionUntil}` : '',
                  r.nextChange && r.nextChange !== r.promotionUntil ? `changes ${r.nextChange}` : '',
                  r.aboveTokens !== null ? `higher rates over ${formatTokens(r.aboveTokens)} prompt tokens` : '',
                ]
                  .filter(Boolean)
                  .join(' · ')}
              </td>
              <td class="source">${r.source}${r.asOf ? html` <span class="muted">(${r.asOf})</span>` : nothing}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

/** "2 to resume" beside the Runs tab, and nothing at 0 (a bare "0" read as "no runs"). */
function toResumeBadge(s: PanelSnapshot): TemplateResult | typeof nothing {
  const n = s.runs.filter((r) => r.resumable).length;
  return n > 0
    ? html` <vscode-badge title="${n} run${n === 1 ? '' : 's'} to resume">${n} to resume</vscode-badge>`
    : nothing;
}

function runs(s: PanelSnapshot): TemplateResult {
  if (s.runs.length === 0)
    return html`<p class="muted">
      No runs started ${RANGE_LABELS[s.range].toLowerCase()}. Run a workflow from the command palette: "Agent Budget:
      Run Workflow…".
    </p>`;
  return html`<table class="runs">
    <thead>
      <tr>
        <th>Workflow</th>
        <th>Status</th>
        <th class="num">Cost</th>
        <th class="num">Tokens</th>
        <th>Started</th>
        <th>Actions</th>
      </tr>
    </thead>
    <tbody>
      ${s.runs.map((r) => runRow(r, s.canRun))}
    </tbody>
  </table>`;
}

function runRow(r: RunRow, canRun: boolean): TemplateResult {
  const key = (what: string) => `${what}:${r.id}`;
  return html`<tr data-run-id=${r.id} class=${r.id === highlighted ? 'highlight' : ''}>
    <td class="run-name">
      <strong>${r.workflow}</strong>
      <div class="muted title" title=${r.title}>${r.title}</div>
    </td>
    <td data-label="Status"><span class="status status-${r.status}">${r.status}</span></td>
    <td class="num" data-label="Cost">
      ${formatUsd(r.costMicros)}${r.estimatedMicros > 0 ? html` <span class="muted">(estimated)</span>` : nothing}
    </td>
    <td class="num" data-label="Tokens">${formatTokens(r.tokens)}</td>
    <td data-label="Started">${formatTime(r.createdAt)}</td>
    <td class="actions">
      ${
        r.resumable
          ? html`<vscode-button
              icon="debug-continue"
              ?disabled=${!canRun || busy.has(key('resume'))}
              title=${canRun ? 'Resume from the last checkpoint' : 'Runs cannot start here (untrusted workspace or invalid policy)'}
              @click=${() => act(key('resume'), { kind: 'resume', runId: r.id })}
              >Resume</vscode-button
            >`
          : nothing
      }
      ${
        r.cancellable
          ? html`<vscode-button
              secondary
              icon="debug-stop"
              ?disabled=${busy.has(key('cancel'))}
              @click=${() => act(key('cancel'), { kind: 'cancel', runId: r.id })}
              >Cancel</vscode-button
            >`
          : nothing
      }
      <vscode-button secondary icon="output" @click=${() => act(key('open'), { kind: 'openRun', runId: r.id })}
        >Open</vscode-button
      >
    </td>
  </tr>`;
}

draw();
vscode.setState(state);
vscode.postMessage({ type: 'ready', state });
