import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/** What stops a process tree on Windows: the arguments of `taskkill` for the tree under `pid`, forced. */
export function taskkillArgs(pid: number): string[] {
  return ['/pid', String(pid), '/T', '/F'];
}

/**
 * Windows' own taskkill.exe, by full path: a bare name would be looked up in the current folder first, and a cloned
 * repository could put a taskkill.exe there.
 */
export function taskkillPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.win32.join(env.SystemRoot ?? env.SYSTEMROOT ?? 'C:\\Windows', 'System32', 'taskkill.exe');
}

/** Runs a program to its end, whatever it answers (its failure is handled by what follows it). */
function runToEnd(file: string, args: string[]): Promise<void> {
  return new Promise((resolve) => {
    const program = spawn(file, args, { stdio: 'ignore', windowsHide: true });
    program.on('error', () => resolve());
    program.on('exit', () => resolve());
  });
}

/**
 * Stops a command an agent runs and everything it started (a timeout or a cancel of runCommand).
 *
 * POSIX: the shell was spawned detached, so it leads its own process group and one SIGKILL to the group reaches
 * every program in it. Windows has no process groups: killing cmd.exe alone leaves the programs it started running
 * (and holding the output pipes, so the command never finishes), so `taskkill /T` stops the tree from the shell
 * down first; the shell is then killed directly as well, in case taskkill could not (Wine's taskkill has no /T).
 * `platform` and `run` are for tests.
 */
export function stopCommandTree(
  child: ChildProcess,
  platform: NodeJS.Platform = process.platform,
  run: (file: string, args: string[]) => Promise<void> = runToEnd,
): Promise<void> {
  const killShell = () => {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  };
  if (child.pid === undefined) {
    killShell();
    return Promise.resolve();
  }
  if (platform === 'win32') return run(taskkillPath(), taskkillArgs(child.pid)).then(killShell);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    killShell(); // no group (already gone, or not detached): at least the shell
  }
  return Promise.resolve();
}
