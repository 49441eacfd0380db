import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ToolName } from '../policy/workflowTypes';
import type { ToolSpec } from '../providers/types';
import { foldName, protectedPathReason } from '../trust/protectedPaths';
import { runCommand } from './command';
import { globToRegExp } from './glob';
import { listFiles, oneLine, PlainMatcher, RegexWorker, searchText, walkWorkspace, type WalkedFile } from './search';
import { previewFile, readBounded, readWorkspaceFile, writeAt0, writeApproved } from './toolFiles';
import { DEFAULT_TOOL_LIMITS, TOOL_SPECS, ToolError, type ToolLimits } from './toolSpecs';

/**
 * The tools of agent-loop steps, confined to the workspace folder.
 *
 * Confinement: every path is resolved against the workspace folder and then through the file system's real path
 * (fs.realpath), so `../`, absolute paths elsewhere, and symbolic links (or links in a parent folder) that lead
 * outside are all refused, as is a dangling link (writing through it would create its target wherever it points).
 * Names that agents may not write (`.git`, `.agent-budget`, `.vscode`, `.github/workflows`, `.husky`, `.envrc`…) or
 * read (`.git`, `.git-credentials`) are refused as the file systems compare names — without case, trailing dots,
 * invisible characters, Windows short names or device names (trust/protectedPaths.ts) — and so is the store's
 * state folder if it is inside the workspace. (`.env` files stay readable: reading one is an ordinary debugging
 * step, and a workspace that wants otherwise can take readFile out of tools.allow.) The listing and search walkers
 * never descend into `.git`, `node_modules` or `.agent-budget` and never follow symbolic links to folders.
 *
 * Between approval and execution the user may look at a diff for minutes, so what was approved is checked again
 * when it runs: the path is resolved again (a symbolic link swapped in meanwhile is refused), the file is opened
 * without following a final link (O_NOFOLLOW where the platform has it) and the open file must be the one the
 * resolved path names before anything is truncated or written. Nothing is read unbounded before approval: the
 * diff shows at most `previewBytes` of an existing file.
 *
 * Tools never decide approval: `plan()` validates a call and describes it (with the file's text before and after
 * for edits); the runner asks the Approver and only then calls `execute()`.
 *
 * This file is the confinement and each tool's plan; its rooms: what the tools are (toolSpecs.ts: specs, limits,
 * which write, ToolError), reading and writing one file (toolFiles.ts), the walk, listing and search (search.ts),
 * and running a command (command.ts, over commandTree.ts).
 */

/** What a validated tool call will do. */
export interface PlannedTool {
  name: ToolName;
  /** One line for progress and the approval prompt: `editFile src/app.ts`. */
  summary: string;
  /** Workspace-relative path of the file it reads or writes. */
  path?: string;
  /** File text before and after (writeFile, editFile), for the approval's diff. */
  before?: string;
  after?: string;
  command?: string;
  execute(signal?: AbortSignal): Promise<string>;
}

export class WorkspaceTools {
  private realRootPromise: Promise<string> | undefined;
  private readonly limits: ToolLimits;
  /** The store's state folder: no tool reads or writes it (it is normally outside the workspace anyway). */
  private readonly stateDir: string | undefined;
  /** Whose naming rules apply (trust/protectedPaths.ts); the running platform's. */
  private readonly platform = process.platform;

  constructor(
    readonly root: string,
    options: { stateDir?: string; limits?: Partial<ToolLimits> } = {},
  ) {
    this.limits = { ...DEFAULT_TOOL_LIMITS, ...options.limits };
    this.stateDir = options.stateDir ? path.resolve(options.stateDir) : undefined;
  }

  private inside(root: string, p: string): boolean {
    return this.platform === 'win32' || this.platform === 'darwin' ? isInsideFolded(root, p) : isInside(root, p);
  }

  specs(names: readonly ToolName[]): ToolSpec[] {
    return names.map((n) => TOOL_SPECS[n]);
  }

  private realRoot(): Promise<string> {
    this.realRootPromise ??= fs.realpath(this.root);
    return this.realRootPromise;
  }

