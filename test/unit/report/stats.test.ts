import assert from 'node:assert/strict';
import { below, tInterval, wilson } from '../../../src/core/report/stats';

/**
 * Reference computations, independent of the jStat quantiles the code uses: Student's t quantile by integrating
 * its density (Simpson's rule) and bisecting, and the Wilson interval from its textbook formula with z written out.
 */
function tQuantileByIntegration(p: number, dof: number): number {
  const lgamma = (x: number): number => {
    // Lanczos approximation, g = 7
    const c = [
      0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
      12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
    ];
    if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lgamma(1 - x);
    x -= 1;
    let a = c[0]!;
    const t = x + 7.5;
    for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
    return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
  };
  const k = Math.exp(lgamma((dof + 1) / 2) - lgamma(dof / 2)) / Math.sqrt(dof * Math.PI);
  const pdf = (x: number) => k * (1 + (x * x) / dof) ** (-(dof + 1) / 2);
  const cdfAbove0 = (x: number) => {
    const n = 20_000;
    const h = x / n;
    let s = pdf(0) + pdf(x);
    for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * pdf(i * h);
    return (s * h) / 3;
  };
  let lo = 0;
  let hi = 200;
  for (let i = 0; i < 80; i++) {
    const mid = (lo + hi) / 2;
    if (0.5 + cdfAbove0(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

describe('report: confidence intervals (95 %)', () => {
  it('Student t quantiles match the integrated density and the published table', () => {
    // Published two-sided 95 % critical values.
    const table: Array<[number, number]> = [
      [1, 12.706],
      [2, 4.303],
      [9, 2.262],
      [29, 2.045],
      [99, 1.984],
    ];
    for (const [dof, published] of table) {
      const values = Array.from({ length: dof + 1 }, (_, i) => (i % 2 ? 1 : -1) * (1 + i / 10));
      const ci = tInterval(values)!;
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / dof);
      const t = (ci.high - ci.estimate) / (sd / Math.sqrt(values.length));
      assert.ok(Math.abs(t - published) < 0.0006, `dof ${dof}: t = ${t}, table ${published}`);
      assert.ok(Math.abs(t - tQuantileByIntegration(0.975, dof)) < 1e-6, `dof ${dof}: integration`);
      assert.ok(Math.abs(ci.estimate - mean) < 1e-12);
      assert.ok(Math.abs(ci.estimate - ci.low - (ci.high - ci.estimate)) < 1e-9, 'symmetric around the mean');
    }
    assert.equal(tInterval([5]), null, 'one run has no spread');
    assert.deepEqual(tInterval([7, 7, 7]), { estimate: 7, low: 7, high: 7 });
  });

  it('Wilson intervals match the textbook formula and known values; they stay inside [0, 1]', () => {
    const z = 1.959963984540054;
    const reference = (x: number, n: number) => {
      const p = x / n;
      const d = 1 + (z * z) / n;
      const c = p + (z * z) / (2 * n);
      const r = z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
      return [(c - r) / d, (c + r) / d];
    };
    for (const [x, n] of [
      [0, 10],
      [1, 10],
      [8, 10],
      [10, 10],
      [37, 100],
      [500, 1000],
    ] as const) {
      const w = wilson(x, n)!;
      const [low, high] = reference(x, n);
      assert.ok(
        Math.abs(w.low - Math.max(0, low!)) < 1e-9 && Math.abs(w.high - Math.min(1, high!)) < 1e-9,
        `${x}/${n}`,
      );
      assert.equal(w.estimate, x / n);
      assert.ok(w.low >= 0 && w.high <= 1);
    }
    // 8 of 10: the usual worked example, (0.490, 0.943).
    const w = wilson(8, 10)!;
    assert.deepEqual([w.low.toFixed(3), w.high.toFixed(3)], ['0.490', '0.943']);
    assert.equal(wilson(0, 0), null);
  });

  it('intervals separate only when they do not overlap', () => {
    assert.ok(below({ estimate: 1, low: 0, high: 2 }, { estimate: 4, low: 3, high: 5 }));
    assert.ok(!below({ estimate: 1, low: 0, high: 3 }, { estimate: 4, low: 3, high: 5 }));
    assert.ok(!below(null, { estimate: 4, low: 3, high: 5 }));
  });
});
