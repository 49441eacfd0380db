// The e2e fixture: per suite, a real VS Code (code-server's server + web workbench) in headless Chromium on a fresh
// copy of demo/, with this repository loaded as the extension under development (or a .vsix installed instead).
// Every test leaves a screenshot of its final state in .e2e-artifacts/, passed or failed.
//
//   describe('…', function () {
//     const workbench = useWorkbench();            // hooks: start before, screenshot afterEach, stop after
//     it('…', async () => { await workbench().runCommand('Agent Budget: Set API Key…'); });
//   });
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Frame, Locator, Page } from 'playwright-core';
import {
  ROOT,
  copyWorkspace,
  isolatedUserConfig,
  launchBrowser,
  sleep,
  startServer,
  tempDir,
  trustWorkspace,
  waitForWorkbench,
  type VsCodeServer,
} from '../../scripts/vscode-server.mjs';
import { nodeStateSystem, workspaceStateDir } from '../../src/core/statePaths';

export const ARTIFACTS = path.join(ROOT, '.e2e-artifacts');

export interface WorkbenchOptions {
  /** How to answer the workspace-trust dialog: 'yes' (default) or 'no' (Restricted Mode). */
  trust?: 'yes' | 'no';
  /** Load this repository as the extension under development (default true). false: only installed extensions. */
  developmentExtension?: boolean;
  /**
   * Runs once the data dirs and the workspace copy exist, before the server starts (e.g. to install a .vsix, or to
   * write the workspace's files or seed its store in `stateDir`, the folder the extension will open).
   */
  prepare?: (dirs: PreparedDirs) => Promise<void> | void;
}

export interface PreparedDirs {
  serverDataDir: string;
  userDataDir: string;
  workspace: string;
  /** The user's own policy file of this suite (user.json; none until written). */
  userPolicyFile: string;
  /** The workspace's machine state folder under this suite's own state root (statePaths.ts). */
  stateDir: string;
  /** Adds user settings (the endpoint settings are user settings only: a folder's settings cannot set them). */
  addUserSettings(values: Record<string, unknown>): void;
}

/** Quiet, deterministic user settings: no welcome page or telemetry notice covering the screenshots. */
const USER_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'extensions.ignoreRecommendations': true,
  'git.openRepositoryInParentFolders': 'never',
};

export class Workbench {
  constructor(
    readonly page: Page,
    readonly server: VsCodeServer,
    /** The absolute path of this suite's copy of demo/. */
    readonly workspace: string,
    /** The user's own policy file (user.json) the suite's server reads: a temp one, never the developer's. */
    readonly userPolicyFile: string,
    /** Where the extension keeps this workspace's store (the suite's own per-user state root). */
    readonly stateDir: string,
  ) {}

  get statusBar(): Locator {
    return this.page.locator('.part.statusbar');
  }

  /**
   * A status-bar entry. The DOM does not carry an item's `name`, but VS Code puts its text and tooltip in the
   * aria-label, so this finds the entry whose label mentions `name`. (The status bar's context menu lists items by
   * name: see `statusBarMenuNames`.)
   */
  statusBarItem(name: string): Locator {
    return this.statusBar.locator(`.statusbar-item[aria-label*="${cssString(name)}"]`);
  }

  /** The names the status bar's context menu offers to hide/show, i.e. each item's `name`. Closes the menu. */
  async statusBarMenuNames(): Promise<string[]> {
    await this.statusBar.click({ button: 'right', position: { x: 5, y: 5 } });
    const menu = this.page.locator('.context-view.monaco-menu-container');
    await menu.waitFor({ state: 'visible' });
    const names = await menu
      .locator('.action-label')
      .evaluateAll((labels) => labels.map((label) => label.getAttribute('aria-label') ?? '').filter(Boolean));
    await this.page.keyboard.press('Escape');
    await menu.waitFor({ state: 'hidden' });
    return names;
  }

  /** The quick input (command palette, quick picks, input boxes). */
  get quickInput(): Locator {
    return this.page.locator('.quick-input-widget');
  }

