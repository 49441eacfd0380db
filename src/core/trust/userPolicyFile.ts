import os from 'node:os';
import path from 'node:path';

/** The environment variable that points at another user policy file (tests, several profiles, a managed machine). */
export const USER_POLICY_ENV = 'AGENT_BUDGET_USER_POLICY';

export interface UserPolicyLocation {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  /** The user's home folder (os.homedir()). */
  home: string;
}

/**
 * Where the user's own policy lives (docs/cli.md "The user's own policy"); the extension and the CLI both ask here,
 * so they read the same file:
 * - `AGENT_BUDGET_USER_POLICY=<file>` when set (a relative path is taken from the current directory);
 * - Windows: `%APPDATA%\agent-budget\user.json` (the roaming profile, where per-user settings of CLIs live);
 * - macOS and Linux: `$XDG_CONFIG_HOME/agent-budget/user.json`, default `~/.config/agent-budget/user.json`. On
 *   macOS this is what command-line tools there commonly use (git, gh, npm's tools) rather than
 *   `~/Library/Application Support`, and it keeps one documented path for both Unix-likes.
 * A relative XDG_CONFIG_HOME is ignored, as the XDG spec says; a missing APPDATA falls back to its usual place.
 */
export function userPolicyFile(
  where: UserPolicyLocation = { env: process.env, platform: process.platform, home: os.homedir() },
): string {
  const p = where.platform === 'win32' ? path.win32 : path.posix;
  const override = where.env[USER_POLICY_ENV];
  if (override) return p.isAbsolute(override) ? p.normalize(override) : path.resolve(override);
  if (where.platform === 'win32') {
    const appData = where.env.APPDATA && p.isAbsolute(where.env.APPDATA) ? where.env.APPDATA : undefined;
    return p.join(appData ?? p.join(where.home, 'AppData', 'Roaming'), 'agent-budget', 'user.json');
  }
  const xdg = where.env.XDG_CONFIG_HOME && p.isAbsolute(where.env.XDG_CONFIG_HOME) ? where.env.XDG_CONFIG_HOME : '';
  return p.join(xdg || p.join(where.home, '.config'), 'agent-budget', 'user.json');
}
