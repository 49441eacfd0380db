// The panel's message validator (src/webview/protocol.ts): the host acts only on what parseWebviewMessage returns,
// so anything a compromised or buggy page could post must come back as an error, and a good message as a clean copy.
import assert from 'node:assert/strict';
import {
  parseWebviewMessage,
  RequestChannel,
  type HostMessage,
  type WebviewMessage,
} from '../../../src/webview/protocol';

// The failure messages are built only on failure: describing `raw` reads its getters.
const rejected = (raw: unknown): string => {
  const parsed = parseWebviewMessage(raw);
  if (!('error' in parsed))
    assert.fail(`accepted ${String(JSON.stringify(raw)).slice(0, 200)} as ${JSON.stringify(parsed)}`);
  return parsed.error;
};

const accepted = (raw: unknown): WebviewMessage => {
  const parsed = parseWebviewMessage(raw);
  if (!('message' in parsed)) assert.fail(`rejected ${JSON.stringify(raw)}: ${parsed.error}`);
  return parsed.message;
};

describe('parseWebviewMessage', () => {
  it('accepts each message the page sends, exactly', () => {
    assert.deepEqual(accepted({ type: 'ready', state: { range: 'month', tab: 'overview' } }), {
      type: 'ready',
      state: { range: 'month', tab: 'overview' },
    });
    assert.deepEqual(accepted({ type: 'view', state: { range: '7d', tab: 'runs' } }), {
      type: 'view',
      state: { range: '7d', tab: 'runs' },
    });
    assert.deepEqual(accepted({ type: 'painted', generatedAt: 1_700_000_000_000 }), {
      type: 'painted',
      generatedAt: 1_700_000_000_000,
    });
    for (const kind of ['resume', 'cancel', 'openRun'] as const) {
      assert.deepEqual(accepted({ type: 'request', id: 7, request: { kind, runId: '01JD-run_a' } }), {
        type: 'request',
        id: 7,
        request: { kind, runId: '01JD-run_a' },
      });
    }
    assert.deepEqual(accepted({ type: 'request', id: 0, request: { kind: 'export', format: 'csv' } }), {
      type: 'request',
      id: 0,
      request: { kind: 'export', format: 'csv' },
    });
    assert.deepEqual(accepted({ type: 'request', id: 1, request: { kind: 'editPolicy' } }), {
      type: 'request',
      id: 1,
      request: { kind: 'editPolicy' },
    });
  });

  it('rejects what is not a plain object', () => {
    for (const raw of [
      null,
      undefined,
      'ready',
      42,
      true,
      [],
      [{ type: 'ready' }],
      () => ({ type: 'ready' }),
      new Date(),
      Object.create(null),
    ])
      rejected(raw);
    // An object made by a class (another prototype) is not a message either, even with the right fields.
    class Impostor {
      type = 'editPolicy';
    }
    rejected({ type: 'request', id: 1, request: new Impostor() });
    rejected(Object.assign(Object.create({ inherited: true }), { type: 'painted', generatedAt: 1 }));
  });

  it('rejects wrong types in every field', () => {
    const bad: unknown[] = [
      { type: 7 },
      { type: 'ready', state: 'month' },
      { type: 'ready', state: { range: 30, tab: 'overview' } },
      { type: 'view', state: { range: 'month', tab: ['runs'] } },
      { type: 'view', state: null },
      { type: 'painted', generatedAt: '1700000000000' },
      { type: 'painted', generatedAt: Number.NaN },
      { type: 'painted', generatedAt: Number.POSITIVE_INFINITY },
      { type: 'request', id: '1', request: { kind: 'editPolicy' } },
      { type: 'request', id: 1.5, request: { kind: 'editPolicy' } },
      { type: 'request', id: -1, request: { kind: 'editPolicy' } },
      { type: 'request', id: Number.MAX_SAFE_INTEGER + 2, request: { kind: 'editPolicy' } },
      { type: 'request', id: 1, request: 'editPolicy' },
      { type: 'request', id: 1, request: { kind: 'resume', runId: 42 } },
      { type: 'request', id: 1, request: { kind: 'resume', runId: { toString: () => 'x' } } },
      { type: 'request', id: 1, request: { kind: 'export', format: 'exe' } },
      { type: 'request', id: 1, request: { kind: 'export', format: ['csv'] } },
    ];
    for (const raw of bad) rejected(raw);
  });

  it('rejects values out of range and unknown kinds', () => {
    rejected({ type: 'view', state: { range: 'forever', tab: 'overview' } });
    rejected({ type: 'view', state: { range: 'month', tab: 'settings' } });
    rejected({ type: 'command', command: 'agentBudget.setApiKey' });
    rejected({ type: 'request', id: 1, request: { kind: 'runCommand', command: 'rm -rf /' } });
    // A run id is the store's id alphabet only: no path, no spaces, no markup.
    for (const runId of ['', '../../../etc/passwd', 'a b', '<img src=x>', 'run\n2', 'x'.repeat(81)])
      rejected({ type: 'request', id: 1, request: { kind: 'resume', runId } });
  });

  it('Promote Variant: a workflow id and a variant index, nothing else', () => {
    assert.deepEqual(
      accepted({ type: 'request', id: 3, request: { kind: 'promoteVariant', workflow: 'code-review', arm: 1 } }),
      {
        type: 'request',
        id: 3,
        request: { kind: 'promoteVariant', workflow: 'code-review', arm: 1 },
      },
    );
    for (const workflow of ['', 'Code-Review', '../budget', 'a..b', 'x'.repeat(65), 'a b', 7])
      rejected({ type: 'request', id: 1, request: { kind: 'promoteVariant', workflow, arm: 0 } });
    for (const arm of [-1, 10, 1.5, '0', null, Number.MAX_SAFE_INTEGER + 2])
      rejected({ type: 'request', id: 1, request: { kind: 'promoteVariant', workflow: 'explain', arm } });
    rejected({ type: 'request', id: 1, request: { kind: 'promoteVariant', workflow: 'explain', arm: 0, model: 'x' } });
    rejected({ type: 'request', id: 1, request: { kind: 'promoteVariant', workflow: 'explain' } });
  });

  it('rejects extra keys and missing keys at every level', () => {
    rejected({ type: 'ready', state: { range: 'month', tab: 'overview' }, then: 'agentBudget.setApiKey' });
    rejected({ type: 'view', state: { range: 'month', tab: 'overview', apiKey: 'sk-x' } });
    rejected({ type: 'view', state: { range: 'month' } });
    rejected({ type: 'view' });
    rejected({ type: 'painted' });
    rejected({ type: 'request', id: 1, request: { kind: 'editPolicy', then: 'workbench.action.terminal.new' } });
    rejected({ type: 'request', id: 1, request: { kind: 'cancel', runId: 'a', alsoCancel: 'b' } });
    rejected({ type: 'request', id: 1, request: { kind: 'export' } });
    rejected({ type: 'request', request: { kind: 'editPolicy' } });
    rejected({ type: 'request', id: 1, request: { kind: 'editPolicy' }, reply: true });
  });

  it('rejects huge strings without echoing them back', () => {
    const huge = 'x'.repeat(5_000_000);
    rejected({ type: 'request', id: 1, request: { kind: 'resume', runId: huge } });
    rejected({ type: 'view', state: { range: huge, tab: 'overview' } });
    // The reason names the unknown type, cut short: a log line, not a copy of the page's payload.
    const error = rejected({ type: huge });
    assert.ok(error.length < 100, `the error is ${error.length} characters long`);
    // A type that is no string is named by its kind (String() of a hostile object could throw).
    assert.equal(rejected({ type: Object.create(null) }), 'unknown message type object');
  });

  it('rejects prototype-pollution keys and leaves Object.prototype alone', () => {
    const polluted = [
      '{"type":"ready","state":{"range":"month","tab":"overview"},"__proto__":{"polluted":true}}',
      '{"type":"view","state":{"range":"month","tab":"overview","__proto__":{"polluted":true}}}',
      '{"type":"request","id":1,"request":{"kind":"editPolicy","__proto__":{"polluted":true}}}',
      '{"type":"request","id":1,"request":{"kind":"editPolicy","constructor":{"prototype":{"polluted":true}}}}',
      '{"type":"painted","generatedAt":1,"prototype":{"polluted":true}}',
    ];
    for (const json of polluted) rejected(JSON.parse(json));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('returns a copy: nothing the page attached survives, and later changes to its object do not reach the host', () => {
    const state = { range: 'month', tab: 'overview' };
    const raw = { type: 'view', state };
    const message = accepted(raw);
    state.range = 'forever';
    assert.deepEqual(message, { type: 'view', state: { range: 'month', tab: 'overview' } });
    assert.notEqual((message as { state: unknown }).state, state);
    // A getter is read once, while validating: what was checked is what the host gets, and the copy has no getter.
    let reads = 0;
    const sneaky = {
      type: 'request',
      id: 3,
      request: {
        kind: 'resume',
        get runId() {
          reads++;
          return reads === 1 ? 'run-1' : '../../etc/passwd';
        },
      },
    };
    const parsed = accepted(sneaky);
    assert.ok(parsed.type === 'request' && parsed.request.kind === 'resume');
    assert.equal(parsed.request.runId, 'run-1');
    assert.equal(reads, 1);
    assert.equal(Object.getOwnPropertyDescriptor(parsed.request, 'runId')?.get, undefined, 'the copy kept the getter');
  });
});

describe('RequestChannel', () => {
  it('numbers requests and settles each with its own reply', async () => {
    const sent: WebviewMessage[] = [];
    const channel = new RequestChannel((m) => sent.push(m));
    const first = channel.request({ kind: 'editPolicy' });
    const second = channel.request({ kind: 'resume', runId: 'r1' });
    assert.deepEqual(sent, [
      { type: 'request', id: 1, request: { kind: 'editPolicy' } },
      { type: 'request', id: 2, request: { kind: 'resume', runId: 'r1' } },
    ]);
    const reply = (m: HostMessage) => assert.equal(channel.receive(m), true);
    reply({ type: 'reply', id: 2, ok: false, error: 'The run did not resume.' });
    reply({ type: 'reply', id: 1, ok: true });
    await first;
    await assert.rejects(second, /did not resume/);
    assert.equal(channel.receive({ type: 'reveal', runId: 'r1' }), false);
  });
});
