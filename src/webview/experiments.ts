// The Runs tab's experiment section: each experiment's variants with their 95 % intervals, and Promote Variant on
// the winner once its intervals separate (the host checks again before it writes anything).
import { html, nothing, type TemplateResult } from 'lit';
import { formatPct, formatUsd } from './format';
import type { ExperimentArmRow, ExperimentRow, IntervalView, PanelRequest, PanelSnapshot } from './protocol';

const ON: Record<NonNullable<ExperimentRow['winner']>['on'], string> = {
  acceptance: 'acceptance',
  failures: 'failure rate',
  cost: 'cost per run',
};

function rate(i: IntervalView | null, n: number): TemplateResult | typeof nothing {
  if (!i) return html`<span class="muted">–</span>`;
  return html`${formatPct(i.estimate * 100)}
    <span class="muted">(${formatPct(i.low * 100)}–${formatPct(i.high * 100)}, ${n})</span>`;
}

function cost(i: IntervalView | null): TemplateResult {
  if (!i) return html`<span class="muted">–</span>`;
  return html`${formatUsd(Math.round(i.estimate))}
    <span class="muted">(${formatUsd(Math.max(0, Math.round(i.low)))}–${formatUsd(Math.round(i.high))})</span>`;
}

export function experimentsSection(
  s: PanelSnapshot,
  act: (key: string, request: PanelRequest) => void,
  busy: ReadonlySet<string>,
): TemplateResult | typeof nothing {
  if (s.experiments.length === 0) return nothing;
  return html`<section aria-labelledby="experiments-h" class="experiments">
    <h2 id="experiments-h">Experiments</h2>
    ${s.experiments.map((e) => experiment(e, act, busy))}
    <p class="muted">
      95 % intervals: cost per run (Student's t over finished runs), failure rate and acceptance (Wilson). Mark results
      with "Agent Budget: Mark Run Result…".
    </p>
  </section>`;
}

function experiment(
  e: ExperimentRow,
  act: (key: string, request: PanelRequest) => void,
  busy: ReadonlySet<string>,
): TemplateResult {
  const winner = e.winner ? e.arms[e.winner.arm] : undefined;
  const key = `promote:${e.workflow}`;
  return html`<div class="experiment" data-workflow=${e.workflow}>
    <h3>${e.workflow} <span class="muted">${e.assigned}${e.until !== null ? ` of ${e.until}` : ''} runs</span></h3>
    <table>
      <thead>
        <tr>
          <th>Variant</th>
          <th class="num">Share</th>
          <th class="num">Runs</th>
          <th class="num">Cost per run</th>
          <th class="num">Failure rate</th>
          <th class="num">Acceptance</th>
        </tr>
      </thead>
      <tbody>
        ${e.arms.map(
          (a: ExperimentArmRow) =>
            html`<tr class=${a === winner ? 'winner' : ''} data-arm=${a.arm}>
              <td>${a.label}</td>
              <td class="num">${formatPct(a.sharePct)}</td>
              <td class="num">${a.runs}</td>
              <td class="num">${cost(a.costPerRun)}</td>
              <td class="num">${rate(a.failureRate, a.finished)}</td>
              <td class="num">${rate(a.acceptance, a.marked)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${
      winner && e.winner
        ? html`<p class="promote">
            <strong>${winner.label}</strong> wins on ${ON[e.winner.on]}: its interval separates from every other
            variant's.
            <vscode-button
              icon="arrow-up"
              ?disabled=${busy.has(key)}
              @click=${() => act(key, { kind: 'promoteVariant', workflow: e.workflow, arm: e.winner!.arm })}
              >Promote Variant</vscode-button
            >
          </p>`
        : html`<p class="muted">No variant wins yet: the intervals overlap.</p>`
    }
  </div>`;
}
