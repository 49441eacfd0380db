// The money rule for a failed call (src/core/metering/failure.ts) and how a provider's error is read into its terms
// (callFailureOf in src/core/providers/errors.ts), as tables: every row is a way a call can end short.
import assert from 'node:assert/strict';
import { failedCallCharge, type CallFailure, type FailedCallCharge } from '../../../src/core/metering';
import { callFailureOf, ProviderError, type ProviderErrorInit } from '../../../src/core/providers/errors';
import { mayReasonUnseen } from '../../../src/core/providers/openai';
import { ZERO_USAGE } from '../../../src/core/usage';

const FINAL = { ...ZERO_USAGE, input: 120, output: 3 };

describe('failedCallCharge: what a failed call costs', () => {
  const rows: Array<[string, CallFailure, FailedCallCharge]> = [
    [
      'final usage arrived (a refusal that completed): exact',
      { finalUsage: FINAL, mayHaveBilled: true },
      { kind: 'exact', usage: FINAL },
    ],
    [
      'final usage wins even when the request is said not to have billed',
      { finalUsage: FINAL, mayHaveBilled: false },
      { kind: 'exact', usage: FINAL },
    ],
    [
      'aborted or timed out after the request left, nothing streamed: the whole reservation, estimated',
      { mayHaveBilled: true },
      { kind: 'estimated' },
    ],
    [
      'cut mid-stream with prompt and output so far: the prompt, and the output +10 % + 16 tokens',
      { mayHaveBilled: true, partial: { inputTokens: 900, outputTokens: 40 } },
      {
        kind: 'estimated',
        cut: { prompt: { input: 900, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 }, output: 60 },
      },
    ],
    [
      'output bytes bound the tokens when the provider reported none (OpenAI streams usage only at the end)',
      { mayHaveBilled: true, partial: { outputBytes: 200 } },
      { kind: 'estimated', cut: { output: 236 } },
    ],
    [
      'the larger of the reported output tokens and the bytes',
      { mayHaveBilled: true, partial: { outputTokens: 50, outputBytes: 30 } },
      { kind: 'estimated', cut: { output: 71 } },
    ],
    [
      "the provider's prompt split is kept (cache reads and writes bill at their own rates)",
      {
        mayHaveBilled: true,
        partial: {
          inputTokens: 1000,
          outputBytes: 0,
          inputUsage: { input: 100, cacheRead: 800, cacheWrite5m: 100, cacheWrite1h: 0 },
        },
      },
      {
        kind: 'estimated',
        cut: { prompt: { input: 100, cacheRead: 800, cacheWrite5m: 100, cacheWrite1h: 0 }, output: 16 },
      },
    ],
    [
      'a model that reasons without streaming it (OpenAI o-series): what streamed bounds nothing, the reservation',
      { mayHaveBilled: true, partial: { outputBytes: 40, hiddenReasoning: true } },
      { kind: 'estimated' },
    ],
    [
      'tokens streamed prove it reached the provider, whatever the flag says',
      { mayHaveBilled: false, partial: { outputTokens: 1 } },
      { kind: 'estimated', cut: { output: 18 } },
    ],
    [
      'prompt tokens reported at the stream start prove it too',
      { mayHaveBilled: false, partial: { inputTokens: 30 } },
      { kind: 'estimated', cut: { prompt: { input: 30, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 }, output: 16 } },
    ],
    ['an HTTP error before any output: released', { mayHaveBilled: false }, { kind: 'release' }],
    [
      'a partial that carries no tokens proves nothing: released',
      { mayHaveBilled: false, partial: {} },
      { kind: 'release' },
    ],
    ['cancelled before sending: released', { mayHaveBilled: false, requestId: null }, { kind: 'release' }],
  ];
  for (const [name, failure, expected] of rows) {
    it(name, () => assert.deepEqual(failedCallCharge(failure), expected));
  }
});

