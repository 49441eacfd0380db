import { StringDecoder } from 'node:string_decoder';

/**
 * Incremental readers of the two streamed body formats the providers use, fed chunk by chunk as bytes arrive (a
 * chunk can end anywhere: inside a line, a UTF-8 character or a JSON string), so usage is read on the side while the
 * bytes themselves go to the client untouched.
 */

/** One server-sent event: its `event:` name (null when absent), its `data:` lines joined, and its text as received. */
export interface SseEvent {
  event: string | null;
  data: string;
  /** The event's lines and the blank line that ended it, exactly as they arrived (for passing it on). */
  raw: string;
}

/** Splits an SSE byte stream into events (WHATWG rules: LF, CRLF or CR line ends; a blank line ends an event). */
export class SseReader {
  private readonly decoder = new StringDecoder('utf8');
  private buffer = '';

  /** The events completed by `chunk`. */
  push(chunk: Buffer): SseEvent[] {
    this.buffer += this.decoder.write(chunk);
    return this.drain();
  }

  /** Whatever is left at the end of the stream (an event without its closing blank line still counts). */
  end(): SseEvent[] {
    this.buffer += this.decoder.end();
    const events = this.drain();
    if (this.buffer.trim() !== '') events.push(parseEvent(this.buffer));
    this.buffer = '';
    return events;
  }

  private drain(): SseEvent[] {
    const events: SseEvent[] = [];
    for (;;) {
      const end = /\r\n\r\n|\n\n|\r\r|\r\n\n|\n\r\n/.exec(this.buffer);
      // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
      if (!end || (end[0] === '\r\r' && end.index + 2 === this.buffer.length)) return events;
      const stop = end.index + end[0].length;
      events.push(parseEvent(this.buffer.slice(0, stop)));
      this.buffer = this.buffer.slice(stop);
    }
  }
}

function parseEvent(raw: string): SseEvent {
  let event: string | null = null;
  const data: string[] = [];
  for (const line of raw.split(/\r\n|\n|\r/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return { event, data: data.join('\n'), raw };
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
