/**
 * What the streaming parsers emit. Positions are 1-based: the line number in
 * JSONL (blank lines count as lines), the element number in a JSON array,
 * and 1 for a file holding a single JSON object.
 */
export interface ParsedRecord {
  kind: 'record';
  position: number;
  /** The record's exact source text (BOM and trailing CR removed). */
  raw: string;
  /** The parsed record: always a plain JSON object, never an array. */
  value: Record<string, unknown>;
}

export interface RecordError {
  kind: 'error';
  position: number;
  message: string;
}

export type ParseEvent = ParsedRecord | RecordError;

/**
 * A streaming parser reads raw bytes and yields what it found, a group of
 * events at a time (one group per input chunk keeps the per-record overhead
 * low). It never holds more than one record plus one chunk in memory.
 */
export type StreamParser = (chunks: AsyncIterable<Uint8Array>) => AsyncGenerator<ParseEvent[], void, undefined>;
