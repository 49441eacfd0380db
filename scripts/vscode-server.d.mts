// Types for vscode-server.mjs, so the TypeScript e2e tests can import it.
import type { Browser, Page } from 'playwright-core';

export const ROOT: string;
export const CODE_SERVER_VERSION: string;
export const CODE_SERVER_DIR: string;
export const SERVER_MAIN: string;
export const CHROMIUM: string;

export function sleep(ms: number, options?: { unref?: boolean }): Promise<void>;
export function freePort(): Promise<number>;
export function ensureCodeServer(): Promise<string>;

export interface StartServerOptions {
  /** The extension folder to load as under development (through the URL payload). */
  extensionDevelopmentPath?: string;
  serverDataDir: string;
  userDataDir: string;
  /** Added to the server's environment, which the extension host inherits. */
  env?: Record<string, string>;
  port?: number;
  logFile?: string;
  timeoutMs?: number;
  /** false = `--disable-workspace-trust`: every folder is trusted and no dialog is shown. Default true. */
  workspaceTrust?: boolean;
}

export interface VsCodeServer {
  readonly port: number;
  readonly logFile: string;
  remoteUri(absolutePath: string): string;
  logTail(lines?: number): string;
  url(folder: string, payload?: [string, string][]): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

export function startServer(options: StartServerOptions): Promise<VsCodeServer>;
/** Server environment for a user config folder under `dir` (user.json at AGENT_BUDGET_USER_POLICY). */
export function isolatedUserConfig(dir: string): {
  XDG_CONFIG_HOME: string;
  APPDATA: string;
  AGENT_BUDGET_USER_POLICY: string;
};
export function installExtension(vsix: string, dirs: { serverDataDir: string; userDataDir: string }): Promise<string>;
export function launchBrowser(): Promise<Browser>;
export function waitForWorkbench(page: Page, timeoutMs?: number): Promise<void>;
export function trustWorkspace(page: Page, timeoutMs?: number, signal?: AbortSignal): Promise<boolean>;
export function tempDir(prefix: string): Promise<string>;
export function copyWorkspace(parent: string, source?: string, name?: string): string;
export function newestMtime(paths: string[]): number;
/**
 * Points the provider endpoints at `urls` in the server's Machine settings (where a remote window reads
 * machine-scoped settings), and removes them from User settings. `jsonc` is jsonc-parser.
 */
export function writeEndpointSettings(
  userDataDir: string,
  urls: Partial<Record<'anthropic' | 'openai' | 'gemini', string>> | undefined,
  jsonc: typeof import('jsonc-parser'),
): void;
