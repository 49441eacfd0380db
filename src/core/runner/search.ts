import { promises as fs, type Dirent } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { isSkippedFolder } from '../trust/protectedPaths';
import { ToolError, type ToolLimits } from './toolSpecs';

/**
 * Finding things in the workspace for listFiles and searchText (and the files a fan-out runs over): the walk, the
 * listing, and the search with its line matchers. A model-supplied regular expression runs in a worker thread with a
 * deadline (RegexWorker); plain text is matched on this thread (PlainMatcher). tools.ts confines the paths.
 */

/** A file the walk found: workspace-relative with `/`, and absolute under the workspace's real path. */
export interface WalkedFile {
  relative: string;
  absolute: string;
}

/**
 * Every file under the workspace's real path `root` (never `.git`, `node_modules` or `.agent-budget`, not following
 * links to folders), in name order, workspace-relative with `/`.
 */
export async function* walkWorkspace(root: string): AsyncGenerator<WalkedFile> {
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

/** The listFiles tool: the walked files matching `re`, sorted, at most `max` (with a note when there were more). */
export async function listFiles(files: AsyncIterable<WalkedFile>, re: RegExp, max: number): Promise<string> {
  const out: string[] = [];
  let more = false;
  for await (const f of files) {
    if (!re.test(f.relative)) continue;
    if (out.length >= max) {
      more = true;
      break;
    }
    out.push(f.relative);
  }
  out.sort();
  if (out.length === 0) return 'No files match.';
  return `${out.join('\n')}${more ? `\n…[more than ${max} files; use a narrower pattern]` : ''}`;
}

/**
 * The searchText tool: `query`'s matching lines in the walked files matching `filter`, as `path:line: text`. Each file
 * is read through `resolve` (the tools' confinement, for reading: its real path, or a throw for a file no tool may
 * read); binary files and files over `limits.searchFileBytes` are skipped. Closes `query`.
 */
export async function searchText(
  files: AsyncIterable<WalkedFile>,
  filter: RegExp,
  query: LineMatcher,
  resolve: (relative: string) => Promise<string>,
  limits: Pick<ToolLimits, 'searchFileBytes' | 'searchMatches'>,
): Promise<string> {
  const out: string[] = [];
  try {
    for await (const f of files) {
      if (!filter.test(f.relative)) continue;
      let buf: Buffer;
      try {
        // A symbolic link is searched only when it resolves inside the workspace (and not to a credentials file).
        const real = await resolve(f.relative);
        const st = await fs.stat(real);
        if (!st.isFile() || st.size > limits.searchFileBytes) continue;
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
        if (out.length >= limits.searchMatches) {
          return `${out.join('\n')}\n…[more than ${limits.searchMatches} matches; narrow the query or the pattern]`;
        }
        out.push(`${f.relative}:${i + 1}: ${oneLine(lines[i]!.trim(), 200)}`);
      }
    }
  } finally {
    query.close();
  }
  return out.length ? out.join('\n') : 'No matches.';
}

/** Which lines (0-based) of a file's text match a search. */
export interface LineMatcher {
  lines(text: string, file: string): Promise<number[]>;
  close(): void;
}

/** Plain text (an escaped, linear-time pattern): matched on this thread, no worker to start. */
export class PlainMatcher implements LineMatcher {
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
export class RegexWorker implements LineMatcher {
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

export function oneLine(text: string, max: number): string {
  const s = text.replace(/\s+/g, ' ');
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
