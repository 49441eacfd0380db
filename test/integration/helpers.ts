// Shared helpers of the integration tests (not a test file: esbuild.mjs picks up only *.test.ts).
import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { Workspace } from '../../src/core/workspace';
import type { AgentBudgetApi } from '../../src/vscode/extension';
import { EXTENSION_ID } from '../../src/vscode/ids';

export async function activeApi(): Promise<AgentBudgetApi> {
  const extension = vscode.extensions.getExtension<AgentBudgetApi>(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is not loaded in this extension host`);
  const api = await extension.activate();
  assert.ok(api?.workspace, 'activate() returned no workspace');
  return api;
}

export async function openWorkspace(api: AgentBudgetApi): Promise<Workspace> {
  return api.workspace.ready;
}

export function folder(): vscode.Uri {
  const f = vscode.workspace.workspaceFolders?.[0];
  assert.ok(f, 'the integration tier opens a folder');
  return f.uri;
}

export const policyUri = () => vscode.Uri.joinPath(folder(), '.agent-budget', 'budget.json');

export async function readText(uri: vscode.Uri): Promise<string | undefined> {
  try {
    return new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
  } catch {
    return undefined;
  }
}

export async function writeText(uri: vscode.Uri, text: string): Promise<void> {
  await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(text));
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes; fails with `what`. */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 5000,
  everyMs = 50,
): Promise<NonNullable<Awaited<T>>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<Awaited<T>>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`,
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Writes budget.json with these workspace caps (null = no cap) and no workflow caps, and reloads it. */
export async function setCaps(
  workspace: Workspace,
  caps: { dailyUsd?: number | null; weeklyUsd?: number | null; monthlyUsd?: number | null },
  extra: Record<string, unknown> = {},
): Promise<void> {
  const policy = {
    timeZone: 'UTC',
    limits: {
      workspace: {
        dailyUsd: caps.dailyUsd ?? null,
        weeklyUsd: caps.weeklyUsd ?? null,
        monthlyUsd: caps.monthlyUsd ?? null,
      },
    },
    ...extra,
  };
  await writeText(policyUri(), JSON.stringify(policy, null, 2));
  const error = await workspace.reloadPolicy();
  assert.equal(error, undefined, error?.message);
}

/** The user's own policy file of this run (the harness points AGENT_BUDGET_USER_POLICY at a temp file). */
export function userPolicyUri(): vscode.Uri {
  const file = process.env.AGENT_BUDGET_USER_POLICY;
  assert.ok(
    file,
    'the integration harness sets AGENT_BUDGET_USER_POLICY (scripts/vscode-server.mjs isolatedUserConfig)',
  );
  return vscode.Uri.file(file);
}

/**
 * Writes the user's own user.json (undefined: removes it) and reloads the policy. Suites that need caps above the
 * built-in defaults say so here — the user decided them — rather than in budget.json, which cannot raise them.
 */
export async function setUserPolicy(workspace: Workspace, policy: object | undefined): Promise<void> {
  const uri = userPolicyUri();
  if (policy === undefined) await vscode.workspace.fs.delete(uri).then(undefined, () => undefined);
  else {
    await vscode.workspace.fs.createDirectory(vscode.Uri.joinPath(uri, '..'));
    await writeText(uri, JSON.stringify(policy, null, 2));
  }
  const error = await workspace.reloadPolicy();
  assert.equal(error, undefined, error?.message);
}

/** The user sets no caps of their own: whatever budget.json caps is what holds. */
export const NO_USER_CAPS = { limits: { workspace: { dailyUsd: null, weeklyUsd: null, monthlyUsd: null } } };

/** Charges `usd` to the workspace as a fixed tool cost (the engine's own path for spend without a provider). */
export async function spend(
  workspace: Workspace,
  usd: number,
  workflow = 'integration',
  tool = 'runCommand',
): Promise<void> {
  await workspace.engine.chargeTool({ workflow, runId: null, taskId: null, task: null, tool, usd });
}

export async function closeAllEditors(): Promise<void> {
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
}
