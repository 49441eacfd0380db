import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { policyDays } from '../../../src/core/budget/engine';
import { WorkspaceStore } from '../../../src/core/store/store';
import { bundleChild } from '../../support/childBundle';

/** The instant both spenders live at (noon UTC): a run near midnight must not spread over two days. */
const NOON = Date.UTC(2026, 10, 22, 12);

function spender(
  script: string,
  dir: string,
  dailyUsd: number,
  label: string,
  go: Promise<void>,
  ready: () => void,
): Promise<{ spent: number; calls: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, dir, String(dailyUsd), label, String(NOON)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let announced = false;
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.startsWith('ready\n') && !announced) {
        announced = true;
        ready();
        void go.then(() => child.stdin.end('go\n'));
      }
    });
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('exit', (code) => {
      const m = /spent (\d+) calls (\d+)/.exec(out);
      if (code !== 0 || !m) reject(new Error(`spender ${label} exited ${code}: ${err}`));
      else resolve({ spent: Number(m[1]), calls: Number(m[2]) });
    });
  });
}

describe('BudgetEngine across processes', function () {
  this.timeout(120_000);

  it('two processes admitting against one workspace daily cap never exceed it together', async () => {
    const script = await bundleChild('test/support/admitter.ts');
    const root = mkdtempSync(path.join(tmpdir(), 'ab-admit-'));
    const dir = path.join(root, '.agent-budget');
    try {
      // $0.25 = 250,000 µ$; each call's worst case is 100 × 2 + 500 × 10 = 5,200 µ$: about 48 calls in all.
      const cap = 0.25;
      let readyCount = 0;
      let start!: () => void;
      const go = new Promise<void>((resolve) => (start = resolve));
      const ready = () => {
        if (++readyCount === 2) start();
      };
      const [a, b] = await Promise.all([
        spender(script, dir, cap, 'a', go, ready),
        spender(script, dir, cap, 'b', go, ready),
      ]);
      assert.ok(a.calls > 0 && b.calls > 0, `both processes got to spend (a ${a.calls}, b ${b.calls})`);
      const store = await WorkspaceStore.open({ dir, pollMs: 0, days: policyDays({ timeZone: 'UTC' }) });
      const today = '2026-11-22';
      const total = store.queries.totals({ fromDay: today, toDay: today }).costMicros;
      await store.close();
      assert.equal(total, a.spent + b.spent, 'the store holds exactly what both reported');
      assert.ok(total <= 250_000, `together ${total} µ$ > the 250,000 µ$ cap`);
      // Nearly all of the cap was usable: the last call clamps to what is left.
      assert.ok(total >= 250_000 - 5_200, `only ${total} µ$ of 250,000 spent`);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
