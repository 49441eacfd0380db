// `npm test`: every tier, in order, with one table at the end.
//   install what is missing (npm ci on a fresh clone, code-server on first use) → build → check (tsc + layering)
//   → unit (mocha + tsx) → windows (core and CLI suites under Windows' node.exe in Wine) → integration (mocha in
//   the real extension host) → e2e (Chromium on the real workbench)
// Exits non-zero if any step failed, or any tier ran no test or skipped one. Every tier runs even after a failure,
// so one run shows everything that is wrong.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ensureDependencies, npmRun, ROOT } from './project.mjs';
import { ensureCodeServer } from './vscode-server.mjs';

const RESULTS = path.join(ROOT, 'out', 'test-results');
const REPORTER = path.join(ROOT, 'scripts', 'mocha-results-reporter.cjs');

/** @type {{ name: string, ok: boolean, seconds: number, counts?: { passes: number, failures: number, pending: number, tests: number, notApplicable?: unknown[] }, note?: string }[]} */
const rows = [];
let current; // the running child, stopped on Ctrl+C

function run(command, args, env = {}) {
  return new Promise((resolve) => {
    current = spawn(command, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
    current.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    // The children get the same Ctrl+C from the terminal; their own handlers stop servers and browsers.
    current?.kill(signal);
    setTimeout(() => process.exit(130), 3000).unref();
  });
}

function heading(text) {
  console.log(`\n━━ ${text} ${'━'.repeat(Math.max(0, 70 - text.length))}`);
}

async function step(name, action) {
  heading(name);
  const started = Date.now();
  let ok = false;
  let note;
  try {
    ok = (await action()) !== false;
  } catch (error) {
    note = error.message;
    console.error(`\n${name} failed: ${error.message}`);
  }
  rows.push({ name, ok, seconds: (Date.now() - started) / 1000, note });
  return ok;
}

/** A mocha tier: its exit code and the JSON summary its reporter wrote decide together. */
async function tier(name, command, args, resultsFile) {
  heading(`${name} tests`);
  rmSync(resultsFile, { force: true });
  const started = Date.now();
  const exit = await run(command, args, { AGENT_BUDGET_TEST_RESULTS: resultsFile });
  const seconds = (Date.now() - started) / 1000;
  if (!existsSync(resultsFile)) {
    rows.push({ name, ok: false, seconds, note: `no results (exit ${exit}): the tier did not run` });
    return;
  }
  const counts = JSON.parse(readFileSync(resultsFile, 'utf8'));
  const notes = [];
  if (exit !== 0) notes.push(`exit ${exit}`);
  if (counts.tests === 0) notes.push('ran no test');
  if (counts.pending > 0) notes.push(`${counts.pending} skipped`);
  if (counts.failures > 0) notes.push(`${counts.failures} failed`);
  const ok = notes.length === 0;
  // Tests whose subject this platform lacks were never defined (test/support/platform.ts): named, not passed.
  const notApplicable = counts.notApplicable?.length ?? 0;
  if (notApplicable > 0) notes.push(`${notApplicable} not applicable here (see ${path.relative(ROOT, resultsFile)})`);
  rows.push({ name, ok, seconds, counts, note: notes.join(', ') || undefined });
}

async function main() {
  const started = Date.now();
  await step('install', async () => {
    await ensureDependencies();
    await ensureCodeServer();
  });
  const built = await step('build', () => npmRun('build') === 0);
  await step('check (tsc + layering)', () => npmRun('check') === 0);

  // Through the package.json script, so the unit tier is what `npm run test:unit` runs, plus the counting reporter.
  await tier(
    'unit',
    'npm',
    ['run', '--silent', 'test:unit', '--', '--reporter', REPORTER],
    path.join(RESULTS, 'unit.json'),
  );
  // Needs no build: it bundles its own suites.
  await tier(
    'windows',
    process.execPath,
    ['scripts/test-windows.mjs', '--results', path.join(RESULTS, 'windows.json')],
    path.join(RESULTS, 'windows.json'),
  );
  if (built) {
    await tier(
      'integration',
      process.execPath,
      ['scripts/test-integration.mjs', '--no-build', '--results', path.join(RESULTS, 'integration.json')],
      path.join(RESULTS, 'integration.json'),
    );
    rmSync(path.join(ROOT, '.e2e-artifacts'), { recursive: true, force: true });
    await tier(
      'e2e',
      'npm',
      ['run', '--silent', 'test:e2e', '--', '--reporter', REPORTER],
      path.join(RESULTS, 'e2e.json'),
    );
  } else {
    rows.push({ name: 'integration', ok: false, seconds: 0, note: 'not run: the build failed' });
    rows.push({ name: 'e2e', ok: false, seconds: 0, note: 'not run: the build failed' });
  }

  // The table.
  heading('summary');
  const pad = (value, width) => String(value).padEnd(width);
  console.log(
    `${pad('step', 24)}${pad('result', 8)}${pad('passed', 8)}${pad('failed', 8)}${pad('pending', 9)}${pad('time', 8)}note`,
  );
  let passed = 0;
  let failed = 0;
  let pending = 0;
  for (const row of rows) {
    const c = row.counts;
    if (c) {
      passed += c.passes;
      failed += c.failures;
      pending += c.pending;
    } else if (!row.ok) failed += 1; // a step or tier that could not run counts as a failure
    console.log(
      `${pad(row.name, 24)}${pad(row.ok ? 'ok' : 'FAILED', 8)}${pad(c ? c.passes : '', 8)}${pad(c ? c.failures : '', 8)}` +
        `${pad(c ? c.pending : '', 9)}${pad(`${row.seconds.toFixed(0)} s`, 8)}${row.note ?? ''}`,
    );
  }
  const ok = rows.every((row) => row.ok);
  console.log(
    `\n${ok ? 'All tiers passed' : 'FAILED'} in ${Math.round((Date.now() - started) / 1000)} s. Screenshots: .e2e-artifacts/`,
  );
  // The plain closing line CI reads.
  console.log(`Tests: ${passed} passed, ${failed} failed, ${pending} skipped`);
  process.exitCode = ok ? 0 : 1;
}

await main();
