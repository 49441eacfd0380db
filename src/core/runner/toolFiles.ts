import { constants, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ToolError } from './toolSpecs';

/**
 * Reading and writing one workspace file for readFile, writeFile and editFile, once tools.ts has resolved its path
 * inside the workspace. Files are opened without following a final link, read bounded, and written only through a
 * handle that is checked to be the file the approved path still names.
 */

/** Opening without following a final symbolic link, where the platform can (not on Windows: realpath checks there). */
const NO_FOLLOW = constants.O_NOFOLLOW ?? 0;

/**
 * An existing file's text for the approval's diff, read through a handle that did not follow a link and never more
 * than `previewBytes` (`text` undefined beyond that, or for a binary file); undefined when there is no file.
 */
export async function previewFile(
  real: string,
  relative: string,
  previewBytes: number,
): Promise<{ size: number; text?: string } | undefined> {
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
    const buf = st.size > previewBytes ? undefined : await readBounded(file, previewBytes, 'buffer');
    if (buf === undefined || buf.subarray(0, 8000).includes(0)) return { size: st.size };
    return { size: buf.length, text: buf.toString('utf8') };
  } finally {
    await file.close();
  }
}

/**
 * Writes what was approved, checked again now: the path must still resolve where it did and be allowed (`resolveAgain`
 * resolves it again, as tools.ts does, to its real path), the file
 * is opened without following a final link (a new file exclusively: it must still not exist), and the open file
 * must be the one the path names before `write` changes it. A parent folder swapped for a link would make the
 * open file another one than the path now names; then nothing is written (at worst, with `create`, an empty file
 * was made where the link led).
 */
export async function writeApproved(
  resolveAgain: () => Promise<string>,
  planned: string,
  relative: string,
  mode: 'create' | 'replace',
  write: (file: FileHandle) => Promise<void>,
): Promise<void> {
  const changed = () =>
    new ToolError(
      `${relative} changed since it was approved (a symbolic link or a folder was swapped in); nothing was written.`,
    );
  if ((await resolveAgain()) !== planned) throw changed();
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

export async function readWorkspaceFile(
  real: string,
  relative: string,
  readBytes: number,
  start?: number,
  end?: number,
): Promise<string> {
  let text: string;
  let file: FileHandle | undefined;
  try {
    file = await fs.open(real, constants.O_RDONLY | NO_FOLLOW);
    const st = await file.stat();
    if (st.isDirectory()) throw new ToolError(`${relative} is a folder; use listFiles.`);
    const max = 20 * readBytes;
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
  if (text.length > readBytes) {
    return `${text.slice(0, readBytes)}\n…[cut: ${relative} has ${text.length.toLocaleString('en-US')} characters; read a line range for the rest]`;
  }
  return text;
}

/** Reads an open file from its start, at most `max` bytes: undefined when it holds more. */
export async function readBounded(file: FileHandle, max: number): Promise<string | undefined>;
export async function readBounded(file: FileHandle, max: number, as: 'buffer'): Promise<Buffer | undefined>;
export async function readBounded(file: FileHandle, max: number, as?: 'buffer'): Promise<string | Buffer | undefined> {
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
export async function writeAt0(file: FileHandle, text: string): Promise<void> {
  const buf = Buffer.from(text, 'utf8');
  let done = 0;
  while (done < buf.length) done += (await file.write(buf, done, buf.length - done, done)).bytesWritten;
}
