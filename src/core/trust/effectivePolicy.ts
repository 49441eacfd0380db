import { createHash } from 'node:crypto';
import { isNotFound, nodePolicyFileSystem, type PolicyFileSystem } from '../policy/fileSystem';
import { PolicyError } from '../policy/issues';
import { defaultPolicy, policyFilePath, policyFromText, type LoadedPolicy } from '../policy/load';
import { mergePolicies, type Loosening } from './policyMerge';
import { userPolicyFile } from './userPolicyFile';

/** What the front end is asked: may this budget.json (this folder, these exact bytes) loosen the user's policy? */
export interface ConsentRequest {
  folder: string;
  /** budget.json's path. */
  file: string;
  /** sha256 of the file's content (hex): consent is to this content, and a change asks again. */
  hash: string;
  /** What it loosens (never empty when asked). */
  loosening: readonly Loosening[];
}

/**
 * The user's answer, already given (the CLI's `--trust-policy`, the extension's remembered choice): never asks
 * while loading, so loading never waits on a person.
 */
export type ConsentCheck = (request: ConsentRequest) => boolean;

/** The policy in force, with where it came from; `policy` is the merge, the LoadedPolicy fields are budget.json's. */
export interface EffectivePolicy extends LoadedPolicy {
  /** The user's own file (user.json) and whether it exists. */
  user: { file: string; source: 'file' | 'defaults' };
  /** sha256 of budget.json's content; undefined without the file. */
  hash: string | undefined;
  /** What budget.json loosens and consent would apply (ignored when `consented` is false). */
  loosening: Loosening[];
  /** What it asks above a limit user.json sets: never applied. */
  heldByUser: Loosening[];
  /** Consent was given for this content: the `loosening` items apply. */
  consented: boolean;
}

export interface EffectivePolicyOptions {
  /** The user's policy file; default userPolicyFile() (AGENT_BUDGET_USER_POLICY, XDG_CONFIG_HOME, APPDATA). */
  userFile?: string;
  /** Default: no consent (what loosens is ignored). */
  consent?: ConsentCheck;
  fs?: PolicyFileSystem;
}

/**
 * Reads user.json and `<folder>/.agent-budget/budget.json` and merges them (policyMerge.ts). Either file invalid —
 * or unreadable — throws PolicyError naming that file (the user's first): runs must refuse rather than run on a
 * policy nobody wrote.
 */
export async function loadEffectivePolicy(
  folder: string,
  options: EffectivePolicyOptions = {},
): Promise<EffectivePolicy> {
  const fs = options.fs ?? nodePolicyFileSystem;
  const userFile = options.userFile ?? userPolicyFile();
  const repoFile = policyFilePath(folder);
  const [user, repo] = await Promise.all([readPolicy(userFile, fs), readPolicy(repoFile, fs)]);
  const userSide = user ?? { policy: defaultPolicy(), raw: {} };
  let merged = mergePolicies(userSide, repo, false);
  let consented = false;
  if (repo && merged.loosening.length > 0) {
    const request = { folder, file: repoFile, hash: repo.hash, loosening: merged.loosening };
    if (options.consent?.(request)) {
      consented = true;
      merged = mergePolicies(userSide, repo, true);
    }
  }
  return {
    policy: merged.policy,
    raw: repo?.raw ?? {},
    warnings: [...(user?.warnings ?? []), ...(repo?.warnings ?? [])],
    source: repo ? 'file' : 'defaults',
    file: repoFile,
    user: { file: userFile, source: user ? 'file' : 'defaults' },
    hash: repo?.hash,
    loosening: merged.loosening,
    heldByUser: merged.heldByUser,
    consented,
  };
}

/** sha256 (hex) of a policy file's content. */
export function contentHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

async function readPolicy(file: string, fs: PolicyFileSystem) {
  let text: string;
  try {
    text = await fs.readFile(file);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    // A folder where the file should be, no permission: as precise as a syntax error, never a stack trace.
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    const message = `cannot be read (${code}); fix or remove it`;
    throw new PolicyError(file, [
      { severity: 'error', file, path: '', line: 1, column: 1, offset: 0, length: 0, message },
    ]);
  }
  return { ...policyFromText(text, file), hash: contentHash(text) };
}
