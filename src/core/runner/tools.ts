import { spawn } from 'node:child_process';
import { promises as fs, type Dirent } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ToolName } from '../policy/workflowTypes';
import type { ToolSpec } from '../providers/types';
import { globToRegExp } from './glob';

/**
 * The tools of agent-loop steps, confined to the workspace folder.
 *
 * Confinement: every path is resolved against the workspace folder and then through the file system's real path
 * (fs.realpath), so `../`, absolute paths elsewhere, and symbolic links (or links in a parent folder) that lead
 * outside are all refused, as is a dangling link (writing through it would create its target wherever it points).
 * Writes into `.git/` and into the store's state folder (`.agent-budget/` or wherever the store lives) are refused
 * too: an agent must not rewrite history, budgets or the ledger. Reads of `.git/` and of git's plain-text credential
 * store (`.git-credentials`) are refused: `.git/config` can hold a token in a remote URL, and whatever a tool reads
 * goes to the provider. (`.env` files stay readable: reading one is an ordinary debugging step, and a workspace
 * that wants otherwise can take readFile out of tools.allow.) The listing and search walkers never descend into
 * `.git`, `node_modules` or `.agent-budget` and never follow symbolic links to folders.
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
}

export const DEFAULT_TOOL_LIMITS: ToolLimits = {
  readBytes: 200_000,
  listEntries: 500,
  searchMatches: 100,
  searchFileBytes: 1_000_000,
  searchRegexMs: 2_000,
  commandTimeoutMs: 120_000,
  commandOutputBytes: 32_000,
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

const SKIP_DIRS = new Set(['.git', 'node_modules', '.agent-budget']);

/** Environment variables a command run by an agent never sees (it could print them into the conversation). */
export const SECRET_ENV = ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY', 'GEMINI_API_KEY', 'GOOGLE_API_KEY'];

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
  /** Absolute folders no tool may write into (besides `.git/`). */
  private readonly protectedDirs: string[];

  constructor(
    readonly root: string,
    options: { stateDir?: string; limits?: Partial<ToolLimits> } = {},
  ) {
    this.limits = { ...DEFAULT_TOOL_LIMITS, ...options.limits };
    this.protectedDirs = [path.join(root, '.agent-budget'), path.join(root, '.git')];
    if (options.stateDir) this.protectedDirs.push(path.resolve(options.stateDir));
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
    const realRoot = await this.realRoot();
    const absolute = path.resolve(this.root, p);
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
    if (purpose === 'write') {
      for (const dir of this.protectedDirs) {
        const realDir = await fs.realpath(dir).catch(() => dir);
        if (isInside(realDir, target) || isInside(dir, target)) {
          throw new ToolError(
            `"${p}" is inside ${path.relative(this.root, dir) || dir}/, which agents may not change.`,
          );
        }
      }
    }
    const relative = toPosix(path.relative(realRoot, target)) || '.';
    if (purpose === 'read' && holdsCredentials(relative)) {
      throw new ToolError(
        `"${p}" may hold credentials (git keeps remote URLs with tokens there); agents may not read it.`,
      );
    }
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
          execute: () => this.readFile(real, relative, start, end),
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
        const before = await readIfExists(real);
        return {
          name,
          summary: `writeFile ${relative} (${before === undefined ? 'new file, ' : ''}${content.length.toLocaleString('en-US')} characters)`,
          path: relative,
          before,
          after: content,
          execute: async () => {
            await fs.mkdir(path.dirname(real), { recursive: true });
            await fs.writeFile(real, content, 'utf8');
            return `Wrote ${relative} (${Buffer.byteLength(content)} bytes).`;
          },
        };
      }
      case 'editFile': {
        if (typeof input.oldText !== 'string' || input.oldText === '')
          throw new ToolError('"oldText" must be a non-empty string.');
        if (typeof input.newText !== 'string') throw new ToolError('"newText" must be a string.');
        const { real, relative } = await this.resolve(input.path, 'write');
        const before = await readIfExists(real);
        if (before === undefined) throw new ToolError(`${relative} does not exist; use writeFile to create it.`);
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
            // The file may have changed while the user looked at the diff: apply only to the text they approved.
            const now = await readIfExists(real);
            if (now !== before) throw new ToolError(`${relative} changed since the edit was proposed; read it again.`);
            await fs.writeFile(real, after, 'utf8');
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

  private async readFile(real: string, relative: string, start?: number, end?: number): Promise<string> {
    let text: string;
    try {
      const size = (await fs.stat(real)).size;
      if (size > 20 * this.limits.readBytes) {
        throw new ToolError(
          `${relative} is ${Math.round(size / 1_000_000)} MB, too large to read; search it with searchText instead.`,
        );
      }
      const buf = await fs.readFile(real);
      if (buf.subarray(0, 8000).includes(0)) throw new ToolError(`${relative} is a binary file.`);
      text = buf.toString('utf8');
    } catch (err) {
      if (err instanceof ToolError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new ToolError(
        code === 'ENOENT'
          ? `${relative} does not exist.`
          : code === 'EISDIR'
            ? `${relative} is a folder; use listFiles.`
            : `cannot read ${relative}: ${code}`,
      );
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
          if (!SKIP_DIRS.has(e.name)) stack.push(rel);
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
   * why it only runs after approval or an explicit `tools.allow` in the policy), in the workspace folder, without
   * the provider API keys in its environment, in its own process group so a timeout or a cancel kills everything
   * it started. Output beyond the cap keeps its head and tail.
   */
  private runCommand(command: string, signal?: AbortSignal): Promise<string> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new ToolError('cancelled before the command started.'));
      const env = { ...process.env };
      for (const name of SECRET_ENV) delete env[name];
      const child = spawn(command, {
        cwd: this.root,
        shell: true,
        env,
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
        try {
          if (child.pid !== undefined && process.platform !== 'win32') process.kill(-child.pid, 'SIGKILL');
          else child.kill('SIGKILL');
        } catch {
          // already gone
        }
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

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
}

/** Whether a workspace-relative path is inside a `.git` folder or is git's credential store. */
function holdsCredentials(relative: string): boolean {
  const parts = relative.split('/');
  return parts.includes('.git') || parts[parts.length - 1] === '.git-credentials';
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

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') throw new ToolError('that path is a folder.');
    throw err;
  }
}

function oneLine(text: string, max: number): string {
  const s = text.replace(/\s+/g, ' ');
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
