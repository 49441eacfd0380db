import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  lstatSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { POLICY_DIR, stateRoot, workspaceStateDir, workspaceStateKey, type StateSystem } from '../statePaths';
import type { StoreRecord } from '../store/records';
import { WorkspaceStore } from '../store/store';
import { readInstallId } from './installId';

/**
 * Where a workspace's store lives and which install this is (statePaths.ts, installId.ts), and the one-time upgrade
 * from the store older versions kept in the repository's `.agent-budget/`.
 */

const POLICY_ENTRIES = new Set(['budget.json', 'workflows', '.gitignore']);
const STORE_FILE = /^(journal-\d+\.log|snapshot-\d+-[0-9a-f]+\.sqlite)$/;

export interface MachineState {
  /** The store's folder. */
  dir: string;
  /** The per-user state root (holds the install id, and `workspaces/`). */
  root: string;
  installId: string;
  /** The folder is this workspace's per-user one and has never been opened (no workspace.json yet). */
  fresh: boolean;
}

/** `stateDir` (the CLI's AGENT_BUDGET_STATE_DIR, tests) names the store's folder; otherwise it is computed. */
export function locateMachineState(folder: string, sys: StateSystem, stateDir?: string): MachineState {
  const root = stateRoot(sys);
  const installId = readInstallId(root);
  if (stateDir) return { dir: path.resolve(stateDir), root, installId, fresh: false };
  const dir = workspaceStateDir(folder, sys);
  return { dir, root, installId, fresh: !existsSync(path.join(dir, 'workspace.json')) };
}

/** Names the folder for people browsing the state root; its presence also says the upgrade has been done. */
export function recordWorkspace(state: MachineState, folder: string, sys: StateSystem): void {
  const key = workspaceStateKey(folder, sys);
  const text = JSON.stringify(
    { workspace: key.realPath, key: key.normalised, createdAt: new Date().toISOString() },
    null,
    2,
  );
  writeFileSync(path.join(state.dir, 'workspace.json'), `${text}\n`, { mode: 0o600 });
}

/** Lists the files git tracks under `.agent-budget/` (workspace-relative, `/`); throws when git cannot say. */
export type TrackedFiles = (folder: string, cwd: string) => string[];

export const gitTrackedFiles: TrackedFiles = (folder, cwd) => {
  const out = execFileSync(
    'git',
    // No fsmonitor or untracked cache: a repository's own config must not make git run one of its programs.
    ['-c', 'core.fsmonitor=false', '-c', 'core.untrackedCache=false', '-C', folder, 'ls-files', '-z', '--', POLICY_DIR],
    {
      // Not the workspace: Windows looks for `git.exe` in the working directory before PATH.
      cwd,
      encoding: 'utf8',
      timeout: 10_000,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        GIT_OPTIONAL_LOCKS: '0',
        GIT_TERMINAL_PROMPT: '0',
        NoDefaultCurrentDirectoryInExePath: '1',
      },
    },
  );
  return out.split('\0').filter(Boolean);
};

/**
 * The upgrade: when this workspace's per-user folder is new and the repository's `.agent-budget/` holds a store
 * from an older version, copy its **spend** — ledger rows and alerts already sent, history that can only tighten
 * budgets — into `store`; never runs, checkpoints or reservations (a resumed checkpoint could run a command). Only
 * when no state file there is a symbolic link and git tracks none of them (a repository that ships a store is
 * not the user's history); when git cannot say, nothing is imported. The old files stay where they are.
 * Returns one message for the user, or undefined when there was no older store.
 */
export async function importLegacySpend(
  folder: string,
  state: MachineState,
  store: WorkspaceStore,
  tracked: TrackedFiles = gitTrackedFiles,
): Promise<string | undefined> {
  const old = path.join(folder, POLICY_DIR);
  let entries: string[];
  try {
    if (lstatSync(old).isSymbolicLink()) return refused(state, `${POLICY_DIR} is a symbolic link`);
    entries = readdirSync(old);
  } catch {
    return undefined; // no such folder (or not a folder): nothing from an older version
  }
  const storeFiles = entries.filter((e) => STORE_FILE.test(e));
  if (storeFiles.length === 0) return undefined;
  for (const entry of entries.filter((e) => !POLICY_ENTRIES.has(e))) {
    if (lstatSync(path.join(old, entry)).isSymbolicLink())
      return refused(state, `${POLICY_DIR}/${entry} is a symbolic link`);
  }
  let files: string[];
  try {
    files = tracked(folder, state.root);
  } catch (err) {
    const why =
      err instanceof Error
        ? (err.message.split('\n').find((l) => /fatal|not a git/i.test(l)) ?? err.message)
        : String(err);
    return refused(state, `git could not say whether the repository tracks them (${why.trim().slice(0, 200)})`);
  }
  const trackedState = files.find((f) => !POLICY_ENTRIES.has(f.split('/')[1] ?? ''));
  if (trackedState) return refused(state, `git tracks ${trackedState}, so the repository supplied it`);

  const temp = mkdtempSync(path.join(tmpdir(), 'agent-budget-import-'));
  try {
    // Opened from a private copy: recovering a damaged file moves it aside, and that must not happen in the repository.
    let legacy: WorkspaceStore;
    try {
      for (const name of storeFiles) copyRegularFile(path.join(old, name), path.join(temp, name));
      legacy = await WorkspaceStore.open({ dir: temp, pollMs: 0 });
    } catch (err) {
      return refused(state, `reading it failed (${err instanceof Error ? err.message : String(err)})`);
    }
    let rows = 0;
    let alerts = 0;
    try {
      for (const page of legacy.queries.ledgerRows(0, Number.MAX_SAFE_INTEGER, 2_000)) {
        await store.commit(page.map((entry): StoreRecord => ({ k: 'ledger', entry })));
        rows += page.length;
      }
      const fired = legacy.queries.firedAlerts();
      if (fired.length) await store.commit(fired.map((a): StoreRecord => ({ k: 'alert', ...a })));
      alerts = fired.length;
    } finally {
      await legacy.close();
    }
    return (
      `Agent Budget now keeps this workspace's spend, runs and checkpoints in ${state.dir}, outside the repository. ` +
      `Imported the spend history of ${POLICY_DIR}/: ${rows.toLocaleString('en-US')} ledger rows and ${alerts} ` +
      `alerts already sent. Runs and checkpoints were not imported (start them again); the old files are left as ` +
      `they were and can be deleted.`
    );
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

function refused(state: MachineState, why: string): string {
  return (
    `Agent Budget now keeps this workspace's spend, runs and checkpoints in ${state.dir}, outside the repository. ` +
    `The store an older version left in ${POLICY_DIR}/ was not imported: ${why}. Spend recorded there does ` +
    `not count against the budgets here; the old files are left as they were.`
  );
}

/** Copies a regular file without following a symbolic link (swapped in after the check, say). */
function copyRegularFile(from: string, to: string): void {
  const input = openSync(from, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  try {
    if (!fstatSync(input).isFile()) throw new Error(`${path.basename(from)} is not a regular file`);
    const output = openSync(to, 'wx', 0o600);
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const n = readSync(input, buf, 0, buf.length, null);
        if (n === 0) break;
        let done = 0;
        while (done < n) done += writeSync(output, buf, done, n - done);
      }
    } finally {
      closeSync(output);
    }
  } finally {
    closeSync(input);
  }
}
