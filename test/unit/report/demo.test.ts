import assert from 'node:assert/strict';
import { buildReport } from '../../../src/core/report/report';
import { renderReportMarkdown } from '../../../src/core/report/render';
import { DEMO_NOW, demoWorkspace } from '../../support/demoSpend';

describe('the demo workspace report (README sample)', function () {
  this.timeout(30_000);
  let demo: Awaited<ReturnType<typeof demoWorkspace>>;
  before(async () => {
    demo = await demoWorkspace();
  });
  after(() => demo.dispose());

  it('reads well: every section, well-formed tables, no NaN/undefined, money as $1,234.56', () => {
    const md = renderReportMarkdown(buildReport(demo.workspace, { month: '2026-11' }, { now: DEMO_NOW }));
    assert.ok(md.startsWith('# Agent Budget report — November 2026\n\n**demo** · 2026-11-01 to 2026-11-30 (UTC)'));
    for (const heading of [
      'Summary',
      'Budget caps',
      'By workflow',
      'By model',
      'By provider',
      'By task',
      'By tool',
      'By day',
      'Top runs',
      'Cache savings',
      'Estimates vs actual',
      'Value',
      'Forecast',
      'Variants',
    ]) {
      assert.ok(md.includes(`\n## ${heading}\n`), heading);
    }
    assert.doesNotMatch(md, /NaN|undefined|Infinity|null|\[object/);
    assert.doesNotMatch(md, /\$\d{4,}/, 'thousands are grouped');
    // Every table: the same number of cells in each row as in its header, and a separator row after the header.
    const lines = md.split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i]!.startsWith('| ') || lines[i - 1]?.startsWith('|')) continue;
      const cells = (l: string) => l.replace(/\\\|/g, '').split('|').length;
      assert.match(lines[i + 1]!, /^\| (---:?( \| )?)+ \|$/, `separator after ${lines[i]}`);
      for (let j = i + 1; lines[j]?.startsWith('|'); j++) assert.equal(cells(lines[j]!), cells(lines[i]!), lines[j]);
    }
    // The demo's story: code-review near its monthly cap, reached at this pace before the month ends.
    assert.match(md, /\| code-review \| \$\d+\.\d\d \| .* \| 🟡 warn \|/);
    assert.match(md, /\| code-review monthly \(2026-11\) \| \$20\.00 \| .* \| \*\*2026-11-\d\d\*\* \|/);
    assert.match(
      md,
      /\n- At this rate \*\*code-review\*\*'s monthly cap \(\$20\.00\) is reached on \*\*2026-11-\d\d\*\*\n/,
    );
  });

  it('the same numbers as the status bar: current periods of the forecast equal the engine status', () => {
    const report = buildReport(demo.workspace, { month: '2026-11' }, { now: DEMO_NOW });
    const status = demo.workspace.engine.status(DEMO_NOW);
    assert.ok(status.length >= 4);
    for (const s of status) {
      const f = report.forecast!.caps.find((c) => c.scope === s.scope)!;
      assert.equal(f.usedMicros, s.used + s.reserved, s.scope);
      assert.equal(f.limitMicros, s.limit, s.scope);
      assert.equal(f.level, s.level, s.scope);
    }
    assert.equal(
      report.caps.find((c) => c.scope === 'workspace.monthly')!.usedMicros,
      status.find((s) => s.scope === 'workspace.monthly')!.used,
    );
  });
});
