import { StringDecoder } from 'node:string_decoder';

/**
 * Incremental readers of the two streamed body formats the providers use, fed chunk by chunk as bytes arrive (a
 * chunk can end anywhere: inside a line, a UTF-8 character or a JSON string), so usage is read on the side while the
 * bytes themselves go to the client untouched.
 */

/** One server-sent event, still bytes: its name is read at once, its data only when someone needs it (`sseData`). */
export interface SseEvent {
  /** The `event:` field (null when absent). */
  event: string | null;
  /** The event's lines and the blank line that ended it, exactly as they arrived (for passing it on). */
  raw: Buffer;
}

/**
 * Reads an SSE byte stream for the few events that matter — those containing one of `markers` (the byte strings that
 * mark a usage event) — without splitting the rest: a long answer is thousands of text events the proxy only passes
 * on, and finding a marker is a native byte search where splitting each event costs as much as relaying it.
 * `push` returns every complete byte of the stream, in order: spans of unmarked events as they came, and each marked
 * event on its own (to parse, and to pass on or drop). Events end at a blank line (LF LF or CRLF CRLF, as every
 * provider writes them).
 */
export class SseReader {
  private rest: Buffer = Buffer.alloc(0);
  /** The blank line this stream uses, once seen (a stream keeps to one: looking for both would rescan each chunk). */
  private blank: '\n\n' | '\r\n\r\n' | undefined;

  constructor(private readonly markers: readonly string[]) {}

  /** The stream's bytes completed by `chunk`: unmarked spans and marked events, in order. */
  push(chunk: Buffer): Array<Buffer | SseEvent> {
    const buffer = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    const blank = this.blankOf(buffer);
    if (!blank) {
      this.rest = Buffer.from(buffer);
      return [];
    }
    // Complete events end at the last blank line; what follows is kept for the next chunk (a copy: the chunk's
    // memory is the socket's to reuse).
    const last = buffer.lastIndexOf(blank);
    const complete = last < 0 ? 0 : last + blank.length;
    this.rest = Buffer.from(buffer.subarray(complete));
    const out: Array<Buffer | SseEvent> = [];
    let from = 0;
    for (;;) {
      const at = this.nextMarker(buffer, from, complete);
      if (at < 0) break;
      const before = buffer.lastIndexOf(blank, at);
      const start = before < from ? from : before + blank.length;
      const stop = buffer.indexOf(blank, at) + blank.length;
      if (start > from) out.push(buffer.subarray(from, start));
      out.push(event(buffer.subarray(start, stop)));
      from = stop;
    }
    if (complete > from) out.push(buffer.subarray(from, complete));
    return out;
  }

  /** The end of the stream: what is left (an event without its closing blank line still counts). */
  end(): Array<Buffer | SseEvent> {
    const rest = this.rest;
    this.rest = Buffer.alloc(0);
    if (rest.length === 0) return [];
    return this.nextMarker(rest, 0, rest.length) >= 0 ? [event(rest)] : [rest];
  }

  private blankOf(buffer: Buffer): string | undefined {
    if (!this.blank) {
      const lf = buffer.indexOf('\n\n');
      const crlf = buffer.indexOf('\r\n\r\n');
      if (lf >= 0 || crlf >= 0) this.blank = crlf >= 0 && (lf < 0 || crlf < lf) ? '\r\n\r\n' : '\n\n';
    }
    return this.blank;
  }

  /** Where the first marker at or after `from` starts, if before `until`; -1 when none. */
  private nextMarker(buffer: Buffer, from: number, until: number): number {
    let first = -1;
    for (const marker of this.markers) {
      const at = buffer.indexOf(marker, from);
      if (at >= 0 && at < until && (first < 0 || at < first)) first = at;
    }
    return first;
  }
}

function event(raw: Buffer): SseEvent {
  let name: string | null = null;
  if (raw.subarray(0, 6).toString('latin1') === 'event:') {
    const eol = raw.indexOf('\n');
    name = raw
      .subarray(6, eol < 0 ? raw.length : eol)
      .toString('utf8')
      .replace(/\r$/, '')
      .replace(/^ /, '');
  }
  return { event: name, raw };
}

/** The `data:` lines of an event, joined by newlines (WHATWG rules: a space after the colon is dropped). */
export function sseData(e: SseEvent): string {
  const data: string[] = [];
  for (const line of e.raw.toString('utf8').split(/\r\n|\n|\r/)) {
    if (!line.startsWith('data')) continue;
    const colon = line.indexOf(':');
    if (colon !== 4 && !(colon < 0 && line === 'data')) continue;
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    data.push(value);
  }
  return data.join('\n');
}

/**
 * Splits a streamed top-level JSON array (`[{…},\r\n{…}]`, Gemini's streamGenerateContent without `alt=sse`) into
 * its elements' texts, tracking strings and escapes so braces inside strings do not count.
 */
export class JsonArrayReader {
  private readonly decoder = new StringDecoder('utf8');
  private depth = 0;
  private inString = false;
  private escaped = false;
  private current = '';

  push(chunk: Buffer): string[] {
    return this.scan(this.decoder.write(chunk));
  }

  end(): string[] {
    return this.scan(this.decoder.end());
  }

  private scan(text: string): string[] {
    const out: string[] = [];
    let start = this.depth >= 2 ? 0 : -1;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (ch === '\\') this.escaped = true;
        else if (ch === '"') this.inString = false;
        continue;
      }
      if (ch === '"') this.inString = true;
      else if (ch === '{' || ch === '[') {
        this.depth += 1;
        if (this.depth === 2) start = i;
      } else if (ch === '}' || ch === ']') {
        this.depth -= 1;
        if (this.depth === 1 && start >= 0) {
          out.push(this.current + text.slice(start, i + 1));
          this.current = '';
          start = -1;
        }
      }
    }
    if (start >= 0) this.current += text.slice(start);
    return out;
  }
}

/** Parses JSON, or undefined when it is not JSON (a stream's data is input: it never throws here). */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
