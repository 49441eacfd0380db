import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CURRENT_OWNER, newId } from '../../../src/core/processIdentity';
import type { StoreRecord } from '../../../src/core/store/records';
import { Workspace } from '../../../src/core/workspace';
import { runCli } from '../../support/cli';

/** The id the encoding before this one minted for the same time and random bits (stores written then hold these). */
const legacyOf = (id: string) => `-${id.slice(1)}`;

describe('CLI arguments: positionals keep their order, ids may start with "-"', () => {
  let folder: string;
  beforeEach(() => {
    folder = mkdtempSync(path.join(tmpdir(), 'ab-args-'));
  });
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  async function completedRuns(ids: string[]): Promise<void> {
    const ws = await Workspace.open(folder, { pollMs: 0 });
    const at = Date.now();
    const records: StoreRecord[] = ids.map((id) => ({
      k: 'run',
      run: {
        id,
        workflow: 'code-review',
        status: 'completed',
        title: id,
        createdAt: at,
        updatedAt: at,
        rev: 1,
        owner: CURRENT_OWNER,
        parentRunId: null,
        variant: 'm@v1',
        data: null,
      },
    }));
    await ws.store.commit(records);
    await ws.close();
  }

  async function resultOf(id: string): Promise<string | undefined> {
    const ws = await Workspace.open(folder, { pollMs: 0 });
    try {
      return ws.store.queries.runResult(id)?.result;
    } finally {
      await ws.close();
    }
  }

  it('mark <runId> accepted|rejected, for new ids and the "-"-prefixed ids of older stores, options anywhere', async () => {
    const fresh = newId();
    const old = legacyOf(newId());
    const oldShort = legacyOf(newId());
    await completedRuns([fresh, old, oldShort]);

    const a = await runCli(['mark', fresh, 'accepted', '--workspace', folder]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(await resultOf(fresh), 'accepted');

    const b = await runCli(['mark', old, 'rejected', '--workspace', folder, '--json']);
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(JSON.parse(b.stdout), {
      runId: old,
      workflow: 'code-review',
      variant: 'm@v1',
      result: 'rejected',
    });
    assert.equal(await resultOf(old), 'rejected');

    const c = await runCli(['mark', '--json', oldShort.slice(0, 12), '--workspace', folder, 'accepted']);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(await resultOf(oldShort), 'accepted');
  });

  it('"--" still ends the options; an unknown long option is a usage error, not a positional', async () => {
    const old = legacyOf(newId());
    await completedRuns([old]);
    const r = await runCli(['mark', '--workspace', folder, '--', old, 'accepted']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await resultOf(old), 'accepted');
    const typo = await runCli(['mark', old, 'accepted', '--worksapce', folder]);
    assert.equal(typo.code, 1);
    assert.match(typo.stderr, /Unknown option '--worksapce'/);
  });
});