  get quickInputBox(): Locator {
    return this.quickInput.locator('.quick-input-box input');
  }

  /** Rows of the open quick pick whose label (aria-label up to its first comma) is exactly `label`. */
  quickPickItem(label: string): Locator {
    const l = cssString(label);
    return this.quickInput.locator(`.monaco-list-row[aria-label="${l}"], .monaco-list-row[aria-label^="${l},"]`);
  }

  /**
   * Waits until the quick input shows `prompt` as its placeholder or title (the palette closes and the command's
   * own quick pick or input box opens a moment later), and until its list has rendered.
   */
  async waitForQuickInput(prompt: string): Promise<void> {
    const p = cssString(prompt);
    await this.quickInput
      .locator(`.quick-input-box input[placeholder="${p}"], .quick-input-title:text-is("${p}")`)
      .first()
      .waitFor({ state: 'visible' });
    await this.page.waitForTimeout(100); // the list renders in the next frame
  }

  /** Labels of the rows the open quick pick shows. */
  async quickPickLabels(): Promise<string[]> {
    return this.quickInput
      .locator('.monaco-list-row')
      .evaluateAll((rows) => rows.map((row) => row.getAttribute('aria-label') ?? ''));
  }

  /** Opens the command palette with Control+Shift+P (F1 may not reach it in a browser) and runs `title`. */
  async runCommand(title: string): Promise<void> {
    // A workbench that has just loaded may not list the extension's commands yet (its contributions arrive with
    // the extension host), and a webview that takes focus (a Markdown preview opening) closes the palette under the
    // keyboard: a person would open the palette again a moment later, and so does this, for up to 30 s.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const listed = await this.openPalette()
        .then(() => this.quickInputBox.fill(`>${title}`, { timeout: 5_000 }))
        .then(() => this.quickPickItem(title).first().waitFor({ state: 'visible', timeout: 5_000 }))
        .then(() => true)
        .catch(() => false);
      if (listed || Date.now() > deadline) break;
      await this.page.keyboard.press('Escape');
      // Out of any webview that holds the focus (and so the palette's keys).
      await this.page
        .locator('.part.sidebar .composite.title')
        .first()
        .click({ timeout: 2_000 })
        .catch(() => undefined);
      await this.page.waitForTimeout(1_000);
    }
    await this.pick(title);
  }

  /** Set API Key… from the palette for `provider` (its label in the quick pick), as a user types it. */
  async setApiKey(provider: 'Anthropic' | 'OpenAI' | 'Google Gemini', key: string): Promise<void> {
    await this.runCommand('Agent Budget: Set API Key…');
    await this.waitForQuickInput('Set the API key for…');
    await this.pick(provider);
    await this.waitForQuickInput(`Agent Budget: ${provider} API key`);
    await this.quickInputBox.pressSequentially(key);
    await this.page.keyboard.press('Enter');
    await this.notification(`Agent Budget: ${provider} API key saved.`).waitFor({ state: 'visible' });
  }

  async openPalette(timeoutMs = 10_000): Promise<void> {
    await this.page.keyboard.press('Control+Shift+P');
    await this.quickInputBox.waitFor({ state: 'visible', timeout: timeoutMs });
  }

  /** Clicks the quick-pick row labelled `label`; fails with the labels it saw instead. */
  async pick(label: string): Promise<void> {
    const row = this.quickPickItem(label).first();
    try {
      await row.waitFor({ state: 'visible', timeout: 10_000 });
    } catch {
      throw new Error(`no quick-pick item "${label}"; the list shows: ${JSON.stringify(await this.quickPickLabels())}`);
    }
    await row.click();
  }

  /** Clicks the activity-bar entry `title` and returns the side bar it opened. */
  async openView(title: string): Promise<Locator> {
    // The whole entry, not its link: a view's badge is drawn over the link and would take the click.
    const entry = this.page
      .locator(`.part.activitybar .action-item:has(> a[aria-label^="${cssString(title)}"])`)
      .first();
    await entry.click();
    const sideBar = this.page.locator('.part.sidebar');
    await sideBar.locator('.composite.title').filter({ hasText: title.toUpperCase() }).waitFor({ state: 'visible' });
    return sideBar;
  }

  /** Notification toasts currently shown that contain `text`. */
  notification(text: string | RegExp): Locator {
    return this.page.locator('.notifications-toasts .notification-toast').filter({ hasText: text });
  }

  /** The visible text of the page and every frame in it (webviews live in nested iframes). */
  async visibleText(): Promise<string> {
    const texts = await Promise.all(
      // A string expression: this file is type-checked without the DOM library.
      this.page
        .frames()
        .map((frame) => frame.evaluate<string>('document.body ? document.body.innerText : ""').catch(() => '')),
    );
    return texts.join('\n');
  }

  /** The frame (a webview's page lives in nested iframes) whose text shows `text`, once one does. */
  async frameShowing(text: string, timeoutMs = 20_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const frame of this.page.frames()) {
        const body = await frame.evaluate<string>('document.body ? document.body.innerText : ""').catch(() => '');
        if (body.includes(text)) return frame;
      }
      await this.page.waitForTimeout(200);
    }
    throw new Error(`no webview frame shows "${text}"`);
  }

  /**
   * Waits until the frame has loaded the codicon font (the panel's icons): it fails to load when the stylesheet or
   * the font is outside what the webview may load.
   */
  async codiconFontLoaded(frame: Frame): Promise<void> {
    await this.untilTrue(
      frame,
      '[...document.fonts].some((f) => f.family.replace(/["\']/g, "") === "codicon" && f.status === "loaded")',
      'the codicon font to load',
    );
  }

  /**
   * Polls a string expression in `frame` until it is true. (Not frame.waitForFunction: its polling evaluates the
   * string with eval(), which a webview's CSP forbids.)
   */
  async untilTrue(frame: Frame, expression: string, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await frame.evaluate<boolean>(expression).catch(() => false))) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await this.page.waitForTimeout(100);
    }
  }

  /**
   * The labels of the context menu that a right-click on `target` opens (closed again); [] when no menu opens
   * within `timeoutMs` (the workbench shows none when it has no item for the target).
   */
  async contextMenuLabels(target: Locator, timeoutMs = 3000): Promise<string[]> {
    await target.click({ button: 'right' });
    const menu = this.page.locator('.context-view.monaco-menu-container');
    if (
      !(await menu.waitFor({ state: 'visible', timeout: timeoutMs }).then(
        () => true,
        () => false,
      ))
    )
      return [];
    const labels = await menu
      .locator('.action-label')
      .evaluateAll((items) =>
        items.map((item) => item.getAttribute('aria-label') ?? item.textContent ?? '').filter(Boolean),
      );
    await this.page.keyboard.press('Escape');
    await menu.waitFor({ state: 'hidden' });
    return labels;
  }

  /** Saves a PNG of the page under .e2e-artifacts/ and returns its path. */
  async screenshot(name: string): Promise<string> {
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, `${fileName(name)}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }
}

/** Temp folders of suites still running, removed if the run is interrupted. */
const liveTempDirs = new Set<string>();
let interruptible = false;
/**
 * Ctrl+C would otherwise end the mocha process without running `after` hooks (no SIGINT handler there), leaving
 * servers behind. Exiting normally fires vscode-server.mjs's exit hook, which kills every server it started
 * (and playwright kills its browsers on exit).
 */
function stopEverythingOnInterrupt(): void {
  if (interruptible) return;
  interruptible = true;
  let exiting = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // `on`, not `once`: the terminal and mocha's parent process both send it, and a second default SIGINT
    // would kill the process halfway through the cleanup.
    process.on(signal, () => {
      if (exiting) return;
      exiting = true;
      console.error(`\n${signal}: stopping the e2e servers and browsers`);
      process.exit(130);
    });
  }
  process.on('exit', () => {
    for (const dir of liveTempDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** Registers the suite's hooks and returns an accessor for its workbench. Call it inside `describe`. */
export function useWorkbench(options: WorkbenchOptions = {}): () => Workbench {
  stopEverythingOnInterrupt();
  let tmp: string | undefined;
  let server: VsCodeServer | undefined;
  let browser: Browser | undefined;
  let workbench: Workbench | undefined;
  let failed = false;

  before(async function () {
    this.timeout(240_000); // the first run also installs code-server
    tmp = await tempDir('agent-budget-e2e');
    liveTempDirs.add(tmp);
    const workspace = copyWorkspace(tmp);
    const serverDataDir = path.join(tmp, 'server-data');
    const userDataDir = path.join(tmp, 'user-data');
    // This suite's per-user state root: the extension host inherits it from the server's environment.
    const stateEnv = { AGENT_BUDGET_STATE_HOME: path.join(tmp, 'state-home') };
    const stateDir = workspaceStateDir(workspace, nodeStateSystem(stateEnv));
    mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
    // code-server keeps user settings on the server side, so the workbench reads this file.
    const settingsFile = path.join(userDataDir, 'User', 'settings.json');
    let userSettings: Record<string, unknown> = { ...USER_SETTINGS };
    const writeSettings = () => writeFileSync(settingsFile, JSON.stringify(userSettings, null, 2));
    writeSettings();
    const addUserSettings = (values: Record<string, unknown>) => {
      userSettings = { ...userSettings, ...values };
      writeSettings();
    };
    const userConfig = isolatedUserConfig(tmp);
    await options.prepare?.({
      serverDataDir,
      userDataDir,
      workspace,
      userPolicyFile: userConfig.AGENT_BUDGET_USER_POLICY,
      stateDir,
      addUserSettings,
    });
    server = await startServer({
      extensionDevelopmentPath: options.developmentExtension === false ? undefined : ROOT,
      serverDataDir,
      userDataDir,
      env: { ...userConfig, ...stateEnv },
    });
    browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const opened = new Workbench(page, server, workspace, userConfig.AGENT_BUDGET_USER_POLICY, stateDir);
    try {
      await page.goto(server.url(workspace));
      await waitForWorkbench(page);
      if ((options.trust ?? 'yes') === 'yes') {
        if (!(await trustWorkspace(page))) throw new Error('the workspace-trust dialog never appeared');
      } else {
        await answerTrustNo(page);
      }
    } catch (error) {
      const file = await opened
        .screenshot(`${this.test?.parent?.fullTitle() ?? 'suite'} before all`)
        .catch(() => undefined);
      throw new Error(`${(error as Error).message}${file ? ` (screenshot: ${path.relative(ROOT, file)})` : ''}`, {
        cause: error,
      });
    }
    workbench = opened;
  });

  afterEach(async function () {
    if (workbench && this.currentTest) {
      const file = await workbench.screenshot(this.currentTest.fullTitle()).catch(() => undefined);
      if (this.currentTest.state === 'failed') {
        failed = true;
        if (file) console.log(`      screenshot: ${path.relative(ROOT, file)}`);
      }
    }
  });

  after(async function () {
    this.timeout(30_000);
    if ((failed || !workbench) && server) console.log(`      server log (last lines):\n${server.logTail(20)}`);
    await browser?.close().catch(() => {});
    await server?.stop();
    if (tmp) {
      rmSync(tmp, { recursive: true, force: true });
      liveTempDirs.delete(tmp);
    }
  });

  return () => {
    if (!workbench) throw new Error('the workbench did not start (see the "before all" hook error)');
    return workbench;
  };
}

/** Answers the trust dialog with exactly "No, I don't trust the authors": the folder opens in Restricted Mode. */
async function answerTrustNo(page: Page, timeoutMs = 15_000): Promise<void> {
  const no = page.getByRole('button', { name: "No, I don't trust the authors", exact: true });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await no.isVisible().catch(() => false)) {
      await no.click();
      await no.waitFor({ state: 'hidden' });
      return;
    }
    await sleep(250);
  }
  throw new Error('the workspace-trust dialog never appeared');
}

function cssString(value: string): string {
  return value.replace(/["\\]/g, '\\$&');
}

function fileName(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 120);
}
