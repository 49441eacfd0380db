import { StringDecoder } from 'node:string_decoder';

/**
 * Incremental readers of the two streamed body formats the providers use, fed chunk by chunk as bytes arrive (a
 * chunk can end anywhere: inside a line, a UTF-8 character or a JSON string), so usage is read on the side while the
 * bytes themselves go to the client untouched.
 */

/** One server-sent event, still bytes: its name is read at once, its data only when someone needs it. */
export interface SseEvent {
  /** The `event:` field (null when absent). */
  event: string | null;
  /** The event's lines and the blank line that ended it, exactly as they arrived (for passing it on). */
  raw: Buffer;
}

/**
 * Splits an SSE byte stream into events at blank lines (LF LF or CRLF CRLF, as every provider writes them), in bytes:
 * a long answer is thousands of events the proxy only passes on, so none is decoded unless asked (`data()`).
 */
export class SseReader {
  private rest: Buffer = Buffer.alloc(0);
  /** The blank line this stream uses, once seen (a stream keeps to one: looking for both would rescan each chunk). */
  private blank: '\n\n' | '\r\n\r\n' | undefined;

  /** The events completed by `chunk`. */
  push(chunk: Buffer): SseEvent[] {
    const buffer = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    const events: SseEvent[] = [];
    let start = 0;
    for (;;) {
      let at: number;
      if (this.blank) at = buffer.indexOf(this.blank, start);
      else {
        const lf = buffer.indexOf('\n\n', start);
        const crlf = buffer.indexOf('\r\n\r\n', start);
        at = lf < 0 ? crlf : crlf < 0 ? lf : Math.min(lf, crlf);
        if (at >= 0) this.blank = at === crlf ? '\r\n\r\n' : '\n\n';
      }
      if (at < 0) break;
      const stop = at + this.blank!.length;
      events.push(event(buffer.subarray(start, stop)));
      start = stop;
    }
    // A copy: the chunk's memory is the socket's to reuse.
    this.rest = Buffer.from(buffer.subarray(start));
    return events;
  }

  /** Whatever is left at the end of the stream (an event without its closing blank line still counts). */
  end(): SseEvent[] {
    const rest = this.rest;
    this.rest = Buffer.alloc(0);
    return rest.toString('utf8').trim() === '' ? [] : [event(rest)];
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
