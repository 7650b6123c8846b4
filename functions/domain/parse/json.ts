/**
 * Streaming JSON parser: the file is either one JSON object (one record at
 * position 1) or an array of objects, streamed element by element (position =
 * 1-based element index).
 *
 * A byte scanner finds element boundaries: it tracks the open brackets (a
 * stack of `{` / `[`), whether it is inside a string, and backslash escapes.
 * All structural characters are ASCII and can never occur inside a
 * multi-byte UTF-8 sequence, so scanning bytes is safe. Each element's bytes
 * are then UTF-8-checked, decoded and handed to JSON.parse, which does the
 * real validation; a malformed element therefore costs only that element,
 * and scanning carries on with the next one.
 *
 * Mismatched brackets resynchronise the scanner: a closer that does not match
 * the innermost opener closes everything up to its own opener (or, when the
 * element has none, everything; a `]` then ends the top-level array). So
 * `{"a": [1}` is one invalid element, not a file that never ends.
 *
 * Only the element being read is kept: its bytes from earlier chunks are
 * copied into a growable accumulator (linear even when an element spans many
 * tiny chunks); elements wholly inside a chunk are decoded in place.
 */
import type { Buffer } from 'node:buffer';
import type { ParseEvent, StreamParser } from './types.js';
import {
  ByteAccumulator,
  NO_RECORDS_MESSAGE,
  UNCHECKED,
  Utf8Decoder,
  asBuffer,
  errorEvent,
  eventFromBytes,
  isJsonWhitespace,
} from './utf8.js';

export const NOT_A_DOCUMENT_MESSAGE = 'expected a JSON object or an array of objects';
export const TRAILING_DATA_MESSAGE = 'unexpected data after the end of the JSON document';
export const UNEXPECTED_EOF_MESSAGE = 'unexpected end of file';
export const EMPTY_ELEMENT_MESSAGE = 'invalid JSON: empty array element';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const BOM = [0xef, 0xbb, 0xbf] as const;
/** Bytes of a string scanned in JS before switching to Buffer#indexOf. */
const SHORT_STRING = 16;

/** Before the first significant byte (BOM and whitespace are skipped here). */
const START = 0;
/** Inside the top-level value: the single object, or the array's elements. */
const BODY = 1;
/** After the top-level value: only whitespace may follow. */
const AFTER = 2;
/** A fatal problem was reported; the rest of the input is not read. */
const STOPPED = 3;

class JsonScanner {
  mode = START;
  /** Events emitted so far (to detect "no records"). */
  emitted = 0;

  private bomMatched = 0; // BOM bytes matched at the start of the file
  private startOffset = 0; // bytes consumed in START mode
  private isArray = false;

  // Element scanner state, carried across chunks.
  private depth = 0; // open brackets inside the current element (in single-object mode, including the object's own)
  private stack = new Uint8Array(64); // stack[0..depth): the open brackets, innermost last
  private inString = false;
  private escaped = false;
  private open = false; // the current element has begun (first significant byte seen)
  private position = 1; // 1-based index of the current element
  private readonly acc = new ByteAccumulator(); // current element's bytes from earlier chunks
  private readonly decoder = new Utf8Decoder();

  /** Scans one chunk, pushing the events it completes into out. */
  push(buf: Buffer, out: ParseEvent[]): void {
    let i = 0;
    if (this.mode === START) i = this.scanStart(buf, out);
    if (this.mode === BODY) i = this.scanBody(buf, i, out);
    if (this.mode === AFTER) this.scanAfter(buf, i, out);
  }

  /** End of input: reports whatever was left unfinished. */
  finish(out: ParseEvent[]): void {
    if (this.mode === START) {
      // Only whitespace (and possibly a BOM) so far; a partial BOM is garbage.
      if (this.bomMatched === 1 || this.bomMatched === 2) this.emit(out, errorEvent(1, NOT_A_DOCUMENT_MESSAGE));
    } else if (this.mode === BODY) {
      if (this.isArray && this.open && this.depth === 0 && !this.inString) {
        // The last element was closed but neither `,` nor `]` followed: it is
        // complete, so report it, then the missing end of the array.
        this.endElement(null, 0, 0, out);
        this.position++;
      }
      this.emit(out, errorEvent(this.position, UNEXPECTED_EOF_MESSAGE));
      this.acc.reset();
      this.mode = STOPPED;
    }
    if (this.emitted === 0) this.emit(out, errorEvent(1, NO_RECORDS_MESSAGE));
  }

