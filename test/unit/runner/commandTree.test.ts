import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stopCommandTree, taskkillPath } from '../../../src/core/runner/commandTree';
import { itWhere, processTrees } from '../../support/platform';

describe('runCommand: stopping a command with everything it started', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'ab-tree-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("on Windows: taskkill /T /F from the shell down, by Windows' own taskkill.exe, then the shell itself", async () => {
    const shell = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await once(shell, 'spawn');
    const ran: Array<{ file: string; args: string[]; shellAlive: boolean }> = [];
    const exited = once(shell, 'exit');
    await stopCommandTree(shell, 'win32', async (file, args) => {
      ran.push({ file, args, shellAlive: shell.exitCode === null && shell.signalCode === null });
    });
    assert.deepEqual(ran, [
      {
        file: taskkillPath(),
        args: ['/pid', String(shell.pid), '/T', '/F'],
        // The tree is found from the shell: killed first, its children would be orphans taskkill cannot find.
        shellAlive: true,
      },
    ]);
    assert.match(taskkillPath({ SystemRoot: 'D:\\Win' }), /^D:\\Win\\System32\\taskkill\.exe$/);
    await exited; // killed directly too, for a taskkill that could not (Wine's has no /T)
  });

  // The shell starts a program that starts another, which keeps the output pipe open: until every one of them is
  // gone the command never finishes ('close'), which is what a user would see.
  itWhere(
    processTrees,
    'stops the shell, the program it started and that one’s child: the command finishes',
    async () => {
      // Scripts in files: the same command line means the same thing to sh and to cmd.exe. Each notes its pid, so a
      // failing run can still stop what it left.
      const pids = { program: path.join(dir, 'program.pid'), grandchild: path.join(dir, 'grandchild.pid') };
      const notePid = (file: string) => `require('fs').writeFileSync(${JSON.stringify(file)}, String(process.pid));`;
      const grandchild = path.join(dir, 'grandchild.js');
      writeFileSync(grandchild, `${notePid(pids.grandchild)} setInterval(() => {}, 1000);`);
      const program = path.join(dir, 'program.js');
      writeFileSync(
        program,
        `${notePid(pids.program)} require('child_process').spawn(process.execPath, [${JSON.stringify(grandchild)}], ` +
          "{ stdio: 'inherit' }); setInterval(() => {}, 1000);",
      );
      const shell = spawn(`"${process.execPath}" "${program}"`, {
        shell: true,
        detached: process.platform !== 'win32',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      shell.stdout!.resume();
      shell.stderr!.resume();
      const closed = once(shell, 'close');
      try {
        const started = Date.now();
        while (!existsSync(pids.grandchild) || readFileSync(pids.grandchild, 'utf8') === '') {
          assert.ok(Date.now() - started < 20_000, 'the grandchild started');
          await new Promise((r) => setTimeout(r, 20));
        }
        await stopCommandTree(shell);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          closed,
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error('the command did not finish: something it started runs on')),
              5_000,
            );
          }),
        ]).finally(() => clearTimeout(timer));
      } finally {
        for (const file of Object.values(pids)) {
          try {
            process.kill(Number(readFileSync(file, 'utf8')), 'SIGKILL');
          } catch {
            // gone, as it should be
          }
        }
        shell.stdout!.destroy();
        shell.stderr!.destroy();
      }
    },
  );
});
