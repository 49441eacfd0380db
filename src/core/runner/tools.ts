import { spawn } from 'node:child_process';
import { constants, promises as fs, type Dirent } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ToolName } from '../policy/workflowTypes';
import type { ToolSpec } from '../providers/types';
import { stopCommandTree } from './commandTree';
import { globToRegExp } from './glob';
import { commandEnvironment } from '../trust/commandEnv';
import { foldName, isSkippedFolder, protectedPathReason } from '../trust/protectedPaths';

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
 */

/** Tools that change the workspace or run programs: they ask for approval unless the policy allows them. */
export const WRITING_TOOLS = ['writeFile', 'editFile', 'runCommand'] as const;
export type WritingTool = (typeof WRITING_TOOLS)[number];

export function isWritingTool(name: string): name is WritingTool {
  return (WRITING_TOOLS as readonly string[]).includes(name);
}

/** A tool call the model got wrong, or one the workspace refuses: the message goes back to the model. */
export class ToolError extends Error {
  override readonly name = 'ToolError';
}

export interface ToolLimits {
  /** Largest file `readFile` returns in full (bytes); longer files are cut with a note. */
  readBytes: number;
  /** Most paths `listFiles` returns. */
  listEntries: number;
  /** Most matching lines `searchText` returns. */
  searchMatches: number;
  /** Files larger than this are not searched. */
  searchFileBytes: number;
  /** Longest a `searchText` regular expression may run on one file (it runs in a worker that is then stopped). */
  searchRegexMs: number;
  /** Wall time of one `runCommand`. */
  commandTimeoutMs: number;
  /** Output of one `runCommand` kept (stdout and stderr together); the middle is cut beyond this. */
  commandOutputBytes: number;
  /** Most of an existing file read before approval (the diff of writeFile; editFile works on files up to this). */
  previewBytes: number;
}

export const DEFAULT_TOOL_LIMITS: ToolLimits = {
  readBytes: 200_000,
  listEntries: 500,
  searchMatches: 100,
  searchFileBytes: 1_000_000,
  searchRegexMs: 2_000,
  commandTimeoutMs: 120_000,
  commandOutputBytes: 32_000,
  previewBytes: 1_000_000,
};

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

/** Opening without following a final symbolic link, where the platform can (not on Windows: realpath checks there). */
const NO_FOLLOW = constants.O_NOFOLLOW ?? 0;

