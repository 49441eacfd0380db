import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WorkspaceStore } from '../../../src/core/store/store';
import { totalTokens } from '../../../src/core/usage';
import { bundleChild } from '../../support/childBundle';

interface Writer {
  child: ChildProcess;
  acked: string[];
  ready: Promise<void>;
  exited: Promise<number | null>;
  stderr: () => string;
}

function startWriter(
  script: string,
  dir: string,
  count: number,
  label: string,
  concurrency = 1,
  compactAfter?: number,
): Writer {
  const args = [script, dir, String(count), label, String(concurrency)];
  if (compactAfter) args.push(String(compactAfter));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const acked: string[] = [];
  let err = '';
  let buffered = '';
  let markReady: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith('ack ')) acked.push(line.slice(4));
      else if (line.startsWith('ready')) markReady();
    }
  });
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, acked, ready, exited, stderr: () => err };
}

/** Opens the store as a fresh process would and checks: every acknowledged id present exactly once, rollups = raw rows. */
async function verify(dir: string, acked: Iterable<string>): Promise<{ rows: number }> {
  const store = await WorkspaceStore.open({ dir, pollMs: 0 });
  try {
    const ids = new Map<string, number>();
    let micros = 0;
    let tokens = 0;
    for (const page of store.queries.ledgerRows(0, Number.MAX_SAFE_INTEGER)) {
      for (const e of page) {
        ids.set(e.id, (ids.get(e.id) ?? 0) + 1);
        micros += e.costMicros;
        tokens += totalTokens(e.usage);
      }
    }
    for (const id of acked) assert.equal(ids.get(id), 1, `acknowledged record ${id} must be present exactly once`);
    for (const [id, n] of ids) assert.equal(n, 1, `record ${id} doubled`);
    const totals = store.queries.totals({ fromDay: '0000-01-01', toDay: '9999-12-31' });
    assert.equal(totals.calls, ids.size, 'rollup call count equals the raw rows');
    assert.equal(totals.costMicros, micros, 'rollup cost equals the raw rows');
    assert.equal(totals.tokens, tokens, 'rollup tokens equal the raw rows');
    return { rows: ids.size };
  } finally {
    await store.close();
  }
}

describe('WorkspaceStore across processes', function () {
  this.timeout(240_000);
  let script: string;
  const roots: string[] = [];
  before(async () => {
    script = await bundleChild('test/support/storeWriter.ts');
  });
  afterEach(() => {
    for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
  });
  function stateDir(): string {
    const root = mkdtempSync(path.join(tmpdir(), 'ab-mp-'));
    roots.push(root);
    return path.join(root, '.agent-budget');
  }

  it('two processes × 5,000 concurrent records: none lost, none doubled', async () => {
    const dir = stateDir();
    // A small compaction threshold makes both processes rotate journals under each other's feet.
    const a = startWriter(script, dir, 5_000, 'writer-a', 8, 256 * 1024);
    const b = startWriter(script, dir, 5_000, 'writer-b', 8, 256 * 1024);
    const codes = await Promise.all([a.exited, b.exited]);
    assert.deepEqual(codes, [0, 0], a.stderr() + b.stderr());
    assert.equal(a.acked.length, 5_000);
    assert.equal(b.acked.length, 5_000);
    const { rows } = await verify(dir, [...a.acked, ...b.acked]);
    assert.equal(rows, 10_000);
  });

  it('another process sees a record within about a second without asking (journal watch)', async () => {
    const dir = stateDir();
    const watcher = await WorkspaceStore.open({ dir, pollMs: 500 });
    try {
      let appliedAt = 0;
      watcher.onDidApply((e) => {
        if (e.origin === 'remote') appliedAt = Date.now();
      });
      const w = startWriter(script, dir, 1, 'visible');
      assert.equal(await w.exited, 0, w.stderr());
      const ackedAt = Date.now();
      while (!appliedAt && Date.now() - ackedAt < 3_000) await new Promise((r) => setTimeout(r, 20));
      assert.ok(appliedAt > 0, 'the record arrived on its own');
      assert.ok(appliedAt - ackedAt < 1_500, `seen ${appliedAt - ackedAt} ms after the writer finished`);
      assert.equal(watcher.queries.ledgerEntry(w.acked[0]!)?.workflow, 'visible');
    } finally {
      await watcher.close();
    }
  });
});
