// Spend by day as an SVG bar chart. Hand-drawn on purpose: one chart type, colours from theme variables through
// CSS classes (a canvas library would need computed colours and a redraw on theme change), bar sizes as SVG
// attributes (the CSP forbids inline styles), a <title> per bar for hover and screen readers, and no dependency.
import { html, nothing, svg, type TemplateResult } from 'lit';
import { formatDay, formatUsd } from './format';
import type { DayPoint } from './protocol';

const HEIGHT = 120;

export function dayChart(days: DayPoint[], dailyCapMicros: number | undefined): TemplateResult {
  if (days.length === 0 || days.every((d) => d.costMicros === 0))
    return html`<p class="muted">No spend in this range.</p>`;
  const max = Math.max(...days.map((d) => d.costMicros), dailyCapMicros && days.length > 1 ? dailyCapMicros : 0, 1);
  const step = 10;
  const width = days.length * step;
  const y = (micros: number) => HEIGHT - (micros / max) * HEIGHT;
  const every = Math.max(1, Math.ceil(days.length / 8));
  return html`<figure class="chart" aria-label="Spend by day">
    <div class="chart-axis"><span>${formatUsd(max)}</span><span>$0</span></div>
    <div class="chart-body">
      <svg
        viewBox="0 0 ${width} ${HEIGHT}"
        preserveAspectRatio="none"
        role="img"
        aria-label="Spend per day, ${days.length} days"
      >
        ${days.map(
          (
            d,
            i,
          ) => svg`<rect class="chart-bar" x=${i * step + 1} y=${y(d.costMicros)} width=${step - 2} height=${HEIGHT - y(d.costMicros)}>
            <title>${formatDay(d.day)}: ${formatUsd(d.costMicros)} (${d.calls} calls)</title></rect>`,
        )}
        ${
          dailyCapMicros && dailyCapMicros <= max && days.length > 1
            ? svg`<line class="chart-cap" x1="0" x2=${width} y1=${y(dailyCapMicros)} y2=${y(dailyCapMicros)} vector-effect="non-scaling-stroke"><title>Daily cap ${formatUsd(dailyCapMicros)}</title></line>`
            : nothing
        }
      </svg>
      <div class="chart-labels">
        ${days.map((d, i) => html`<span>${i % every === 0 ? formatDay(d.day, false) : ''}</span>`)}
      </div>
    </div>
  </figure>`;
}