describe('callFailureOf: a provider error in the money rule’s terms', () => {
  const error = (init: Omit<ProviderErrorInit, 'provider' | 'message'>) =>
    new ProviderError({ provider: 'anthropic', message: 'x', requestId: 'req_1', ...init });
  const rows: Array<[string, unknown, CallFailure, FailedCallCharge['kind']]> = [
    [
      'HTTP 400: never billed',
      error({ kind: 'badRequest', status: 400 }),
      { mayHaveBilled: false, requestId: 'req_1' },
      'release',
    ],
    [
      'HTTP 429: never billed',
      error({ kind: 'rateLimit', status: 429 }),
      { mayHaveBilled: false, requestId: 'req_1' },
      'release',
    ],
    [
      'connection refused (said not to have left)',
      error({ kind: 'network', mayHaveBilled: false }),
      { mayHaveBilled: false, requestId: 'req_1' },
      'release',
    ],
    [
      'timed out with no status: may have billed',
      error({ kind: 'timeout' }),
      { mayHaveBilled: true, requestId: 'req_1' },
      'estimated',
    ],
    [
      'aborted after the request left',
      error({ kind: 'aborted', mayHaveBilled: true }),
      { mayHaveBilled: true, requestId: 'req_1' },
      'estimated',
    ],
    [
      'stream cut after message_start: its prompt tokens are kept',
      error({ kind: 'streamCut', partial: { text: 'Hal', toolCalls: [], usage: { input: 900, cacheRead: 100 } } }),
      {
        mayHaveBilled: true,
        requestId: 'req_1',
        partial: {
          inputTokens: 1000,
          outputTokens: 0,
          outputBytes: 3,
          inputUsage: { input: 900, cacheRead: 100, cacheWrite5m: 0, cacheWrite1h: 0 },
        },
      },
      'estimated',
    ],
    [
      'a refusal that reported its final usage: exact',
      error({
        kind: 'refused',
        partial: { text: '', toolCalls: [], usage: { input: 120, output: 3 }, usageFinal: true },
      }),
      {
        mayHaveBilled: true,
        requestId: 'req_1',
        finalUsage: FINAL,
        partial: {
          inputTokens: 120,
          outputTokens: 3,
          outputBytes: 0,
          inputUsage: { input: 120, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 },
        },
      },
      'exact',
    ],
    [
      'a cut OpenAI stream (no usage yet): the UTF-8 bytes of the text and the tool calls streamed',
      error({
        kind: 'streamCut',
        partial: { text: 'héllo', toolCalls: [{ id: 't1', name: 'readFile', input: { path: 'a.ts' } }] },
      }),
      {
        mayHaveBilled: true,
        requestId: 'req_1',
        partial: { inputTokens: 0, outputTokens: 0, outputBytes: 6 + 'readFile{"path":"a.ts"}'.length },
      },
      'estimated',
    ],
    [
      'a cut Anthropic stream during thinking: the thinking streamed counts as output',
      error({ kind: 'streamCut', partial: { text: '', toolCalls: [], otherOutputBytes: 500, usage: { input: 80 } } }),
      {
        mayHaveBilled: true,
        requestId: 'req_1',
        partial: {
          inputTokens: 80,
          outputTokens: 0,
          outputBytes: 500,
          inputUsage: { input: 80, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 },
        },
      },
      'estimated',
    ],
    [
      'a cut OpenAI reasoning model: flagged, so the reservation is charged',
      error({ kind: 'streamCut', partial: { text: 'Hi', toolCalls: [], hiddenReasoning: true } }),
      {
        mayHaveBilled: true,
        requestId: 'req_1',
        partial: { inputTokens: 0, outputTokens: 0, outputBytes: 2, hiddenReasoning: true },
      },
      'estimated',
    ],
    ['anything but a ProviderError: taken as possibly billed', new Error('boom'), { mayHaveBilled: true }, 'estimated'],
  ];
  for (const [name, err, expected, charge] of rows) {
    it(`${name} → ${charge}`, () => {
      const failure = callFailureOf(err);
      assert.deepEqual(failure, expected);
      assert.equal(failedCallCharge(failure).kind, charge);
    });
  }
});

describe('which OpenAI models reason without streaming it (a cut of one is charged its reservation)', () => {
  for (const model of ['o3', 'o4-mini', 'gpt-5', 'gpt-5-mini', 'openai/o1'])
    it(`${model}: yes`, () => assert.equal(mayReasonUnseen(model), true));
  for (const model of ['gpt-4.1-mini', 'gpt-4o', 'llama3.1:8b', 'qwen2.5-coder'])
    it(`${model}: no`, () => assert.equal(mayReasonUnseen(model), false));
});