  private emit(out: ParseEvent[], event: ParseEvent): void {
    out.push(event);
    this.emitted++;
  }

  private scanStart(buf: Buffer, out: ParseEvent[]): number {
    const len = buf.length;
    for (let i = 0; i < len; i++) {
      const b = buf[i]!;
      const m = this.bomMatched;
      if (m < 3 && m === this.startOffset && b === BOM[m]) {
        this.bomMatched = m + 1;
        this.startOffset++;
        continue;
      }
      this.startOffset++;
      if (m === 1 || m === 2) return this.stop(out, 1, NOT_A_DOCUMENT_MESSAGE);
      if (isJsonWhitespace(b)) continue;
      if (b === OPEN_BRACKET) {
        this.isArray = true;
        this.mode = BODY;
        return i + 1;
      }
      if (b === OPEN_BRACE) {
        // The single object is scanned as an element that starts here.
        this.isArray = false;
        this.mode = BODY;
        this.depth = 1;
        this.stack[0] = OPEN_BRACE;
        this.open = true;
        this.acc.append(buf, i, i + 1);
        return i + 1;
      }
      return this.stop(out, 1, NOT_A_DOCUMENT_MESSAGE);
    }
    return len;
  }

  private stop(out: ParseEvent[], position: number, message: string): number {
    this.emit(out, errorEvent(position, message));
    this.mode = STOPPED;
    this.acc.reset();
    return Number.MAX_SAFE_INTEGER;
  }

  /** Ends the top-level array at a `]`; the pending element, if any, ends at buf[end]. */
  private closeArray(buf: Buffer, start: number, end: number, open: boolean, out: ParseEvent[]): void {
    if (open) {
      this.endElement(buf, start, end, out);
      this.position++;
    } else if (this.position > 1) {
      // `[1,]`: a trailing comma leaves an empty element.
      this.emit(out, errorEvent(this.position, EMPTY_ELEMENT_MESSAGE));
      this.position++;
    } // else `[]`: an empty array
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.open = false;
    this.mode = AFTER;
  }

