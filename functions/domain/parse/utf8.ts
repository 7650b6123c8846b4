/**
 * Byte-level helpers shared by the JSONL and JSON streaming parsers: chunk
 * normalisation, an append-only byte buffer for records that straddle chunk
 * boundaries, and the bytes -> event step (UTF-8 check, decode, JSON.parse,
 * "is it a plain object" check).
 */
import { Buffer, isAscii, isUtf8, transcode } from 'node:buffer';
import type { ParseEvent } from './types.js';

export const NO_RECORDS_MESSAGE = 'the file contains no records';
export const INVALID_UTF8_MESSAGE = 'invalid UTF-8';

/** Longest error message we produce (V8's JSON.parse messages quote the input). */
const MAX_MESSAGE_LENGTH = 200;

/** Views a chunk as a Buffer without copying. */
export function asBuffer(chunk: Uint8Array): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  // A stream with setEncoding() would hand us strings; accept them rather than misparse.
  if (typeof (chunk as unknown) === 'string') return Buffer.from(chunk as unknown as string, 'utf8');
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * Buffer#latin1Slice is what buf.toString('latin1', start, end) ends up
 * calling, minus the argument normalisation and encoding lookup (a few % of
 * the whole JSONL parse). It is not in the typings, so check it is there.
 */
type WithLatin1Slice = Buffer & { latin1Slice(start: number, end: number): string };
const hasLatin1Slice = typeof (Buffer.prototype as Partial<WithLatin1Slice>).latin1Slice === 'function';

/** Decodes bytes known to be ASCII (any bytes, really: one char per byte). */
export function decodeAscii(buf: Buffer, start: number, end: number): string {
  return hasLatin1Slice ? (buf as WithLatin1Slice).latin1Slice(start, end) : buf.toString('latin1', start, end);
}

/** JSON insignificant whitespace: space, tab, LF, CR. */
export function isJsonWhitespace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

/** True when buf[start..end) begins with the UTF-8 byte order mark EF BB BF. */
export function startsWithBom(buf: Uint8Array, start: number, end: number): boolean {
  return end - start >= 3 && buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf;
}

/**
 * A growable byte buffer holding the part of a record that has been read so
 * far when the record straddles chunks. Bytes are copied in (so the caller's
 * chunks are never retained or aliased), capacity doubles, so assembling a
 * record from many tiny chunks stays linear.
 */
export class ByteAccumulator {
  private buf: Buffer = Buffer.alloc(0);
  private used = 0;

  /** Above this capacity the backing buffer is dropped on reset rather than reused. */
  private static readonly KEEP_CAPACITY = 1024 * 1024;

  get length(): number {
    return this.used;
  }

  append(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    const need = this.used + n;
    if (need > this.buf.length) {
      let cap = Math.max(this.buf.length * 2, 16 * 1024);
      while (cap < need) cap *= 2;
      const next = Buffer.allocUnsafe(cap);
      this.buf.copy(next, 0, 0, this.used);
      this.buf = next;
    }
    src.copy(this.buf, this.used, start, end);
    this.used = need;
  }

  /** The accumulated bytes; only valid until the next append/reset. */
  view(): Buffer {
    return this.buf.subarray(0, this.used);
  }

  reset(): void {
    this.used = 0;
    if (this.buf.length > ByteAccumulator.KEEP_CAPACITY) this.buf = Buffer.alloc(0);
  }
}

/** Name of a parsed JSON value's type, for error messages. */
export function jsonTypeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value; // 'string' | 'number' | 'boolean' ('object' never reaches here)
}

/** Caps a message's length without cutting a surrogate pair in half. */
export function truncateMessage(message: string, max = MAX_MESSAGE_LENGTH): string {
  if (message.length <= max) return message;
  let cut = max - 3;
  const c = message.charCodeAt(cut - 1);
  if (c >= 0xd800 && c <= 0xdbff) cut--;
  return `${message.slice(0, cut)}...`;
}

export function invalidJsonMessage(err: unknown): string {
  const reason = err instanceof Error ? err.message : String(err);
  return truncateMessage(`invalid JSON: ${reason}`);
}

export function errorEvent(position: number, message: string): ParseEvent {
  return { kind: 'error', position, message };
}

/** JSON.parse a record's text; anything but a plain object becomes an error event. */
export function eventFromText(raw: string, position: number): ParseEvent {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    return { kind: 'error', position, message: invalidJsonMessage(err) };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'error', position, message: `expected a JSON object, got ${jsonTypeName(value)}` };
  }
  return { kind: 'record', position, raw, value: value as Record<string, unknown> };
}

/** How much is known about a byte range's encoding before decoding it. */
export const UNCHECKED = 0; // nothing: validate it
export const VALID_UTF8 = 1; // valid UTF-8, maybe not ASCII
export const ASCII = 2; // only bytes below 0x80
export type Checked = typeof UNCHECKED | typeof VALID_UTF8 | typeof ASCII;

/** Whether buffer.transcode works here (it needs a Node built with ICU, as the official builds are). */
const canTranscode = ((): boolean => {
  try {
    return transcode(Buffer.from('\u00e9\u6f22\u{1f600}', 'utf8'), 'utf8', 'ucs2').toString('ucs2') === '\u00e9\u6f22\u{1f600}';
  } catch {
    return false;
  }
})();

/**
 * Decodes valid, non-ASCII UTF-8 to a string, as fast as Node 20 allows.
 * (ASCII is decoded as latin1 before it gets here: the cheapest path.)
 * - V8's UTF-8 decoder is quick up to the first non-ASCII byte and slow after
 *   it: about 1 ns a byte, 3.5 for CJK text (Node 20);
 * - once the records turn out to be dense in multi-byte characters (CJK and
 *   the like), ICU's converter (buffer.transcode to UTF-16) is used instead:
 *   about 1 ns a byte whatever the text.
 * The choice follows the last record decoded (files are rarely mixed), so
 * keep one decoder per parsed file. The result is the same string either way.
 */
export class Utf8Decoder {
  private dense = false;

  decodeNonAscii(buf: Buffer, start: number, end: number): string {
    const text =
      this.dense && canTranscode ? transcode(buf.subarray(start, end), 'utf8', 'ucs2').toString('ucs2') : buf.toString('utf8', start, end);
    // Share of the bytes that were continuation bytes of multi-byte characters
    // (surrogate pairs make it a slight underestimate for emoji; fine).
    this.dense = (end - start - text.length) / (end - start) > 0.1;
    return text;
  }
}

/**
 * buf[start..end) holds one record's exact bytes (already trimmed): checks
 * its encoding (as far as the caller has not already), decodes and parses.
 * Never throws.
 */
export function eventFromBytes(
  buf: Buffer,
  start: number,
  end: number,
  position: number,
  checked: Checked,
  decoder: Utf8Decoder,
): ParseEvent {
  let raw: string;
  if (checked === ASCII || isAscii(buf.subarray(start, end))) {
    raw = decodeAscii(buf, start, end);
  } else if (checked === UNCHECKED && !isUtf8(buf.subarray(start, end))) {
    return { kind: 'error', position, message: INVALID_UTF8_MESSAGE };
  } else {
    raw = decoder.decodeNonAscii(buf, start, end);
  }
  return eventFromText(raw, position);
}
