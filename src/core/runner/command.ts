import { spawn } from 'node:child_process';
import { commandEnvironment } from '../trust/commandEnv';
import { stopCommandTree } from './commandTree';
import { ToolError } from './toolSpecs';

/**
 * The runCommand tool. Runs `command` through the platform shell (so pipes and `&&` work as the user would expect —
 * which is exactly why it only runs after approval or an explicit `tools.allow` in the policy), in `options.cwd` (the
 * workspace folder), with an allow-listed environment (no keys, tokens or credentials); a timeout or a cancel stops
 * everything it started (its process group on POSIX, `taskkill /T` on Windows: commandTree.ts). Output beyond the
 * cap keeps its head and tail.
 */
export function runCommand(
  command: string,
  options: { cwd: string; timeoutMs: number; outputBytes: number },
  signal?: AbortSignal,
): Promise<string> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new ToolError('cancelled before the command started.'));
    const child = spawn(command, {
      cwd: options.cwd,
      shell: true,
      // Only what builds and tests need, by name: no key, token or cloud credential (trust/commandEnv.ts).
      env: commandEnvironment(process.env),
      detached: process.platform !== 'win32',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = new CappedOutput(options.outputBytes);
    const keep = (c: Buffer) => output.add(c);
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let reason: string | undefined;
    const kill = (why: string) => {
      reason = why;
      void stopCommandTree(child);
    };
    const timer = setTimeout(
      () => kill(`timed out after ${Math.round(options.timeoutMs / 1000)} s`),
      options.timeoutMs,
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

/** Keeps the first and the last half of `cap` bytes of a stream, and counts what fell between. */
export class CappedOutput {
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