export const TOOL_SPECS: Record<ToolName, ToolSpec> = {
  readFile: {
    name: 'readFile',
    description:
      'Read a text file of the workspace. Paths are relative to the workspace folder. Optionally only lines startLine..endLine (1-based, inclusive).',
    inputSchema: {
      type: 'object',
      properties: {
        path: { type: 'string', description: 'File path relative to the workspace folder, e.g. src/app.ts' },
        startLine: { type: 'integer', minimum: 1 },
        endLine: { type: 'integer', minimum: 1 },
      },
      required: ['path'],
    },
  },
  listFiles: {
    name: 'listFiles',
    description:
      'List files of the workspace matching a glob pattern (e.g. "src/**/*.ts"; a pattern without "/" matches file names at any depth). .git, node_modules and .agent-budget are skipped.',
    inputSchema: {
      type: 'object',
      properties: {
        pattern: { type: 'string', description: 'Glob pattern; default "**/*" (everything)' },
      },
    },
  },
  searchText: {
    name: 'searchText',
    description:
      'Search the text files of the workspace for a string (or a regular expression with regex: true). Returns "path:line: text" for each match.',
    inputSchema: {
      type: 'object',
      properties: {
        query: { type: 'string', description: 'Text to find' },
        regex: { type: 'boolean', description: 'Treat query as a JavaScript regular expression' },
        caseSensitive: { type: 'boolean' },
        pattern: { type: 'string', description: 'Only files matching this glob, e.g. "**/*.ts"' },
      },
      required: ['query'],
    },
  },
  writeFile: {
    name: 'writeFile',
    description:
      'Create or overwrite a file of the workspace with the given content (the user may be asked to approve).',
    inputSchema: {
      type: 'object',
      properties: { path: { type: 'string' }, content: { type: 'string' } },
      required: ['path', 'content'],
    },
  },
  editFile: {
    name: 'editFile',
    description:
      'Replace one exact occurrence of oldText with newText in a file of the workspace. oldText must match the file exactly (whitespace included) and occur once; include surrounding lines to make it unique.',
    inputSchema: {
      type: 'object',
      properties: { path: { type: 'string' }, oldText: { type: 'string' }, newText: { type: 'string' } },
      required: ['path', 'oldText', 'newText'],
    },
  },
  runCommand: {
    name: 'runCommand',
    description:
      'Run a shell command in the workspace folder (the user may be asked to approve). Returns the exit code and output; long output is cut.',
    inputSchema: {
      type: 'object',
      properties: { command: { type: 'string', description: 'The command line, e.g. "npm test"' } },
      required: ['command'],
    },
  },
};

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
            return this.readFile(real, relative, start, end);
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
        return { name, summary: `listFiles ${pattern}`, execute: () => this.listFiles(re) };
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
            this.searchText(
              regex ? new RegexWorker(re, this.limits.searchRegexMs, signal) : new PlainMatcher(re),
              files,
            ),
        };
      }
      case 'writeFile': {
        if (typeof input.content !== 'string') throw new ToolError('"content" must be a string.');
        const content = input.content;
        const { real, relative } = await this.resolve(input.path, 'write');
        const existing = await this.preview(real, relative);
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
            await this.writeApproved(input.path, real, relative, existing ? 'replace' : 'create', async (file) => {
              await file.truncate(0);
              await writeAt0(file, content);
            });
            return `Wrote ${relative} (${Buffer.byteLength(content)} bytes).`;
          },
        };
      }
      case 'editFile': {
        if (typeof input.oldText !== 'string' || input.oldText === '')
          throw new ToolError('"oldText" must be a non-empty string.');
        if (typeof input.newText !== 'string') throw new ToolError('"newText" must be a string.');
        const { real, relative } = await this.resolve(input.path, 'write');
        const existing = await this.preview(real, relative);
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
            await this.writeApproved(input.path, real, relative, 'replace', async (file) => {
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
          execute: (signal) => this.runCommand(command, signal),
        };
      }
      default:
        throw new ToolError(`there is no tool "${name}".`);
    }
  }

  /**
   * An existing file's text for the approval's diff, read through a handle that did not follow a link and never more
   * than `previewBytes` (`text` undefined beyond that, or for a binary file); undefined when there is no file.
   */
  private async preview(real: string, relative: string): Promise<{ size: number; text?: string } | undefined> {
    let file: FileHandle;
    try {
      file = await fs.open(real, constants.O_RDONLY | NO_FOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      if (code === 'EISDIR') throw new ToolError('that path is a folder.');
      if (code === 'ELOOP') throw new ToolError(`${relative} is a symbolic link; refused.`);
      throw new ToolError(`cannot read ${relative}: ${code}`);
    }
    try {
      const st = await file.stat();
      if (st.isDirectory()) throw new ToolError('that path is a folder.');
      if (!st.isFile()) throw new ToolError(`${relative} is not a regular file.`);
      const buf =
        st.size > this.limits.previewBytes ? undefined : await readBounded(file, this.limits.previewBytes, 'buffer');
      if (buf === undefined || buf.subarray(0, 8000).includes(0)) return { size: st.size };
      return { size: buf.length, text: buf.toString('utf8') };
    } finally {
      await file.close();
    }
  }

  /**
   * Writes what was approved, checked again now: the path must still resolve where it did and be allowed, the file
   * is opened without following a final link (a new file exclusively: it must still not exist), and the open file
   * must be the one the path names before `write` changes it. A parent folder swapped for a link would make the
   * open file another one than the path now names; then nothing is written (at worst, with `create`, an empty file
   * was made where the link led).
   */
  private async writeApproved(
    p: unknown,
    planned: string,
    relative: string,
    mode: 'create' | 'replace',
    write: (file: FileHandle) => Promise<void>,
  ): Promise<void> {
    const changed = () =>
      new ToolError(
        `${relative} changed since it was approved (a symbolic link or a folder was swapped in); nothing was written.`,
      );
    const now = await this.resolve(p, 'write');
    if (now.real !== planned) throw changed();
    if (mode === 'create') {
      await fs.mkdir(path.dirname(planned), { recursive: true });
      if ((await fs.realpath(path.dirname(planned))) !== path.dirname(planned)) throw changed();
    }
    const flags = mode === 'create' ? constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL : constants.O_RDWR;
    let file: FileHandle;
    try {
      file = await fs.open(planned, flags | NO_FOLLOW, 0o666);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new ToolError(`${relative} was created meanwhile; read it and try again.`);
      if (code === 'ENOENT') throw new ToolError(`${relative} was removed meanwhile; nothing was written.`);
      if (code === 'ELOOP') throw changed();
      if (code === 'EISDIR') throw new ToolError('that path is a folder.');
      throw new ToolError(`cannot write ${relative}: ${code}`);
    }
    try {
      const opened = await file.stat();
      const named = await fs.realpath(planned).catch(() => undefined);
      const there = named === planned ? await fs.stat(planned).catch(() => undefined) : undefined;
      if (!opened.isFile() || !there || there.ino !== opened.ino || there.dev !== opened.dev) throw changed();
      await write(file);
    } finally {
      await file.close();
    }
  }

  private async readFile(real: string, relative: string, start?: number, end?: number): Promise<string> {
    let text: string;
    let file: FileHandle | undefined;
    try {
      file = await fs.open(real, constants.O_RDONLY | NO_FOLLOW);
      const st = await file.stat();
      if (st.isDirectory()) throw new ToolError(`${relative} is a folder; use listFiles.`);
      const max = 20 * this.limits.readBytes;
      const read = st.size > max ? undefined : await readBounded(file, max, 'buffer');
      if (read === undefined) {
        throw new ToolError(
          `${relative} is ${Math.round(st.size / 1_000_000)} MB, too large to read; search it with searchText instead.`,
        );
      }
      if (read.subarray(0, 8000).includes(0)) throw new ToolError(`${relative} is a binary file.`);
      text = read.toString('utf8');
    } catch (err) {
      if (err instanceof ToolError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new ToolError(
        code === 'ENOENT'
          ? `${relative} does not exist.`
          : code === 'EISDIR'
            ? `${relative} is a folder; use listFiles.`
            : code === 'ELOOP'
              ? `${relative} is a symbolic link now; refused.`
              : `cannot read ${relative}: ${code}`,
      );
    } finally {
      await file?.close();
    }
    if (start !== undefined || end !== undefined) {
      const lines = text.split('\n');
      text = lines.slice((start ?? 1) - 1, end ?? lines.length).join('\n');
    }
    if (text.length > this.limits.readBytes) {
      return `${text.slice(0, this.limits.readBytes)}\n…[cut: ${relative} has ${text.length.toLocaleString('en-US')} characters; read a line range for the rest]`;
    }
    return text;
  }

  /** Every file under the workspace (not following links to folders), workspace-relative with `/`. */
  private async *walk(): AsyncGenerator<{ relative: string; absolute: string }> {
    const root = await this.realRoot();
    const stack = [''];
    while (stack.length) {
      const dir = stack.pop()!;
      let entries: Dirent[];
      try {
        entries = await fs.readdir(path.join(root, dir), { withFileTypes: true });
      } catch {
        continue;
      }
      entries.sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
      const files: string[] = [];
      for (const e of entries) {
        const rel = dir ? `${dir}/${e.name}` : e.name;
        if (e.isDirectory()) {
          if (!isSkippedFolder(e.name)) stack.push(rel);
        } else if (e.isFile() || e.isSymbolicLink()) {
          files.push(rel);
        }
      }
      for (const rel of files.reverse()) yield { relative: rel, absolute: path.join(root, rel) };
    }
  }

  private async listFiles(re: RegExp): Promise<string> {
    const out: string[] = [];
    let more = false;
    for await (const f of this.walk()) {
      if (!re.test(f.relative)) continue;
      if (out.length >= this.limits.listEntries) {
        more = true;
        break;
      }
      out.push(f.relative);
    }
    out.sort();
    if (out.length === 0) return 'No files match.';
    return `${out.join('\n')}${more ? `\n…[more than ${this.limits.listEntries} files; use a narrower pattern]` : ''}`;
  }

  private async searchText(query: LineMatcher, files: RegExp): Promise<string> {
    const out: string[] = [];
    try {
      for await (const f of this.walk()) {
        if (!files.test(f.relative)) continue;
        let buf: Buffer;
        try {
          // A symbolic link is searched only when it resolves inside the workspace (and not to a credentials file).
          const { real } = await this.resolve(f.relative, 'read');
          const st = await fs.stat(real);
          if (!st.isFile() || st.size > this.limits.searchFileBytes) continue;
          buf = await fs.readFile(real);
        } catch {
          continue;
        }
        if (buf.subarray(0, 8000).includes(0)) continue;
        const text = buf.toString('utf8');
        const hits = await query.lines(text, f.relative);
        if (hits.length === 0) continue;
        const lines = text.split('\n');
        for (const i of hits) {
          if (out.length >= this.limits.searchMatches) {
            return `${out.join('\n')}\n…[more than ${this.limits.searchMatches} matches; narrow the query or the pattern]`;
          }
          out.push(`${f.relative}:${i + 1}: ${oneLine(lines[i]!.trim(), 200)}`);
        }
      }
    } finally {
      query.close();
    }
    return out.length ? out.join('\n') : 'No matches.';
  }

  /**
   * Runs `command` through the platform shell (so pipes and `&&` work as the user would expect — which is exactly
   * why it only runs after approval or an explicit `tools.allow` in the policy), in the workspace folder, with an
   * allow-listed environment (no keys, tokens or credentials); a timeout or a cancel stops everything it started
   * (its process group on POSIX, `taskkill /T` on Windows: commandTree.ts). Output beyond the cap keeps its head and
   * tail.
   */
  private runCommand(command: string, signal?: AbortSignal): Promise<string> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new ToolError('cancelled before the command started.'));
      const child = spawn(command, {
        cwd: this.root,
        shell: true,
        // Only what builds and tests need, by name: no key, token or cloud credential (trust/commandEnv.ts).
        env: commandEnvironment(process.env),
        detached: process.platform !== 'win32',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const output = new CappedOutput(this.limits.commandOutputBytes);
      const keep = (c: Buffer) => output.add(c);
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      let reason: string | undefined;
      const kill = (why: string) => {
        reason = why;
        void stopCommandTree(child);
      };
      const timer = setTimeout(
        () => kill(`timed out after ${Math.round(this.limits.commandTimeoutMs / 1000)} s`),
        this.limits.commandTimeoutMs,
      );
      const onAbort = () => kill('cancelled');
      signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (err) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        reject(new ToolError(`could not start the command: ${err.message}`));
      });
      child.on('close', (code, sig) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const text = output.text();
        const status = reason ? `killed: ${reason}` : sig ? `killed by ${sig}` : `exit code ${code}`;
        if (reason === 'cancelled') return reject(new ToolError('the command was cancelled.'));
        resolve(`$ ${command}\n[${status}]\n${text}`);
      });
    });
  }
}

