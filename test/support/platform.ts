import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Something a test needs that a platform, or the machine's privileges, may not give. A test that needs one is
 * defined only where it holds (itWhere); elsewhere it is listed as not applicable, with the reason, in the tier's
 * results (scripts/mocha-results-reporter.cjs): never run, never pending, never counted as passing.
 */
export interface Capability {
  readonly name: string;
  /** Why it may be missing, for the tier's report. */
  readonly why: string;
  readonly holds: boolean;
}

function probed(name: string, why: string, probe: () => boolean): Capability {
  let holds: boolean | undefined;
  return {
    name,
    why,
    get holds() {
      return (holds ??= probe());
    },
  };
}

/** Creating a symbolic link and reading through it, tried for real. */
export const symbolicLinks = probed(
  'symbolic links',
  'Windows creates them only with Developer Mode or administrator rights, and Wine creates none',
  () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ab-link-probe-'));
    try {
      writeFileSync(path.join(dir, 'target'), 'ok');
      symlinkSync(path.join(dir, 'target'), path.join(dir, 'link'));
      return readFileSync(path.join(dir, 'link'), 'utf8') === 'ok';
    } catch {
      return false;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

/**
 * Stopping a command with every process it started: a process group on POSIX, `taskkill /T` on Windows. Wine's
 * taskkill has no /T, and nothing else there can find a process's children.
 */
export const processTrees = probed(
  'stopping a process tree',
  'Windows does it with taskkill /T, which Wine’s taskkill lacks',
  () => process.platform !== 'win32' || /\/T\b/.test(spawnSync('taskkill', ['/?'], { encoding: 'utf8' }).stdout ?? ''),
);

/** What the results reporter reads at the end of the run (a global: the reporter is loaded apart from the bundle). */
const NOT_APPLICABLE = Symbol.for('agent-budget.notApplicable');
type NotApplicable = Array<{ title: string; reason: string }>;

/** `it`, where `capability` holds; elsewhere the test is recorded as not applicable instead of defined. */
export function itWhere(capability: Capability, title: string, fn: Mocha.AsyncFunc): void {
  if (capability.holds) {
    it(title, fn);
    return;
  }
  const list = ((globalThis as Record<symbol, unknown>)[NOT_APPLICABLE] ??= []) as NotApplicable;
  list.push({ title, reason: `needs ${capability.name}: ${capability.why}` });
}
