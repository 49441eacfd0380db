import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PolicyError } from '../../../src/core/policy/issues';
import { policyFilePath } from '../../../src/core/policy/load';
import { loadEffectivePolicy, type ConsentRequest } from '../../../src/core/trust/effectivePolicy';
import { memoryFs } from '../policy/memoryFs';

const WS = '/ws';
const USER = '/home/ada/.config/agent-budget/user.json';
const REPO = policyFilePath(WS);
const LOOSE = '{ "limits": { "workspace": { "dailyUsd": 50 } }, "tools": { "allow": ["readFile", "runCommand"] } }';

describe('trust: loading user.json and budget.json', () => {
  it('asks for consent with the folder, the file, the content hash and the list; applies the answer', async () => {
    const asked: ConsentRequest[] = [];
    const fs = memoryFs({ [REPO]: LOOSE });
    const refused = await loadEffectivePolicy(WS, { userFile: USER, fs, consent: (r) => (asked.push(r), false) });
    assert.equal(asked.length, 1);
    assert.equal(asked[0]!.folder, WS);
    assert.equal(asked[0]!.file, REPO);
    assert.equal(asked[0]!.hash, createHash('sha256').update(LOOSE).digest('hex'));
    assert.deepEqual(
      asked[0]!.loosening.map((l) => l.path),
      ['limits.workspace.dailyUsd', 'tools.allow'],
    );
    assert.equal(refused.consented, false);
    assert.equal(refused.policy.limits.workspace.dailyUsd, 5);
    assert.equal(refused.hash, asked[0]!.hash);
    assert.deepEqual([refused.user.source, refused.source], ['defaults', 'file']);

    const allowed = await loadEffectivePolicy(WS, { userFile: USER, fs, consent: () => true });
    assert.equal(allowed.consented, true);
    assert.equal(allowed.policy.limits.workspace.dailyUsd, 50);
    assert.deepEqual(allowed.policy.tools.allow, ['readFile', 'runCommand']);
  });

  it('a file that changes by one byte has another hash (consent is to the content)', async () => {
    const a = await loadEffectivePolicy(WS, { userFile: USER, fs: memoryFs({ [REPO]: LOOSE }) });
    const b = await loadEffectivePolicy(WS, { userFile: USER, fs: memoryFs({ [REPO]: `${LOOSE} ` }) });
    assert.notEqual(a.hash, b.hash);
  });

  it('never asks when nothing loosens, nor without budget.json', async () => {
    let asked = 0;
    const consent = () => (asked++, true);
    const tight = await loadEffectivePolicy(WS, {
      userFile: USER,
      fs: memoryFs({ [REPO]: '{ "limits": { "workspace": { "dailyUsd": 1 } } }' }),
      consent,
    });
    const none = await loadEffectivePolicy(WS, { userFile: USER, fs: memoryFs({}), consent });
    assert.equal(asked, 0);
    assert.deepEqual([tight.consented, tight.policy.limits.workspace.dailyUsd], [false, 1]);
    assert.deepEqual([none.source, none.hash, none.loosening], ['defaults', undefined, []]);
  });

  it('reads user.json: its limits are the ceiling, and its own loosening always applies', async () => {
    const fs = memoryFs({
      [USER]: '{ "limits": { "workspace": { "dailyUsd": 20 } }, "tools": { "allow": ["readFile", "runCommand"] } }',
      [REPO]: '{ "limits": { "workspace": { "dailyUsd": 30 } } }',
    });
    const info = await loadEffectivePolicy(WS, { userFile: USER, fs, consent: () => true });
    assert.equal(info.user.source, 'file');
    assert.equal(info.policy.limits.workspace.dailyUsd, 20);
    assert.deepEqual(
      info.heldByUser.map((l) => l.path),
      ['limits.workspace.dailyUsd'],
    );
    assert.deepEqual(info.policy.tools.allow, ['readFile', 'runCommand']);
  });

  it('an invalid user.json is a PolicyError naming user.json with path and line, even when budget.json is fine', async () => {
    const fs = memoryFs({ [USER]: '{\n  "limits": { "workspace": { "dailyUsd": "five" } }\n}', [REPO]: '{}' });
    await assert.rejects(loadEffectivePolicy(WS, { userFile: USER, fs }), (err: unknown) => {
      assert.ok(err instanceof PolicyError);
      assert.equal(err.file, USER);
      assert.equal(err.issues[0]!.path, 'limits.workspace.dailyUsd');
      assert.equal(err.issues[0]!.line, 2);
      return true;
    });
  });

  it('an unreadable file (a folder in its place) is a PolicyError that says so, not a crash', async () => {
    const fs = memoryFs({});
    fs.readFile = async (p) => {
      if (p === USER) throw Object.assign(new Error('EISDIR: illegal operation on a directory'), { code: 'EISDIR' });
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    };
    await assert.rejects(loadEffectivePolicy(WS, { userFile: USER, fs }), (err: unknown) => {
      assert.ok(err instanceof PolicyError);
      assert.match(err.message, /user\.json is not valid .*cannot be read \(EISDIR\)/s);
      return true;
    });
  });

  it("warnings of both files ride along, user.json's first", async () => {
    const fs = memoryFs({ [USER]: '{ "limts": {} }', [REPO]: '{ "tols": {} }' });
    const info = await loadEffectivePolicy(WS, { userFile: USER, fs });
    assert.deepEqual(
      info.warnings.map((w) => w.file),
      [USER, REPO],
    );
  });
});
