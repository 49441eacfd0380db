import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ClientNameError, ProxyTokens, TOKEN_PREFIX, TokenFileError } from '../../../src/core/proxy';
import { JsonArrayReader, SseReader, sseData, type SseEvent } from '../../../src/core/proxy/streams';

describe('proxy tokens file', () => {
  let dir: string;
  let tokens: ProxyTokens;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ab-tokens-'));
    tokens = ProxyTokens.in(dir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps only a SHA-256 of each token, owner-only, and verifies the token itself', () => {
    const { token, client } = tokens.create('claude-code', { dailyUsd: 5 });
    assert.ok(token.startsWith(TOKEN_PREFIX) && token.length > 40);
    const text = readFileSync(tokens.file, 'utf8');
    assert.ok(!text.includes(token.slice(TOKEN_PREFIX.length, TOKEN_PREFIX.length + 20)), 'the token is not stored');
    assert.match(text, /"sha256": "[0-9a-f]{64}"/);
    if (process.platform !== 'win32') assert.equal(statSync(tokens.file).mode & 0o777, 0o600);
    assert.deepEqual(tokens.verify(token), client);
    // One character changed (never to itself: a token that ends in A would still verify with A, 1 run in 64).
    assert.equal(tokens.verify(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`), undefined);
    assert.equal(tokens.verify('sk-ant-something'), undefined);
    assert.deepEqual(tokens.list(), [
      { name: 'claude-code', createdAt: client.createdAt, dailyUsd: 5, monthlyUsd: null },
    ]);
  });

  it('a name has one token: create again is an error until revoked (or replaced); names are checked', () => {
    tokens.create('codex');
    assert.throws(() => tokens.create('codex'), /already has a token/);
    const replaced = tokens.create('codex', {}, { replace: true });
    assert.equal(tokens.list().length, 1);
    assert.ok(tokens.verify(replaced.token));
    assert.throws(() => tokens.create('agent-budget'), ClientNameError);
    assert.throws(() => tokens.create('Bad Name'), /not a client name/);
    assert.throws(() => tokens.create('x', { dailyUsd: -1 }), /--daily-usd must be a positive amount/);
    assert.equal(tokens.revoke('codex'), true);
    assert.equal(tokens.revoke('codex'), false);
    assert.equal(tokens.verify(replaced.token), undefined);
  });

  it('a change made by another process (another ProxyTokens on the file) applies to the next verify', () => {
    const { token } = tokens.create('aider');
    assert.ok(tokens.verify(token));
    ProxyTokens.in(dir).revoke('aider');
    assert.equal(tokens.verify(token), undefined);
  });

  it('refuses a damaged, foreign or symlinked file with a message naming it, and never overwrites it', () => {
    writeFileSync(tokens.file, '{ not json', { mode: 0o600 });
    assert.throws(
      () => tokens.list(),
      (err: unknown) => err instanceof TokenFileError && err.message.includes(tokens.file),
    );
    assert.throws(() => tokens.create('x'), TokenFileError);
    assert.equal(readFileSync(tokens.file, 'utf8'), '{ not json');
    writeFileSync(tokens.file, JSON.stringify({ version: 1, tokens: [{ name: 'x' }] }), { mode: 0o600 });
    assert.throws(() => tokens.list(), /not a tokens file this version understands/);
    if (process.platform === 'win32') return;
    rmSync(tokens.file);
    writeFileSync(tokens.file, JSON.stringify({ version: 1, tokens: [] }));
    chmodSync(tokens.file, 0o644); // a cloned or planted file: we always write 0600
    assert.throws(() => tokens.list(), /readable by others/);
    rmSync(tokens.file);
    const elsewhere = path.join(dir, 'elsewhere.json');
    writeFileSync(elsewhere, JSON.stringify({ version: 1, tokens: [] }), { mode: 0o600 });
    symlinkSync(elsewhere, tokens.file);
    assert.throws(() => tokens.list(), /not a regular file/);
  });
});

describe('proxy stream readers', () => {
  it('SSE: finds the marked events wherever chunks split (mid-line, mid-character, mid-marker), LF or CRLF, and returns every byte in order', () => {
    const lf =
      'event: message_start\ndata: {"type":"message_start","x":"é"}\n\n' +
      'event: delta\ndata: {"text":"one"}\n\n' +
      ': comment\n\n' +
      'data: {"type":"message_delta",\ndata: "more":1}\n\n' +
      'data: {"text":"two"}\n\n' +
      'data: [DONE]\n\n';
    for (const text of [lf, lf.replace(/\n/g, '\r\n')]) {
      const bytes = Buffer.from(text, 'utf8');
      for (const size of [1, 2, 3, 5, 7, 64, 4096]) {
        const reader = new SseReader(['"message_start"', '"message_delta"']);
        const parts = [];
        for (let i = 0; i < bytes.length; i += size) parts.push(...reader.push(bytes.subarray(i, i + size)));
        parts.push(...reader.end());
        const marked = parts.filter((p): p is SseEvent => !Buffer.isBuffer(p));
        assert.deepEqual(
          marked.map((e) => [e.event, sseData(e)]),
          [
            ['message_start', '{"type":"message_start","x":"é"}'],
            [null, '{"type":"message_delta",\n"more":1}'],
          ],
          `chunks of ${size}`,
        );
        const rebuilt = Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : p.raw))).toString('utf8');
        assert.equal(rebuilt, text, `every byte, in order (chunks of ${size})`);
      }
    }
  });

  it('JSON array: elements split anywhere, braces and escaped quotes inside strings do not count', () => {
    const elements = [{ a: 'x}{"]' }, { b: [1, { c: '\\"' }] }, { d: 'é' }];
    const bytes = Buffer.from(`[${elements.map((e) => JSON.stringify(e)).join(',\r\n')}]`, 'utf8');
    for (const size of [1, 3, 8, 1000]) {
      const reader = new JsonArrayReader();
      const out: string[] = [];
      for (let i = 0; i < bytes.length; i += size) out.push(...reader.push(bytes.subarray(i, i + size)));
      out.push(...reader.end());
      assert.deepEqual(
        out.map((t) => JSON.parse(t) as unknown),
        elements,
        `chunks of ${size}`,
      );
    }
  });
});
