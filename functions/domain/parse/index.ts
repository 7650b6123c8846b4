import { parseJson } from './json.js';
import { parseJsonl } from './jsonl.js';
import type { StreamParser } from './types.js';

export type { ParseEvent, ParsedRecord, RecordError, StreamParser } from './types.js';
export { parseJson } from './json.js';
export { parseJsonl } from './jsonl.js';

/**
 * The parser for a file name, by extension (case-insensitive): `.jsonl` or
 * `.json`. Anything else, including no extension, gives null.
 */
export function parserFor(filename: string): StreamParser | null {
  const lower = filename.toLowerCase();
  if (lower.endsWith('.jsonl')) return parseJsonl;
  if (lower.endsWith('.json')) return parseJson;
  return null;
}
