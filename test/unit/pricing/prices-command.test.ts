import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { noticeStalePrices, userStateRoot } from '../../../src/cli/commands/prices';
import { PRICE_TABLE_DATE, utcDay } from '../../../src/core/pricing/prices';
import type { PriceTableRow } from '../../../src/core/pricing/table';
import { runCli } from '../../support/cli';
import { writePolicy } from '../runner/helpers';

interface PricesJson {
  day: string;
  tableDate: string;
  tableAgeDays: number;
  secondSource: { name: string; version: string; dataDate: string };
  models: PriceTableRow[];
}

describe('agent-budget prices', () => {
  let workspace: string;
  beforeEach(async () => {
    workspace = await mkdtemp(path.join(os.tmpdir(), 'ab-prices-'));
  });
  afterEach(() => rm(workspace, { recursive: true, force: true }));

  const prices = async (...args: string[]) => {
    const r = await runCli(['prices', '--workspace', workspace, '--json', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as PricesJson;
  };

  it('--json lists every built-in model with its rates, source and the day it was checked', async () => {
    const out = await prices();
    assert.equal(out.day, utcDay(Date.now()));
    assert.equal(out.tableDate, PRICE_TABLE_DATE);
    assert.deepEqual(out.secondSource, { name: '@pydantic/genai-prices', version: '0.1.8', dataDate: '2026-09-23' });
    assert.ok(out.models.length >= 49);
    for (const m of out.models) {
      assert.equal(m.origin, 'table', m.id);
      assert.match(m.source, /^https:\/\//, m.id);
      assert.match(m.asOf!, /^\d{4}-\d{2}-\d{2}$/, m.id);
      assert.ok(m.rates.inputPerMTok > 0 && m.rates.outputPerMTok > 0, m.id);
    }
    const fable = out.models.find((m) => m.id === 'claude-fable-5-2')!;
    assert.deepEqual(fable.rates, {
      inputPerMTok: 8,
      outputPerMTok: 40,
      cacheReadPerMTok: 0.2,
      cacheWrite5mPerMTok: 10,
      cacheWrite1hPerMTok: 16,
    });
    assert.equal(fable.source, 'https://platform.claude.com/docs/en/models/fable-5-2/whats-new-fable-5-2');
    assert.equal(fable.asOf, '2026-12-03');
  });

  it('--date shows the rates in force that day and the change ahead', async () => {
    const out = await prices('--date', '2026-10-01', '--model', 'claude-sonnet-5-5');
    assert.equal(out.models.length, 1);
    const [m] = out.models;
    assert.equal(m!.rates.cacheReadPerMTok, 0.2);
    assert.equal(m!.nextChange?.day, '2026-10-07');
    assert.equal(m!.nextChange?.rates.cacheReadPerMTok, 0.1);
    const today = await prices('--model', 'claude-sonnet-5-5');
    assert.equal(today.models[0]!.rates.cacheReadPerMTok, 0.1);
    assert.equal(today.models[0]!.nextChange, undefined);
  });

  it("marks budget.json's prices: an override of a built-in, and a model it adds", async () => {
    writePolicy(workspace, {
      prices: {
        'claude-haiku-4-5': { provider: 'anthropic', inputPerMTok: 2, outputPerMTok: 10 },
        'my-model': { provider: 'openai', inputPerMTok: 1, outputPerMTok: 3 },
      },
    });
    const out = await prices();
    const haiku = out.models.filter((m) => m.id === 'claude-haiku-4-5');
    assert.equal(haiku.length, 1, 'the override replaces the built-in row');
    assert.deepEqual(
      [haiku[0]!.origin, haiku[0]!.replacesBuiltIn, haiku[0]!.rates.inputPerMTok, haiku[0]!.source],
      ['policy', true, 2, '.agent-budget/budget.json prices["claude-haiku-4-5"]'],
    );
    const mine = out.models.find((m) => m.id === 'my-model')!;
    assert.deepEqual([mine.origin, mine.replacesBuiltIn, mine.rates.cacheWrite5mPerMTok], ['policy', false, 1.25]);
    const text = await runCli(['prices', '--workspace', workspace, '--provider', 'anthropic']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^claude-haiku-4-5 \(anthropic\) \[budget\.json override\]$/m);
    assert.doesNotMatch(text.stdout, /^gpt-5 /m, '--provider filters');
  });

  it('--model resolves a served id (a dated snapshot, a model only the second source lists); unknown is an error', async () => {
    const snap = await prices('--model', 'claude-sonnet-4-5-20250929');
    assert.deepEqual(
      snap.models.map((m) => m.id),
      ['claude-sonnet-4-5'],
    );
    const second = await prices('--model', 'gpt-4-turbo');
    assert.equal(second.models[0]!.origin, 'genai-prices');
    assert.match(second.models[0]!.source, /^genai-prices 0\.1\.8 \(data of 2026-09-23\): openai "gpt-4-turbo"$/);
    const unknown = await runCli(['prices', '--workspace', workspace, '--model', 'claude-opus-4-9', '--json']);
    assert.equal(unknown.code, 1);
    assert.match(JSON.parse(unknown.stdout).error as string, /No price for model "claude-opus-4-9"/);
    const badDate = await runCli(['prices', '--workspace', workspace, '--date', '2026-13-45']);
    assert.equal(badDate.code, 1);
    assert.match(badDate.stderr, /--date must be a day as YYYY-MM-DD/);
  });

  describe('the once-a-month notice that the built-in table is old', () => {
    const day = 86_400_000;
    const tableDay = Date.parse(`${PRICE_TABLE_DATE}T12:00:00Z`);
    let home: string;
    beforeEach(async () => {
      home = await mkdtemp(path.join(os.tmpdir(), 'ab-home-'));
    });
    afterEach(() => rm(home, { recursive: true, force: true }));

    const notice = async (env: NodeJS.ProcessEnv, now: number) => {
      const stderr = new PassThrough();
      let text = '';
      stderr.on('data', (c: Buffer) => (text += c.toString()));
      await noticeStalePrices({ env, stderr }, now);
      return text;
    };

    it('says nothing while the table is 60 days old or less', async () => {
      assert.equal(await notice({ AGENT_BUDGET_STATE_HOME: home }, tableDay + 60 * day), '');
    });

    it('past 60 days: once a month per user, naming how to override a price', async () => {
      const env = { AGENT_BUDGET_STATE_HOME: home };
      const first = await notice(env, tableDay + 61 * day);
      assert.match(first, /built-in price table was last checked on \d{4}-\d{2}-\d{2} \(61 days ago\)/);
      assert.match(first, /"prices" in \.agent-budget\/budget\.json/);
      const saved = JSON.parse(await readFile(path.join(home, 'price-table-notice.json'), 'utf8')) as { month: string };
      assert.equal(saved.month, utcDay(tableDay + 61 * day).slice(0, 7));
      assert.equal(await notice(env, tableDay + 62 * day), '', 'again the same month: nothing');
      const monthLater = tableDay + 61 * day + 31 * day;
      assert.match(await notice(env, monthLater), /built-in price table/, 'the next month: once more');
    });

    it('without a per-user folder to remember it in, it is not shown (it would repeat on every command)', async () => {
      assert.equal(await notice({}, tableDay + 100 * day), '');
    });

    it('the per-user folder follows the platform', () => {
      assert.equal(userStateRoot({ AGENT_BUDGET_STATE_HOME: '/x' }, 'linux'), '/x');
      assert.equal(userStateRoot({ HOME: '/home/u' }, 'linux'), '/home/u/.local/state/agent-budget');
      assert.equal(userStateRoot({ HOME: '/home/u', XDG_STATE_HOME: '/s' }, 'linux'), '/s/agent-budget');
      assert.equal(
        userStateRoot({ HOME: '/Users/u' }, 'darwin'),
        '/Users/u/Library/Application Support/agent-budget/state',
      );
      assert.equal(
        userStateRoot({ LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' }, 'win32'),
        'C:\\Users\\u\\AppData\\Local\\agent-budget\\state',
      );
      assert.equal(userStateRoot({}, 'win32'), undefined);
    });
  });
});
