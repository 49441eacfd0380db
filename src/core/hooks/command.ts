import { spawn } from 'node:child_process';
import { stopCommandTree } from '../runner/commandTree';
import { commandEnvironment } from '../trust/commandEnv';

/** How a hook command ended. */
export interface HookCommandResult {
  /** The exit code, or null when it was killed or never started. */
  exitCode: number | null;
  /** Stopped at its timeout. */
  timedOut: boolean;
  /** It could not be started (the shell or the program is missing): why. */
  error?: string;
  /** What it wrote (stdout and stderr), cut to the first few KB: for the log only. */
  output: string;
}

const OUTPUT_BYTES = 4_000;

/**
 * Runs a hook's command line through the platform shell in `cwd`, with `input` (the event as JSON) on its stdin,
 * with only the allow-listed environment the runCommand tool gives commands (trust/commandEnv.ts), and stops it with
 * everything it started at `timeoutMs`, as the runCommand tool stops a command (runner/commandTree.ts: the process
 * group on POSIX, `taskkill /T` on Windows). Never throws: a hook that fails only says so.
 */
export function runHookCommand(
  command: string,
  input: string,
  options: { cwd: string; timeoutMs: number; signal?: AbortSignal },
): Promise<HookCommandResult> {
  return new Promise((resolve) => {
    // The runCommand tool's allow-listed environment: no key, token or cloud credential reaches a hook.
    const env = commandEnvironment(process.env);
    let child;
    try {
      child = spawn(command, {
        cwd: options.cwd,
        shell: true,
        env,
        detached: process.platform !== 'win32',
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    } catch (err) {
      resolve({ exitCode: null, timedOut: false, error: (err as Error).message, output: '' });
      return;
    }
    let output = '';
    const keep = (chunk: Buffer) => {
      if (output.length < OUTPUT_BYTES) output += chunk.toString('utf8').slice(0, OUTPUT_BYTES - output.length);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    // A hook that does not read its stdin must not fail on EPIPE.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(input);
    let timedOut = false;
    const kill = () => void stopCommandTree(child);
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, options.timeoutMs);
    const onAbort = () => kill();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let error: string | undefined;
    child.on('error', (err) => (error = err.message));
    child.on('close', (code) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ exitCode: timedOut ? null : code, timedOut, ...(error ? { error } : {}), output: output.trim() });
    });
  });
}