  /**
   * The real absolute path of `p` inside the workspace, or a ToolError saying why not. For a path that does not
   * exist yet (a new file), the nearest existing parent is resolved and the rest appended.
   */
  async resolve(p: unknown, purpose: 'read' | 'write'): Promise<{ real: string; relative: string }> {
    if (typeof p !== 'string' || p.trim() === '') throw new ToolError('"path" must be a non-empty string.');
    if (p.includes('\0')) throw new ToolError('the path contains a NUL character.');
    const absolute = path.resolve(this.root, p);
    // The names as given (`.GIT/config`, `GIT~1\hooks`), then again as the file system resolved them below.
    const given = protectedPathReason(
      path.isAbsolute(p) ? path.relative(this.root, absolute) : p,
      purpose,
      this.platform,
    );
    if (given) throw new ToolError(`"${p}" ${given}`);
    const realRoot = await this.realRoot();
    if (!isInside(this.root, absolute) && !isInside(realRoot, absolute)) {
      throw new ToolError(`"${p}" is outside the workspace folder; tools only reach files inside it.`);
    }
    let existing = absolute;
    const rest: string[] = [];
    let real: string;
    for (;;) {
      try {
        real = await fs.realpath(existing);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          throw new ToolError(`cannot resolve "${p}": ${(err as NodeJS.ErrnoException).code}`);
        // A name that exists but does not resolve is a dangling symbolic link: following it could land anywhere.
        const st = await fs.lstat(existing).catch(() => undefined);
        if (st?.isSymbolicLink())
          throw new ToolError(`"${p}" goes through a symbolic link whose target does not exist; refused.`);
        const parent = path.dirname(existing);
        if (parent === existing) throw new ToolError(`cannot resolve "${p}".`);
        rest.unshift(path.basename(existing));
        existing = parent;
      }
    }
    const target = path.join(real, ...rest);
    if (!isInside(realRoot, target)) {
      throw new ToolError(`"${p}" leads outside the workspace folder through a symbolic link; refused.`);
    }
    if (this.stateDir) {
      const realDir = await fs.realpath(this.stateDir).catch(() => this.stateDir!);
      if (this.inside(realDir, target) || this.inside(this.stateDir, target))
        throw new ToolError(`"${p}" is inside Agent Budget's state folder, which agents may not use.`);
    }
    const relative = toPosix(path.relative(realRoot, target)) || '.';
    const resolved = protectedPathReason(relative, purpose, this.platform);
    if (resolved) throw new ToolError(`"${p}" ${resolved}`);
    return { real: target, relative };
  }

  /**
   * Workspace files matching a glob, as the listing tool walks them (never `.git`, `node_modules` or the state
   * folder, no links to folders followed), each resolved for reading like any tool path (confined, credentials
   * refused), sorted, at most `max`.
   */
  async matchFiles(pattern: string, max: number): Promise<string[]> {
    const re = globToRegExp(pattern);
    const matched: string[] = [];
    for await (const f of this.walk()) if (re.test(f.relative)) matched.push(f.relative);
    const out: string[] = [];
    for (const relative of matched.sort()) {
      if (out.length >= max) break;
      try {
        out.push((await this.resolve(relative, 'read')).relative);
      } catch {
        continue; // outside through a link, or a credentials file: never an item
      }
    }
    return out;
  }

  /** Every workspace file the listing and search tools walk (search.ts). */
  private async *walk(): AsyncGenerator<WalkedFile> {
    yield* walkWorkspace(await this.realRoot());
  }

  /** Resolves `p` for writing again when an approved write runs (toolFiles.ts `writeApproved`). */
  private again(p: unknown): () => Promise<string> {
    return async () => (await this.resolve(p, 'write')).real;
  }

