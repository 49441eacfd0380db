// The use bar of the scope and breakdown tables, and the spend table itself (the overview's, the team section's).
import { html, nothing, svg, type TemplateResult } from 'lit';
import { formatPct, formatTokens, formatUsd } from './format';

/**
 * A horizontal use bar as SVG: widths are SVG attributes, so the bar needs no inline style (the CSP forbids
 * style attributes).
 */
export function useBar(pct: number, label: string | undefined, thin = false): TemplateResult {
  const width = Math.max(0, Math.min(100, pct));
  return html`<svg
    class="bar ${thin ? 'thin' : ''}"
    viewBox="0 0 100 8"
    preserveAspectRatio="none"
    role=${label ? 'meter' : 'presentation'}
    aria-valuemin="0"
    aria-valuemax="100"
    aria-valuenow=${Math.round(pct)}
    aria-label=${label ?? nothing}
  >
    ${svg`<rect class="track" x="0" y="0" width="100" height="8"></rect><rect class="fill" x="0" y="0" width=${width} height="8"></rect>`}
  </svg>`;
}

/** One row of a spend table: what spent (`key`, '' = none), its cost, share of the total (%), calls and tokens. */
export interface SpendTableRow {
  key: string;
  costMicros: number;
  share: number;
  calls: number;
  tokens: number;
  /** Part of the cost was charged as estimated (said beside it). */
  estimated?: boolean;
}

/**
 * A breakdown of spend under its heading: `column` names what the rows are, `none` labels the row of calls without
 * one, `empty` says there was no spend. Keys are rendered as text (they may come from other machines).
 */
export function spendTable(
  labels: { heading: string; column: string; none: string; empty: string },
  rows: readonly SpendTableRow[],
): TemplateResult {
  return html`<h3>${labels.heading}</h3>
    ${
      rows.length === 0
        ? html`<p class="muted">${labels.empty}</p>`
        : html`<table>
            <thead>
              <tr>
                <th>${labels.column}</th>
                <th class="num">Cost</th>
                <th class="num">Share</th>
                <th class="num">Calls</th>
                <th class="num">Tokens</th>
              </tr>
            </thead>
            <tbody>
              ${rows.map(
                (r) =>
                  html`<tr>
                    <td title=${r.key}>${r.key || html`<span class="muted">${labels.none}</span>`}</td>
                    <td class="num">
                      ${formatUsd(r.costMicros)}${r.estimated ? html` <span class="muted">(estimated)</span>` : nothing}
                    </td>
                    <td class="num share">${useBar(r.share, undefined, true)}${formatPct(r.share)}</td>
                    <td class="num">${r.calls.toLocaleString()}</td>
                    <td class="num">${formatTokens(r.tokens)}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }`;
}