/** Which lines (0-based) of a file's text match a search. */
interface LineMatcher {
  lines(text: string, file: string): Promise<number[]>;
  close(): void;
}

/** Plain text (an escaped, linear-time pattern): matched on this thread, no worker to start. */
class PlainMatcher implements LineMatcher {
  constructor(private readonly re: RegExp) {}

  async lines(text: string): Promise<number[]> {
    const hits: number[] = [];
    // Most files do not contain the text at all: one scan of the whole file says so without splitting it.
    if (this.re.test(text)) text.split('\n').forEach((line, i) => this.re.test(line) && hits.push(i));
    return hits;
  }

  close(): void {}
}

/** The worker's side: matches each text it is sent, line by line, and replies with the matching line numbers. */
const REGEX_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const re = new RegExp(workerData.source, workerData.flags);
parentPort.on('message', (text) => {
  const hits = [];
  text.split('\\n').forEach((line, i) => re.test(line) && hits.push(i));
  parentPort.postMessage(hits);
});
`;

/**
 * A model-supplied regular expression, matched in a worker thread that is stopped when one file takes longer than
 * the deadline or the tool's signal fires. JavaScript regular expressions backtrack: `^(a+)+$` on a 28-character
 * line runs for seconds and doubles with each character, and on the extension host's thread that would freeze
 * every window, with the cancel and the wall-time limit unable to fire.
 */
class RegexWorker implements LineMatcher {
  private readonly worker: Worker;
  private waiting:
    { resolve(hits: number[]): void; reject(err: Error): void; timer: ReturnType<typeof setTimeout> } | undefined;
  private failure: Error | undefined;
  private readonly onAbort = () => this.fail(new ToolError('the search was stopped (cancelled or out of time).'));

  constructor(
    re: RegExp,
    private readonly deadlineMs: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.worker = new Worker(REGEX_WORKER_SOURCE, { eval: true, workerData: { source: re.source, flags: re.flags } });
    this.worker.on('message', (hits: number[]) => this.settle((w) => w.resolve(hits)));
    this.worker.on('error', (err) => this.fail(new ToolError(`the regular expression failed: ${err.message}`)));
    this.worker.on('exit', () => this.fail(new ToolError('the search stopped unexpectedly.')));
    if (signal?.aborted) this.onAbort();
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  lines(text: string, file: string): Promise<number[]> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.fail(
            new ToolError(
              `the regular expression ran for more than ${this.deadlineMs / 1000} s on ${file} and was stopped: it backtracks ` +
                'too much (nested quantifiers such as (a+)+ do). Simplify it, or search for plain text.',
            ),
          ),
        this.deadlineMs,
      );
      this.waiting = { resolve, reject, timer };
      this.worker.postMessage(text);
    });
  }

  close(): void {
    this.fail(new ToolError('the search is over.'));
  }

  private settle(finish: (w: NonNullable<RegexWorker['waiting']>) => void): void {
    const w = this.waiting;
    this.waiting = undefined;
    if (!w) return;
    clearTimeout(w.timer);
    finish(w);
  }

  /** Stops the worker for good; the file being matched (if any) rejects with `err`. */
  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.signal?.removeEventListener('abort', this.onAbort);
    void this.worker.terminate();
    this.settle((w) => w.reject(err));
  }
}

/** Keeps the first and the last half of `cap` bytes of a stream, and counts what fell between. */
class CappedOutput {
  private head: Buffer[] = [];
  private headSize = 0;
  private tail: Buffer[] = [];
  private tailSize = 0;
  private cut = 0;

  constructor(private readonly cap: number) {}

  add(chunk: Buffer): void {
    const half = Math.floor(this.cap / 2);
    if (this.headSize < half) {
      const take = chunk.subarray(0, half - this.headSize);
      this.head.push(take);
      this.headSize += take.length;
      chunk = chunk.subarray(take.length);
    }
    if (chunk.length === 0) return;
    this.tail.push(chunk);
    this.tailSize += chunk.length;
    // Drop from the front of the tail until it fits in its half.
    while (this.tailSize > half) {
      const first = this.tail[0]!;
      const excess = this.tailSize - half;
      if (first.length <= excess) {
        this.tail.shift();
        this.tailSize -= first.length;
        this.cut += first.length;
      } else {
        this.tail[0] = first.subarray(excess);
        this.tailSize -= excess;
        this.cut += excess;
      }
    }
  }

  text(): string {
    const head = Buffer.concat(this.head).toString('utf8');
    const tail = Buffer.concat(this.tail).toString('utf8');
    return this.cut > 0 ? `${head}\n…[${this.cut.toLocaleString('en-US')} bytes of output cut]…\n${tail}` : head + tail;
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

/** Reads an open file from its start, at most `max` bytes: undefined when it holds more. */
async function readBounded(file: FileHandle, max: number): Promise<string | undefined>;
async function readBounded(file: FileHandle, max: number, as: 'buffer'): Promise<Buffer | undefined>;
async function readBounded(file: FileHandle, max: number, as?: 'buffer'): Promise<string | Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(Math.min(256 * 1024, max + 1 - total));
    const { bytesRead } = await file.read(chunk, 0, chunk.length, total);
    if (bytesRead === 0) break;
    chunks.push(chunk.subarray(0, bytesRead));
    total += bytesRead;
    if (total > max) return undefined;
  }
  const out = Buffer.concat(chunks, total);
  return as === 'buffer' ? out : out.toString('utf8');
}

/** Writes `text` from the start of an open file (the handle's own position may be anywhere). */
async function writeAt0(file: FileHandle, text: string): Promise<void> {
  const buf = Buffer.from(text, 'utf8');
  let done = 0;
  while (done < buf.length) done += (await file.write(buf, done, buf.length - done, done)).bytesWritten;
}

function oneLine(text: string, max: number): string {
  const s = text.replace(/\s+/g, ' ');
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