  /** Validates a call and describes what it will do; throws ToolError for a bad call (sent back to the model). */
  async plan(name: string, rawInput: unknown): Promise<PlannedTool> {
    const input = (typeof rawInput === 'object' && rawInput !== null ? rawInput : {}) as Record<string, unknown>;
    if (typeof rawInput === 'string') throw new ToolError('the tool input was not valid JSON.');
    switch (name) {
      case 'readFile': {
        const { real, relative } = await this.resolve(input.path, 'read');
        const start = optionalLine(input.startLine, 'startLine');
        const end = optionalLine(input.endLine, 'endLine');
        return {
          name,
          summary: `readFile ${relative}${start || end ? `:${start ?? 1}-${end ?? ''}` : ''}`,
          path: relative,
          execute: async () => {
            // Resolved again: the path may have become a link elsewhere while a `tools.approve` dialog was open.
            const now = await this.resolve(input.path, 'read');
            if (now.real !== real) throw new ToolError(`${relative} changed (a symbolic link) since it was proposed.`);
            return readWorkspaceFile(real, relative, this.limits.readBytes, start, end);
          },
        };
      }
      case 'listFiles': {
        const pattern = typeof input.pattern === 'string' && input.pattern.trim() ? input.pattern.trim() : '**/*';
        let re: RegExp;
        try {
          re = globToRegExp(pattern);
        } catch (err) {
          throw new ToolError((err as Error).message);
        }
        return {
          name,
          summary: `listFiles ${pattern}`,
          execute: () => listFiles(this.walk(), re, this.limits.listEntries),
        };
      }
      case 'searchText': {
        if (typeof input.query !== 'string' || input.query === '')
          throw new ToolError('"query" must be a non-empty string.');
        const flags = input.caseSensitive === true ? '' : 'i';
        const regex = input.regex === true;
        let re: RegExp;
        try {
          re = new RegExp(regex ? input.query : input.query.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), flags);
        } catch (err) {
          throw new ToolError(`"query" is not a valid regular expression: ${(err as Error).message}`);
        }
        const pattern = typeof input.pattern === 'string' && input.pattern.trim() ? input.pattern.trim() : '**/*';
        let files: RegExp;
        try {
          files = globToRegExp(pattern);
        } catch (err) {
          throw new ToolError((err as Error).message);
        }
        return {
          name,
          summary: `searchText ${JSON.stringify(input.query)}${pattern !== '**/*' ? ` in ${pattern}` : ''}`,
          execute: (signal) =>
            searchText(
              this.walk(),
              files,
              regex ? new RegexWorker(re, this.limits.searchRegexMs, signal) : new PlainMatcher(re),
              async (relative) => (await this.resolve(relative, 'read')).real,
              this.limits,
            ),
        };
      }
      case 'writeFile': {
        if (typeof input.content !== 'string') throw new ToolError('"content" must be a string.');
        const content = input.content;
        const { real, relative } = await this.resolve(input.path, 'write');
        const existing = await previewFile(real, relative, this.limits.previewBytes);
        const before =
          existing === undefined
            ? undefined
            : (existing.text ??
              `[${relative} has ${existing.size.toLocaleString('en-US')} bytes: too large to show; writeFile replaces all of it]`);
        return {
          name,
          summary: `writeFile ${relative} (${existing === undefined ? 'new file, ' : ''}${content.length.toLocaleString('en-US')} characters)`,
          path: relative,
          before,
          after: content,
          execute: async () => {
            await writeApproved(
              this.again(input.path),
              real,
              relative,
              existing ? 'replace' : 'create',
              async (file) => {
                await file.truncate(0);
                await writeAt0(file, content);
              },
            );
            return `Wrote ${relative} (${Buffer.byteLength(content)} bytes).`;
          },
        };
      }
      case 'editFile': {
        if (typeof input.oldText !== 'string' || input.oldText === '')
          throw new ToolError('"oldText" must be a non-empty string.');
        if (typeof input.newText !== 'string') throw new ToolError('"newText" must be a string.');
        const { real, relative } = await this.resolve(input.path, 'write');
        const existing = await previewFile(real, relative, this.limits.previewBytes);
        if (existing === undefined) throw new ToolError(`${relative} does not exist; use writeFile to create it.`);
        const before = existing.text;
        if (before === undefined) {
          throw new ToolError(
            `${relative} has ${existing.size.toLocaleString('en-US')} bytes; editFile works on files up to ` +
              `${this.limits.previewBytes.toLocaleString('en-US')} bytes.`,
          );
        }
        const at = before.indexOf(input.oldText);
        if (at < 0)
          throw new ToolError(`oldText was not found in ${relative}; read the file and copy the text exactly.`);
        if (before.indexOf(input.oldText, at + 1) >= 0) {
          throw new ToolError(
            `oldText occurs more than once in ${relative}; include more surrounding lines so it is unique.`,
          );
        }
        const after = before.slice(0, at) + input.newText + before.slice(at + input.oldText.length);
        return {
          name,
          summary: `editFile ${relative}`,
          path: relative,
          before,
          after,
          execute: async () => {
            await writeApproved(this.again(input.path), real, relative, 'replace', async (file) => {
              // The file may have changed while the user looked at the diff: apply only to the text they approved.
              const now = await readBounded(file, this.limits.previewBytes);
              if (now !== before)
                throw new ToolError(`${relative} changed since the edit was proposed; read it again.`);
              await file.truncate(0);
              await writeAt0(file, after);
            });
            return `Edited ${relative}.`;
          },
        };
      }
      case 'runCommand': {
        if (typeof input.command !== 'string' || input.command.trim() === '')
          throw new ToolError('"command" must be a non-empty string.');
        const command = input.command;
        return {
          name,
          summary: `runCommand ${oneLine(command, 120)}`,
          command,
          execute: (signal) =>
            runCommand(
              command,
              { cwd: this.root, timeoutMs: this.limits.commandTimeoutMs, outputBytes: this.limits.commandOutputBytes },
              signal,
            ),
        };
      }
      default:
        throw new ToolError(`there is no tool "${name}".`);
    }
  }
}

/** isInside, without case where the file system ignores it (Windows, macOS). */
function isInsideFolded(root: string, p: string): boolean {
  return isInside(foldName(root), foldName(p)) || isInside(root.toLowerCase(), p.toLowerCase());
}

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
}

function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

function optionalLine(v: unknown, name: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new ToolError(`"${name}" must be a whole number ≥ 1.`);
  return v;
}
