/**
 * Streaming JSONL parser: one JSON object per line, read from raw bytes.
 *
 * Lines end at LF (0x0A). Spaces, tabs and CRs around a record are trimmed
 * (which drops the CR of CRLF files), a UTF-8 BOM at the very start of the
 * file is skipped, and blank lines are skipped but still counted, so a
 * record's position is always its 1-based line number in the file.
 *
 * Hot path: newlines are found with Buffer#indexOf (native memchr); the
 * complete lines of a chunk are checked together with one native isAscii
 * call, else one isUtf8 call (only if that fails is each line checked on its
 * own); each line is decoded straight out of the chunk (latin1 when known to
 * be ASCII, the cheapest decode). Only the line that straddles a chunk
 * boundary (and the file's first line, which is checked for a BOM) is
 * copied, into a reusable accumulator. Events are yielded once per chunk,
 * never per record.
 */
import type { Buffer } from 'node:buffer';
import { isAscii, isUtf8 } from 'node:buffer';
import type { ParseEvent, StreamParser } from './types.js';
import {
  ASCII,
  ByteAccumulator,
  NO_RECORDS_MESSAGE,
  UNCHECKED,
  Utf8Decoder,
  VALID_UTF8,
  asBuffer,
  errorEvent,
  eventFromBytes,
  startsWithBom,
  type Checked,
} from './utf8.js';

const LF = 0x0a;
const CR = 0x0d;

/**
 * The line splitter, fed one chunk at a time. The work is done in plain
 * methods (not in the async generator below), which V8 optimises early and
 * keeps optimised from one file to the next.
 */
class JsonlSplitter {
  private readonly carry = new ByteAccumulator(); // start of the current line, read from earlier chunks
  private readonly decoder = new Utf8Decoder();
  private line = 0; // number of the last line handled
  private sawRecord = false; // any non-blank line at all

  /** Handles the lines that end in this chunk, pushing their events into out. */
  push(buf: Buffer, out: ParseEvent[]): void {
    const len = buf.length;
    let nl = buf.indexOf(LF);
    if (nl === -1) {
      this.carry.append(buf, 0, len);
      return;
    }

    let start = 0;
    if (this.carry.length > 0 || this.line === 0) {
      // The line that straddles the previous chunk(s), or the file's first line (BOM).
      this.carry.append(buf, 0, nl);
      this.flushCarry(out);
      start = nl + 1;
      nl = buf.indexOf(LF, start);
    }

    if (nl !== -1) {
      // Every complete line of this chunk lies in [start, lastNl). LF is ASCII,
      // so that range is ASCII / valid UTF-8 exactly when each line in it is;
      // only when it is not valid must each line be checked on its own.
      const lastNl = buf.lastIndexOf(LF);
      const region = buf.subarray(start, lastNl);
      const checked: Checked = isAscii(region) ? ASCII : isUtf8(region) ? VALID_UTF8 : UNCHECKED;
      const decoder = this.decoder;
      let line = this.line;
      let sawRecord = false;
      do {
        if (emitLine(buf, start, nl, ++line, checked, decoder, out)) sawRecord = true;
        start = nl + 1;
        nl = buf.indexOf(LF, start);
      } while (nl !== -1);
      this.line = line;
      if (sawRecord) this.sawRecord = true;
    }

    if (start < len) this.carry.append(buf, start, len);
  }

  /** End of input: the last line if it had no newline, or "no records". */
  finish(out: ParseEvent[]): void {
    if (this.carry.length > 0) this.flushCarry(out);
    if (!this.sawRecord) out.push(errorEvent(1, NO_RECORDS_MESSAGE));
  }

  /** Handles the line held in carry. */
  private flushCarry(out: ParseEvent[]): void {
    const joined = this.carry.view();
    let start = 0;
    const line = ++this.line;
    if (line === 1 && startsWithBom(joined, 0, joined.length)) start = 3;
    if (emitLine(joined, start, joined.length, line, UNCHECKED, this.decoder, out)) this.sawRecord = true;
    this.carry.reset();
  }
}

/**
 * Emits the event for one line, buf[start..end) without its LF (and without
 * the BOM). Returns false for a blank line (nothing emitted).
 */
function emitLine(
  buf: Buffer,
  start: number,
  end: number,
  line: number,
  checked: Checked,
  decoder: Utf8Decoder,
  out: ParseEvent[],
): boolean {
  // Trimming spaces, tabs and CRs also drops the CR of a CRLF line ending.
  let b: number | undefined;
  while (start < end && ((b = buf[start]) === 0x20 || b === 0x09 || b === CR)) start++;
  while (end > start && ((b = buf[end - 1]) === 0x20 || b === 0x09 || b === CR)) end--;
  if (start === end) return false;
  out.push(eventFromBytes(buf, start, end, line, checked, decoder));
  return true;
}

export const parseJsonl: StreamParser = async function* parseJsonl(chunks) {
  const splitter = new JsonlSplitter();
  for await (const chunk of chunks) {
    const buf = asBuffer(chunk);
    if (buf.length === 0) continue;
    const out: ParseEvent[] = [];
    splitter.push(buf, out);
    if (out.length > 0) yield out;
  }
  const out: ParseEvent[] = [];
  splitter.finish(out);
  if (out.length > 0) yield out;
};
