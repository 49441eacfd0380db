// The budget proxy as a user meets it in the real workbench: the key is set, "Start Budget Proxy" runs from the
// palette, a new integrated terminal has the proxy's base URLs and a client token in its environment, a plain
// script in that terminal calls Anthropic through it (a fake Anthropic in this test process, the user's key only
// there), and the meter moves by the call's cost.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../scripts/vscode-server.mjs';
import { startFakeAnthropic, type FakeAnthropic, type Running } from '../fakes';
import { useWorkbench } from './workbench';

const KEY = 'sk-ant-e2e-proxy-key-0123456789';

/** What the terminal's script writes: its environment as it saw it, and the proxied call's answer. */
const SCRIPT = `
const fs = require('node:fs');
const base = process.env.ANTHROPIC_BASE_URL;
const key = process.env.ANTHROPIC_API_KEY || '';
const out = {
  base,
  keyPrefix: key.slice(0, 4),
  openai: process.env.OPENAI_BASE_URL,
  gemini: process.env.GOOGLE_GEMINI_BASE_URL,
  geminiKeyIsSame: process.env.GEMINI_API_KEY === key,
};
fetch(base + '/v1/messages', {
  method: 'POST',
  headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
  body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 30000, messages: [{ role: 'user', content: 'Hello from the terminal.' }] }),
})
  .then(async (res) => {
    out.status = res.status;
    out.body = await res.json();
  })
  .catch((err) => (out.error = String(err)))
  .finally(() => fs.writeFileSync('proxy-call.out.json', JSON.stringify(out, null, 2)));
`;

describe('The budget proxy: a terminal of the workspace calls through it and the meter moves', function () {
  this.timeout(180_000);
  let fake: Running<FakeAnthropic>;
  let port: number;
  const workbench = useWorkbench({
    prepare: async ({ workspace, addUserSettings }) => {
      fake = await startFakeAnthropic({ apiKey: KEY });
      port = await freePort();
      addUserSettings({ 'agentBudget.anthropic.baseUrl': fake.baseUrl, 'agentBudget.proxy.port': port });
      writeFileSync(path.join(workspace, 'proxy-call.js'), SCRIPT);
    },
  });
  after(async () => fake?.close());

  it('Start Budget Proxy, a new terminal, a script calling Anthropic: metered, and the meter shows its cost', async () => {
    const wb = workbench();
    // The meter shows spend once the extension is active and its store open: its commands are registered by then.
    const meter = wb.statusBarItem('Agent Budget');
    await meter.filter({ hasText: '$0.00 / $5.00 today' }).waitFor({ state: 'visible', timeout: 20_000 });
    await wb.setApiKey('Anthropic', KEY);

    await wb.runCommand('Agent Budget: Start Budget Proxy');
    const url = `http://127.0.0.1:${port}`;
    await wb.notification(`budget proxy on ${url}`).waitFor({ state: 'visible', timeout: 20_000 });

    // 20,000 tokens in and out of claude-haiku-4-5 ($1 and $5 per million): $0.12.
    fake.enqueue({ text: 'Hello, terminal.', usage: { input: 20_000, output: 20_000 } });
    await wb.runCommand('Terminal: Create New Terminal');
    const terminal = wb.page.locator('.terminal-wrapper.active .xterm');
    await terminal.waitFor({ state: 'visible', timeout: 30_000 });
    await wb.page.waitForTimeout(1_500); // the shell's prompt
    await terminal.click();
    await wb.page.keyboard.type(`"${process.execPath}" proxy-call.js`);
    await wb.page.keyboard.press('Enter');

    const outFile = path.join(wb.workspace, 'proxy-call.out.json');
    const deadline = Date.now() + 30_000;
    while (!existsSync(outFile) && Date.now() < deadline) await wb.page.waitForTimeout(200);
    assert.ok(existsSync(outFile), 'the script in the terminal never finished');
    const out = JSON.parse(readFileSync(outFile, 'utf8')) as Record<string, unknown>;
    assert.equal(out.base, url, "the terminal's ANTHROPIC_BASE_URL is the proxy");
    assert.equal(out.openai, `${url}/v1`);
    assert.equal(out.gemini, url);
    assert.equal(out.keyPrefix, 'abp_', 'its key is a proxy client token, not the user key');
    assert.equal(out.geminiKeyIsSame, true);
    assert.equal(out.status, 200, JSON.stringify(out));
    assert.equal((out.body as { content: Array<{ text: string }> }).content[0]?.text, 'Hello, terminal.');

    // The fake got the user's key (it refuses any other) and never the token.
    const request = fake.generationRequests.at(-1)!;
    assert.equal(request.hadApiKey, true);
    assert.ok(!JSON.stringify(request).includes('abp_'));

    await meter.filter({ hasText: '$0.12 / $5.00 today' }).waitFor({ state: 'visible', timeout: 15_000 });
    // The tooltip says where the proxy runs and what each client spent through it today.
    await meter.hover();
    const hover = wb.page.locator('.monaco-hover, .workbench-hover').filter({ hasText: 'Budget proxy' });
    await hover.first().waitFor({ state: 'visible' });
    assert.match(
      (await hover.first().innerText()).replace(/\s+/g, ' '),
      new RegExp(`Budget proxy on ${url.replace(/\./g, '\\.')} — today by client: vscode \\$0\\.12 \\(1 call\\)`),
    );
  });
});
