// The use bar of the scope and breakdown tables (the overview's, the team section's).
import { html, nothing, svg, type TemplateResult } from 'lit';

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
