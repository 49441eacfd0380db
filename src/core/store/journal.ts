import * as zlib from 'node:zlib';
import type { StoreRecord } from './records';

/**
 * The journal is append-only text, one record per line:
 *
 *     <crc32 as 8 hex digits> <writer id> <record as JSON>\n
 *
 * The checksum covers everything after the first space, so a line torn by a power cut, or garbage, is recognised
 * and skipped instead of being applied half. The writer id lets a process skip its own lines cheaply when it tails
 * the journal for records written by other windows and the CLI.
 */

const NEWLINE = 0x0a;
const SPACE = 0x20;

const crc32: (data: Uint8Array) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function'
    ? (data) => (zlib as unknown as { crc32(d: Uint8Array): number }).crc32(data)
    : softwareCrc32;

let crcTable: Uint32Array | undefined;
/** Node < 20.15 lacks zlib.crc32; VS Code's extension host may run such a Node. */
function softwareCrc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export { crc32 };

export function encodeLine(writer: string, record: StoreRecord): Buffer {
  // One buffer, the body written in place and the checksum in front of it (every durable append's path).
  const text = `${writer} ${JSON.stringify(record)}`;
  const length = Buffer.byteLength(text, 'utf8');
  const line = Buffer.allocUnsafe(9 + length + 1);
  line.write(text, 9, 'utf8');
  line.write(
    crc32(line.subarray(9, 9 + length))
      .toString(16)
      .padStart(8, '0'),
    0,
    'latin1',
  );
  line[8] = SPACE;
  line[9 + length] = NEWLINE;
  return line;
}

export interface ParsedChunk {
  /** Records from complete, valid lines, in journal order, with the writer of each. */
  records: Array<{ writer: string; record: StoreRecord }>;
  /** Bytes consumed: up to and including the last newline. What follows is an incomplete (in-progress or torn) line. */
  consumed: number;
  /** Complete lines that failed their checksum or did not parse. */
  damaged: number;
  /** Length of the trailing bytes without a newline. */
  trailing: number;
}

/**
 * Parses the complete lines of `buf`. Lines written by `skipWriter` are counted as consumed without being decoded.
 */
export function parseChunk(buf: Buffer, skipWriter?: string): ParsedChunk {
  const records: ParsedChunk['records'] = [];
  const skip = skipWriter ? Buffer.from(` ${skipWriter} `, 'utf8') : undefined;
  let damaged = 0;
  let start = 0;
  for (;;) {
    const end = buf.indexOf(NEWLINE, start);
    if (end < 0) break;
    const line = buf.subarray(start, end);
    start = end + 1;
    if (line.length === 0) continue; // a separator written after a torn tail
    if (skip && line.length > 8 + skip.length && line.subarray(8, 8 + skip.length).equals(skip)) continue;
    const parsed = parseLine(line);
    if (parsed) records.push(parsed);
    else damaged++;
  }
  return { records, consumed: start, damaged, trailing: buf.length - start };
}

function parseLine(line: Buffer): { writer: string; record: StoreRecord } | undefined {
  if (line.length < 12 || line[8] !== SPACE) return undefined;
  const expected = Number.parseInt(line.toString('latin1', 0, 8), 16);
  const body = line.subarray(9);
  if (!Number.isFinite(expected) || crc32(body) !== expected) return undefined;
  const gap = body.indexOf(SPACE);
  if (gap <= 0) return undefined;
  try {
    const record = JSON.parse(body.toString('utf8', gap + 1)) as StoreRecord;
    if (!record || typeof record !== 'object' || typeof record.k !== 'string') return undefined;
    return { writer: body.toString('utf8', 0, gap), record };
  } catch {
    return undefined;
  }
}

/** `journal-000042.log` ⇄ 42. Generations order the files; compaction starts a new one. */
export function journalName(gen: number): string {
  return `journal-${String(gen).padStart(6, '0')}.log`;
}

export function parseJournalName(name: string): number | undefined {
  const m = /^journal-(\d{6,})\.log$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * `snapshot-000042-0a1b2c3d.sqlite`: a compacted database holding every journal record of generations < 42
 * (and possibly some of 42, which replays idempotently), whose bytes have the given CRC-32. One rename makes it live.
 */
export function snapshotName(gen: number, crc: number): string {
  return `snapshot-${String(gen).padStart(6, '0')}-${crc.toString(16).padStart(8, '0')}.sqlite`;
}

export function parseSnapshotName(name: string): { gen: number; crc: number } | undefined {
  const m = /^snapshot-(\d{6,})-([0-9a-f]{8})\.sqlite$/.exec(name);
  return m ? { gen: Number(m[1]), crc: Number.parseInt(m[2]!, 16) } : undefined;
}
