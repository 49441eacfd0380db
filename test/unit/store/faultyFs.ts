import path from 'node:path';
import { nodeStoreFs, type AppendHandle, type StoreFs } from '../../../src/core/store/storeFs';

/** One write or sync the store asked of the file system, in order. */
export interface FaultPoint {
  op: string;
  file: string;
}

export type FaultCode = 'ENOSPC' | 'EIO';

function errno(code: FaultCode, op: string, file: string): NodeJS.ErrnoException {
  const text = code === 'ENOSPC' ? 'no space left on device' : 'i/o error';
  return Object.assign(new Error(`${code}: ${text}, ${op} '${file}'`), { code, errno: code === 'ENOSPC' ? -28 : -5 });
}

/**
 * The real file system with a fault switch: every write and sync (of journal, snapshot, lock, heartbeat and folder)
 * is a numbered point; from point `armAt` on, each one fails with `code` — as a disk that filled up (or started
 * failing) stays that way — until `clear()`, when space returns. A failing write first writes half its bytes, as
 * a real ENOSPC mid-write does. Reads never fail. Shrinking a file needs no space, so a truncate fails only with EIO.
 */
export class FaultyFs implements StoreFs {
  readonly trace: FaultPoint[] = [];
  private armAt: number | undefined;
  private tripped = false;
  faults = 0;

  constructor(
    private code: FaultCode = 'ENOSPC',
    private readonly real: StoreFs = nodeStoreFs,
  ) {}

  arm(at: number, code: FaultCode): void {
    this.armAt = at;
    this.code = code;
  }

  clear(): void {
    this.armAt = undefined;
    this.tripped = false;
  }

  get failing(): boolean {
    return this.tripped;
  }

  /** Throws when this point fails. `partial` runs first, so a failing write leaves what a real one would. */
  private point(op: string, file: string, partial?: () => void): void {
    const index = this.trace.length;
    this.trace.push({ op, file: path.basename(file) });
    if (this.armAt === undefined || index < this.armAt) return;
    if (op === 'truncate' && this.code === 'ENOSPC') return;
    this.tripped = true;
    this.faults++;
    partial?.();
    throw errno(this.code, op, file);
  }

  mkdir(p: string): void {
    if (this.real.kind(p) === undefined) this.point('mkdir', p);
    this.real.mkdir(p);
  }
  readdir = (p: string) => this.real.readdir(p);
  kind = (p: string) => this.real.kind(p);
  readFile = (p: string) => this.real.readFile(p);
  readRange = (p: string, position: number, length: number) => this.real.readRange(p, position, length);
  writeFile(p: string, data: Uint8Array | string): void {
    this.point('writeFile', p, () => this.real.writeFile(p, data.slice(0, Math.floor(data.length / 2))));
    this.real.writeFile(p, data);
  }
  overwrite(p: string, data: Uint8Array): void {
    this.point('overwrite', p);
    this.real.overwrite(p, data);
  }
  createExclusive(p: string, data: string): void {
    this.point('createExclusive', p);
    this.real.createExclusive(p, data);
  }
  size = (p: string) => this.real.size(p);
  mtimeMs = (p: string) => this.real.mtimeMs(p);
  rename(from: string, to: string): void {
    this.point('rename', to);
    this.real.rename(from, to);
  }
  link = (existing: string, newPath: string) => this.real.link(existing, newPath);
  unlink = (p: string) => this.real.unlink(p);
  openAppend(p: string): AppendHandle {
    if (this.real.kind(p) === undefined) this.point('create', p);
    const h = this.real.openAppend(p);
    return {
      append: (data) => {
        this.point('append', p, () => h.append(data.subarray(0, Math.floor(data.length / 2))));
        h.append(data);
      },
      datasync: async () => {
        this.point('datasync', p);
        await h.datasync();
      },
      truncate: (size) => {
        this.point('truncate', p);
        h.truncate(size);
      },
      close: () => h.close(),
    };
  }
  async syncDir(p: string): Promise<void> {
    this.point('syncDir', p);
    await this.real.syncDir(p);
  }
  async writeFileDurable(p: string, data: Uint8Array): Promise<void> {
    this.point('writeFileDurable', p, () => this.real.writeFile(p, data.subarray(0, Math.floor(data.length / 2))));
    await this.real.writeFileDurable(p, data);
  }
  watch = (p: string, onChange: () => void) => this.real.watch(p, onChange);
}