  /**
   * The element scanner. Returns the index just past the end of the
   * top-level value if it ended in this chunk, else buf.length.
   */
  private scanBody(buf: Buffer, from: number, out: ParseEvent[]): number {
    const len = buf.length;
    const isArray = this.isArray;
    let depth = this.depth;
    let stack = this.stack;
    let inString = this.inString;
    let escaped = this.escaped;
    let open = this.open;
    // Start of the current element's bytes in this chunk (earlier bytes are in acc).
    let start = from;

    // Inside strings, jump with Buffer#indexOf (native memchr) to the next
    // quote or backslash instead of looking at every byte. Both positions are
    // cached and only searched again once passed, so each chunk is searched
    // once for each: linear, however the strings are laid out.
    let nextQuote = -1;
    let nextBackslash = -1;

    let i = from;
    while (i < len) {
      if (inString) {
        if (escaped) {
          escaped = false; // the escaped byte itself (`\"` cannot end the string)
          i++;
          continue;
        }
        // Most strings (keys, short values) end within a few bytes: looking at
        // those here is cheaper than a native call.
        const stop = Math.min(i + SHORT_STRING, len);
        let c = 0;
        while (i < stop && (c = buf[i]!) !== QUOTE && c !== BACKSLASH) i++;
        if (i < stop) {
          if (c === QUOTE) inString = false;
          else escaped = true;
          i++;
          continue;
        }
        if (i === len) break;
        if (nextQuote < i) {
          nextQuote = buf.indexOf(QUOTE, i);
          if (nextQuote === -1) nextQuote = len;
        }
        if (nextBackslash < i) {
          nextBackslash = buf.indexOf(BACKSLASH, i);
          if (nextBackslash === -1) nextBackslash = len;
        }
        if (nextBackslash < nextQuote) {
          escaped = true;
          i = nextBackslash + 1;
        } else if (nextQuote < len) {
          inString = false;
          i = nextQuote + 1;
        } else {
          i = len; // the string goes on in the next chunk
        }
        continue;
      }
      const b = buf[i]!;
      switch (b) {
        case QUOTE:
          inString = true;
          if (!open) {
            open = true;
            start = i;
          }
          break;
        case OPEN_BRACE:
        case OPEN_BRACKET:
          if (depth === stack.length) {
            const bigger = new Uint8Array(stack.length * 2);
            bigger.set(stack);
            this.stack = stack = bigger;
          }
          stack[depth++] = b;
          if (!open) {
            open = true;
            start = i;
          }
          break;
        case CLOSE_BRACE:
        case CLOSE_BRACKET: {
          if (depth === 0) {
            // Between elements of the top-level array (a single object always has depth >= 1).
            if (b === CLOSE_BRACKET) {
              this.closeArray(buf, start, i, open, out);
              return i + 1;
            }
            // A stray `}`: make it part of an element, which then fails JSON.parse.
            if (!open) {
              open = true;
              start = i;
            }
            break;
          }
          const opener = b - 2; // `}` - 2 = `{`, `]` - 2 = `[`
          if (stack[depth - 1] === opener) {
            depth--;
          } else {
            // Mismatch: close up to the matching opener, or everything.
            let j = depth - 2;
            while (j >= 0 && stack[j] !== opener) j--;
            depth = Math.max(j, 0);
            if (j < 0 && isArray && b === CLOSE_BRACKET) {
              // The element had no `[` left open: this `]` ends the top-level array.
              this.closeArray(buf, start, i, open, out);
              return i + 1;
            }
          }
          if (depth === 0 && !isArray) {
            // The single top-level object is complete.
            this.endElement(buf, start, i + 1, out);
            this.depth = 0;
            this.open = false;
            this.position = 2;
            this.mode = AFTER;
            return i + 1;
          }
          break;
        }
        case COMMA:
          if (depth === 0) {
            if (open) this.endElement(buf, start, i, out);
            else this.emit(out, errorEvent(this.position, EMPTY_ELEMENT_MESSAGE));
            this.position++;
            open = false;
          }
          break;
        case 0x20:
        case 0x0a:
        case 0x0d:
        case 0x09:
          break;
        default:
          if (!open) {
            open = true;
            start = i;
          }
      }
      i++;
    }

    if (open) this.acc.append(buf, start, len);
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
    this.open = open;
    return len;
  }

  /**
   * The current element ends at buf[end] (exclusive). Its bytes are acc's
   * content followed by buf[start..end); buf null means acc holds all of them.
   */
  private endElement(buf: Buffer | null, start: number, end: number, out: ParseEvent[]): void {
    let bytes: Buffer;
    if (buf === null || this.acc.length > 0) {
      if (buf !== null) this.acc.append(buf, start, end);
      bytes = this.acc.view();
      start = 0;
      end = bytes.length;
    } else {
      bytes = buf;
    }
    while (end > start && isJsonWhitespace(bytes[end - 1]!)) end--;
    while (start < end && isJsonWhitespace(bytes[start]!)) start++;
    if (start === end) this.emit(out, errorEvent(this.position, EMPTY_ELEMENT_MESSAGE));
    else this.emit(out, eventFromBytes(bytes, start, end, this.position, UNCHECKED, this.decoder));
    this.acc.reset();
  }

  private scanAfter(buf: Buffer, from: number, out: ParseEvent[]): void {
    const len = buf.length;
    for (let i = from; i < len; i++) {
      if (!isJsonWhitespace(buf[i]!)) {
        this.stop(out, this.position, TRAILING_DATA_MESSAGE);
        return;
      }
    }
  }
}

export const parseJson: StreamParser = async function* parseJson(chunks) {
  const scanner = new JsonScanner();
  for await (const chunk of chunks) {
    const buf = asBuffer(chunk);
    if (buf.length === 0) continue;
    const out: ParseEvent[] = [];
    scanner.push(buf, out);
    if (out.length > 0) yield out;
    // Nothing more can be reported: stop reading (ends the source stream).
    if (scanner.mode === STOPPED) return;
  }
  const out: ParseEvent[] = [];
  scanner.finish(out);
  if (out.length > 0) yield out;
};
