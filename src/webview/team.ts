// The Overview's team section (only when the workspace has a team ledger): the member's team scopes, and the range's
// spend of every member by member, workflow, model and client. Names come from other machines: lit renders them as
// text, never as markup.
import { html, nothing, type TemplateResult } from 'lit';
import { spendTable, useBar } from './bar';
import { formatPct, formatTime, formatUsd } from './format';
import { TEAM_DIMENSIONS, type TeamDimension, type TeamSection, type TeamSpendRow } from './protocol';

const HEADINGS: Record<TeamDimension, string> = {
  member: 'Member',
  workflow: 'Workflow',
  model: 'Model',
  client: 'Client',
};

export function teamSection(team: TeamSection | null, rangeLabel: string): TemplateResult | typeof nothing {
  if (!team) return nothing;
  return html`<section aria-labelledby="team-h" class="team" data-team-state=${team.state}>
    <h2 id="team-h">
      <vscode-icon name="organization"></vscode-icon> Team
      <span class="muted"
        >— the team ledger, shared by every member; you are
        <span data-team-member>${team.member}</span>${team.tier ? ` (tier ${team.tier})` : ''}</span
      >
    </h2>
    ${stateLine(team)} ${scopes(team)} ${spend(team, rangeLabel)}
  </section>`;
}

function stateLine(team: TeamSection): TemplateResult | typeof nothing {
  switch (team.state) {
    case 'reading':
      return html`<p class="muted" data-team-line>Reading the team ledger…</p>`;
    case 'offline':
      // The meter's own wording: the allowance is what this machine may still spend until the ledger answers.
      return html`<p class="warning" role="status" data-team-line>
        <vscode-icon name="warning"></vscode-icon> ${team.message}
      </p>`;
    case 'error':
      return html`<p class="error" role="alert" data-team-line>
        <vscode-icon name="error"></vscode-icon> The team ledger could not be read: ${team.message}
      </p>`;
    case 'online':
      return nothing;
  }
}

function scopes(team: TeamSection): TemplateResult | typeof nothing {
  if (team.scopes.length === 0)
    return team.state === 'online'
      ? html`<p class="muted">No team caps are set. Add <code>limits.team.monthlyUsd</code> to budget.json.</p>`
      : nothing;
  return html`${
      team.state !== 'online' && team.scopesAt !== null
        ? html`<p class="muted">Team caps as last read, ${formatTime(team.scopesAt)}.</p>`
        : nothing
    }
    <table class="scopes team-scopes">
      <thead>
        <tr>
          <th>Team scope</th>
          <th class="num">Used</th>
          <th class="num">Limit</th>
          <th class="bar-col">Use</th>
          <th>Resets</th>
        </tr>
      </thead>
      <tbody>
        ${team.scopes.map(
          (x) =>
            html`<tr class="level-${x.level}" data-scope=${x.scope}>
              <td>${x.label}</td>
              <td class="num">
                ${formatUsd(x.usedMicros + x.heldMicros)}${x.heldMicros > 0 ? html` <span class="muted">(${formatUsd(x.heldMicros)} held)</span>` : nothing}
              </td>
              <td class="num">${formatUsd(x.limitMicros)}</td>
              <td class="bar-col">
                ${useBar(x.pct, `${x.label} ${formatPct(x.pct)}`)}
                <span class="pct">${formatPct(x.pct)}</span>
              </td>
              <td>${formatTime(x.resetsAt)}</td>
            </tr>`,
        )}
      </tbody>
    </table>`;
}

function spend(team: TeamSection, rangeLabel: string): TemplateResult | typeof nothing {
  const s = team.spend;
  if (!s) return nothing;
  return html`<p class="team-total">
      Team spend ${rangeLabel.toLowerCase()}: <strong>${formatUsd(s.total.costMicros)}</strong>
      <span class="muted"
        >in ${s.total.calls.toLocaleString()} calls by every
        member${s.total.estimatedMicros > 0 ? ` · ${formatUsd(s.total.estimatedMicros)} estimated` : ''} · days in
        ${s.timeZone}</span
      >
    </p>
    <div class="grid">${TEAM_DIMENSIONS.map((d) => table(d, s.by[d], s.total.costMicros))}</div>`;
}

function table(d: TeamDimension, rows: TeamSpendRow[], total: number): TemplateResult {
  const heading = `Team by ${HEADINGS[d].toLowerCase()}`;
  const labels = { heading, column: HEADINGS[d], none: '(none)', empty: 'No team spend in this range.' };
  return html`<div class="breakdown" data-team-dimension=${d}>
    ${spendTable(
      labels,
      rows.map((r) => ({
        ...r,
        share: total > 0 ? (r.costMicros / total) * 100 : 0,
        estimated: r.estimatedMicros > 0,
      })),
    )}
  </div>`;
}
