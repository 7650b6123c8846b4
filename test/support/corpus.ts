/**
 * The bad-input corpus: trace files that are broken, odd or extreme in every
 * way we could think of, each with the outcome the README documents for it
 * (docs/bad-input.md). test/integration/corpus.test.ts runs every file through
 * the presigned upload and the drop folder on a real local stack.
 *
 * What "the record's text" (`raw`) is, exactly: the bytes of one JSONL line
 * (without its LF), or of one element of a JSON array (or the single object of
 * a .json file), decoded as UTF-8, with the file's leading UTF-8 BOM dropped and
 * the surrounding whitespace trimmed (JSONL: spaces, tabs and CRs; JSON: JSON
 * whitespace). Nothing else is changed: escapes, inner whitespace and newlines,
 * duplicate keys, number spellings (`1e-400`, `-0`, 30-digit integers) stay as
 * they are. That text is the trace's id input (with its position) and is what
 * `GET .../traces/{id}` answers as `data`, character for character.
 */
import { Buffer } from 'node:buffer';
import { gzipSync } from 'node:zlib';
import { MAX_FILE_BYTES } from '../../functions/domain/limits.js';
import { incompressibleText } from './prng.js';

/**
 * What ingesting the stored object gives, whichever path stored it:
 * - completed: at least one good record; create answers 200 with the trace ids and the per-line errors;
 * - no-valid-records: the upload completes with no trace; create answers 422 `no_valid_records` with the errors;
 * - refused: nothing is read; the upload record is `failed` with a reason; create answers 422 `upload_failed`.
 */
export type Outcome = 'completed' | 'no-valid-records' | 'refused';

export interface ExpectedRecord {
  /** 1-based line number (JSONL) or element number (JSON). */
  position: number;
  /** The record's exact text (see the top of this file). */
  raw: string;
  /** The trace's `input`, where the file is about it. */
  input?: string | null;
  /** The trace's `integration_id`, where the file is about it. */
  integrationId?: string | null;
  /** The record's own `source`; absent: the path's default (`upload` or `s3`). */
  source?: string;
}

export interface ExpectedError {
  line: number;
  message: RegExp;
}

export interface CorpusFile {
  /** Unique, short, for test names. */
  name: string;
  /** The row of docs/bad-input.md it illustrates. */
  kind: string;
  filename: string;
  bytes: Buffer;
  outcome: Outcome;
  /** The good records, in file order. */
  records: ExpectedRecord[];
  /** The errors as reported: in file order, at most the first 100. */
  errors: ExpectedError[];
  /** All bad records (more than errors.length when over 100). */
  errorCount: number;
  /** refused: why (the upload record's reason, create's message). */
  reason?: RegExp;
  /**
   * The presign call refuses the file (400, message of the `error`), so a client never uploads it.
   * With putAnywaySize, the test PUTs the bytes anyway through a URL presigned for that size (the
   * local S3 does not enforce the signed length) and create gives `outcome`.
   */
  presignRefusal?: { message: RegExp; putAnywaySize?: number };
  /** Create refuses the file name itself (400), as presign does. */
  createRefusesName?: boolean;
  /**
   * The local S3 stand-in cannot keep the key (s3rver stores each key segment as a file name, at
   * most 255 bytes with its suffix): its PUT answers 400 KeyTooLongError and nothing is stored.
   * S3 itself takes keys up to 1,024 bytes.
   */
  localStoreRefuses?: boolean;
  /** One line: what happens, for people. */
  note: string;
}

// ---------------------------------------------------------------------------
// Error messages, as documented
// ---------------------------------------------------------------------------

export const INVALID_JSON = /^invalid JSON: .+/;
export const INVALID_UTF8 = /^invalid UTF-8$/;
export const NO_RECORDS = /^the file contains no records$/;
export const UNEXPECTED_EOF = /^unexpected end of file$/;
export const TRAILING_DATA = /^unexpected data after the end of the JSON document$/;
export const EMPTY_ELEMENT = /^invalid JSON: empty array element$/;
export const NOT_A_DOCUMENT = /^expected a JSON object or an array of objects$/;
export const notAnObject = (type: 'number' | 'string' | 'array' | 'null' | 'boolean') =>
  new RegExp(`^expected a JSON object, got ${type}$`);
/** Any per-record error at all (for bytes that are not text, such as gzip). */
export const ANY_RECORD_ERROR = /^(invalid UTF-8|invalid JSON: .+|expected a JSON object, got \w+)$/;

// ---------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------

type Good = { good: string; pad?: [string, string] } & Omit<ExpectedRecord, 'position' | 'raw'>;
type Bad = { bad: string | Buffer; message: RegExp };
type Blank = { blank: string };
type Line = Good | Bad | Blank;

const bytesOf = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s);

/**
 * A JSONL file from its lines: the good ones (with what their traces must be), the bad ones (with
 * their error) and blank ones. `eol` separates lines (a function: per line index); the last line
 * has one too unless `finalEol` is false.
 */
function jsonl(
  lines: Line[],
  options: { eol?: string | ((index: number) => string); bom?: boolean; finalEol?: boolean } = {},
): Pick<CorpusFile, 'bytes' | 'records' | 'errors' | 'errorCount' | 'outcome'> {
  const eolOf = typeof options.eol === 'function' ? options.eol : () => (options.eol as string | undefined) ?? '\n';
  const parts: Buffer[] = options.bom ? [Buffer.from([0xef, 0xbb, 0xbf])] : [];
  const records: ExpectedRecord[] = [];
  const errors: ExpectedError[] = [];
  lines.forEach((line, i) => {
    const position = i + 1;
    if ('good' in line) {
      const { good, pad, ...rest } = line;
      parts.push(Buffer.from(`${pad?.[0] ?? ''}${good}${pad?.[1] ?? ''}`, 'utf8'));
      records.push({ position, raw: good, ...rest });
    } else if ('bad' in line) {
      parts.push(bytesOf(line.bad));
      errors.push({ line: position, message: line.message });
    } else {
      parts.push(Buffer.from(line.blank, 'utf8'));
    }
    if (i < lines.length - 1 || options.finalEol !== false) parts.push(Buffer.from(eolOf(i), 'utf8'));
  });
  return { bytes: Buffer.concat(parts), records, errors: errors.slice(0, 100), errorCount: errors.length, outcome: outcomeOf(records) };
}

function outcomeOf(records: unknown[]): Outcome {
  return records.length > 0 ? 'completed' : 'no-valid-records';
}

/** A file whose expectations are written out by hand (JSON files, mostly). */
function file(
  bytes: string | Buffer,
  records: ExpectedRecord[],
  errors: ExpectedError[],
): Pick<CorpusFile, 'bytes' | 'records' | 'errors' | 'errorCount' | 'outcome'> {
  return { bytes: bytesOf(bytes), records, errors, errorCount: errors.length, outcome: outcomeOf(records) };
}

const noRecords = (bytes: string | Buffer) => file(bytes, [], [{ line: 1, message: NO_RECORDS }]);

/** Two good lines and a bad one: the body of the odd-filename files (the name is what they test). */
const plainBody = (tag: string) =>
  jsonl([
    { good: `{"input":"${tag} 1"}`, input: `${tag} 1` },
    { bad: 'not json', message: INVALID_JSON },
    { good: `{"input":"${tag} 2"}`, input: `${tag} 2` },
  ]);

const deepArrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

function nestedObjects(depth: number): string {
  let s = '{"leaf":true}';
  for (let i = depth - 1; i >= 0; i--) s = `{"level${i}":${s}}`;
  return s;
}

function nestedMixed(depth: number): string {
  let s = '"bottom"';
  for (let i = depth - 1; i >= 0; i--) s = i % 2 === 0 ? `{"o${i}":${s}}` : `[${i},${s}]`;
  return s;
}

/** A gzip of a small JSONL file: bytes that are not text. */
function gzipBytes(): Buffer {
  let text = '';
  for (let i = 0; i < 30; i++) text += `${JSON.stringify({ input: `compressed question ${i}`, output: `answer ${i}`, tokens: i * 17 })}\n`;
  return gzipSync(Buffer.from(text), { level: 9 });
}

/**
 * What the JSONL reader makes of arbitrary bytes: one error per non-blank LF-separated line
 * (spaces, tabs and CRs trimmed). Used for the gzip file only, whose bytes we do not pick.
 */
function everyLineAnError(bytes: Buffer): ExpectedError[] {
  const errors: ExpectedError[] = [];
  let line = 0;
  let start = 0;
  for (;;) {
    const nl = bytes.indexOf(0x0a, start);
    const end = nl === -1 ? bytes.length : nl;
    line++;
    const text = bytes
      .subarray(start, end)
      .toString('latin1')
      .replace(/^[ \t\r]+|[ \t\r]+$/g, '');
    if (text !== '') {
      // Make sure no line of it happens to be a JSON object (it would be a record, not an error).
      let isObject = false;
      try {
        const v: unknown = JSON.parse(bytes.subarray(start, end).toString('utf8'));
        isObject = typeof v === 'object' && v !== null && !Array.isArray(v);
      } catch {
        // an error, as expected
      }
      if (isObject) throw new Error(`gzip corpus file: line ${line} is a JSON object; pick other content`);
      errors.push({ line, message: ANY_RECORD_ERROR });
    }
    if (nl === -1) break;
    start = nl + 1;
  }
  return errors;
}

let fiftyMiB: { exact: Buffer; over: Buffer } | undefined;

/**
 * One buffer of 50 MiB + 1 byte, made once: its first 52,428,800 bytes are a file of exactly
 * the limit (a record, one line of spaces, a record); the whole is one byte over it.
 */
export function fiftyMiBFiles(): { exact: Buffer; over: Buffer; first: string; last: string } {
  const first = '{"input":"first record of a file of exactly 50 MiB"}';
  const last = '{"input":"last record of a file of exactly 50 MiB"}';
  if (!fiftyMiB) {
    const over = Buffer.alloc(MAX_FILE_BYTES + 1, 0x20);
    over.write(`${first}\n`, 0, 'utf8');
    const tail = `\n${last}\n`;
    over.write(tail, MAX_FILE_BYTES - Buffer.byteLength(tail), 'utf8');
    over[MAX_FILE_BYTES] = 0x0a;
    fiftyMiB = { exact: over.subarray(0, MAX_FILE_BYTES), over };
  }
  return { ...fiftyMiB, first, last };
}

// ---------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------

const B = (...bytes: number[]) => Buffer.from(bytes);
const cat = (...parts: Array<string | Buffer>) => Buffer.concat(parts.map(bytesOf));

let built: CorpusFile[] | undefined;

/** Every corpus file (built once per process; the 50 MiB ones share one buffer). */
export function corpus(): CorpusFile[] {
  built ??= buildCorpus();
  return built;
}

function buildCorpus(): CorpusFile[] {
  const files: CorpusFile[] = [];
  const add = (f: CorpusFile) => {
    if (files.some((g) => g.name === f.name || g.filename === f.filename)) throw new Error(`duplicate corpus entry ${f.name}`);
    files.push(f);
  };

  // --- Truncated -----------------------------------------------------------
  add({
    name: 'truncated-last-line',
    kind: 'truncated',
    filename: 'truncated-last-line.jsonl',
    note: 'the cut line is invalid JSON; the lines before it are traces',
    ...jsonl(
      [
        { good: '{"input":"q1","output":"a1"}', input: 'q1' },
        { good: '{"input":"q2","output":"a2"}', input: 'q2' },
        { bad: '{"input":"q3","outp', message: INVALID_JSON },
      ],
      { finalEol: false },
    ),
  });
  add({
    name: 'truncated-mid-utf8',
    kind: 'truncated',
    filename: 'truncated-mid-utf8.jsonl',
    note: 'a last line cut inside a multi-byte character is invalid UTF-8',
    ...jsonl(
      [
        { good: '{"input":"日本"}', input: '日本' },
        { bad: cat('{"input":"', Buffer.from('日').subarray(0, 1)), message: INVALID_UTF8 },
      ],
      { finalEol: false },
    ),
  });
  add({
    name: 'truncated-array',
    kind: 'truncated',
    filename: 'truncated-array.json',
    note: 'a JSON array cut mid-element: the whole elements are traces, the cut one is "unexpected end of file"',
    ...file(
      '[\n  {"input":"a","n":[1,2]},\n  {"input":"b"},\n  {"input":"c","nested":{"x":[1,2',
      [
        { position: 1, raw: '{"input":"a","n":[1,2]}', input: 'a' },
        { position: 2, raw: '{"input":"b"}', input: 'b' },
      ],
      [{ line: 3, message: UNEXPECTED_EOF }],
    ),
  });
  add({
    name: 'truncated-array-after-element',
    kind: 'truncated',
    filename: 'truncated-array-after-element.json',
    note: 'an array cut after a whole element: the element is a trace, the missing end an error',
    ...file('[{"input":"a"}', [{ position: 1, raw: '{"input":"a"}', input: 'a' }], [{ line: 2, message: UNEXPECTED_EOF }]),
  });
  add({
    name: 'truncated-object',
    kind: 'truncated',
    filename: 'truncated-object.json',
    note: 'a single object cut short: no record',
    ...file('{"input":"a","b":', [], [{ line: 1, message: UNEXPECTED_EOF }]),
  });

  // --- Not objects ---------------------------------------------------------
  add({
    name: 'non-object-lines',
    kind: 'not an object',
    filename: 'non-object-lines.jsonl',
    note: 'numbers, strings, arrays, null, true and false are each "expected a JSON object, got <type>"',
    ...jsonl([
      { bad: '42', message: notAnObject('number') },
      { bad: '-1.5e3', message: notAnObject('number') },
      { bad: '"a string"', message: notAnObject('string') },
      { bad: '[1,2]', message: notAnObject('array') },
      { bad: '[{"input":"an object in an array"}]', message: notAnObject('array') },
      { bad: 'null', message: notAnObject('null') },
      { bad: 'true', message: notAnObject('boolean') },
      { bad: 'false', message: notAnObject('boolean') },
      { good: '{"input":"the only object"}', input: 'the only object' },
    ]),
  });
  add({
    name: 'only-non-objects',
    kind: 'not an object',
    filename: 'only-non-objects.jsonl',
    note: 'no object at all: no record',
    ...jsonl([
      { bad: '1', message: notAnObject('number') },
      { bad: '"x"', message: notAnObject('string') },
      { bad: 'null', message: notAnObject('null') },
    ]),
  });
  add({
    name: 'array-with-non-objects',
    kind: 'not an object',
    filename: 'array-with-non-objects.json',
    note: 'array elements that are not objects are errors at their element number',
    ...file(
      '[1, "a", null, [], {"input":"x"}, true, [{"input":"nested"}]]',
      [{ position: 5, raw: '{"input":"x"}', input: 'x' }],
      [
        { line: 1, message: notAnObject('number') },
        { line: 2, message: notAnObject('string') },
        { line: 3, message: notAnObject('null') },
        { line: 4, message: notAnObject('array') },
        { line: 6, message: notAnObject('boolean') },
        { line: 7, message: notAnObject('array') },
      ],
    ),
  });
  add({
    name: 'top-level-scalar',
    kind: 'not an object',
    filename: 'top-level-scalar.json',
    note: 'a .json file that is neither an object nor an array: no record',
    ...file('42', [], [{ line: 1, message: NOT_A_DOCUMENT }]),
  });

  // --- Line ends and BOM ---------------------------------------------------
  add({
    name: 'bom-jsonl',
    kind: 'BOM',
    filename: 'bom.jsonl',
    note: 'a leading UTF-8 BOM is skipped; it is not part of the first record',
    ...jsonl([{ good: '{"input":"after the BOM"}', input: 'after the BOM' }, { good: '{"input":"second"}' }], { bom: true }),
  });
  add({
    name: 'bom-json',
    kind: 'BOM',
    filename: 'bom.json',
    note: 'a leading UTF-8 BOM is skipped in .json too',
    ...file(
      cat(B(0xef, 0xbb, 0xbf), '[{"input":"a"},{"input":"b"}]'),
      [
        { position: 1, raw: '{"input":"a"}', input: 'a' },
        { position: 2, raw: '{"input":"b"}', input: 'b' },
      ],
      [],
    ),
  });
  add({
    name: 'bom-mid-file',
    kind: 'BOM',
    filename: 'bom-mid-file.jsonl',
    note: 'a BOM anywhere but the start of the file is a character like any other: invalid JSON',
    ...jsonl([{ good: '{"input":"a"}' }, { bad: '\uFEFF{"input":"b"}', message: INVALID_JSON }, { good: '{"input":"c"}' }]),
  });
  add({
    name: 'crlf',
    kind: 'line ends',
    filename: 'crlf.jsonl',
    note: 'CRLF line ends: the CR is not part of the record',
    ...jsonl([{ good: '{"input":"one"}', input: 'one' }, { good: '{"input":"two"}' }, { blank: '' }, { good: '{"input":"four"}' }], {
      eol: '\r\n',
    }),
  });
  add({
    name: 'mixed-eol',
    kind: 'line ends',
    filename: 'mixed-eol.jsonl',
    note: 'LF and CRLF mixed; a CR between tokens is JSON whitespace and stays in the text',
    ...jsonl(
      [
        { good: '{"input":"lf"}' },
        { good: '{"input":"crlf"}' },
        { blank: '' },
        { good: '{"input":"cr inside",\r"b":1}', input: 'cr inside' },
        { bad: '{"input":"raw CR \r in a string"}', message: INVALID_JSON },
        { bad: '{"input":"x"', message: INVALID_JSON },
        { good: '{"input":"last"}' },
      ],
      { eol: (i) => (i % 2 === 0 ? '\n' : '\r\n') },
    ),
  });
  add({
    name: 'cr-only',
    kind: 'line ends',
    filename: 'cr-only.jsonl',
    note: 'a bare CR does not end a line: the whole file is one line, invalid JSON',
    ...jsonl([{ bad: '{"input":"a"}\r{"input":"b"}', message: INVALID_JSON }], { eol: '\r' }),
  });

  // --- Encoding ------------------------------------------------------------
  add({
    name: 'invalid-utf8',
    kind: 'invalid UTF-8',
    filename: 'invalid-utf8.jsonl',
    note: 'a line with bytes that are not UTF-8 (Latin-1, overlong, truncated, out of range) is "invalid UTF-8"; valid multi-byte text is fine',
    ...jsonl([
      { good: '{"input":"café 日本 😀"}', input: 'café 日本 😀' },
      { bad: cat('{"input":"caf', B(0xe9), '"}'), message: INVALID_UTF8 },
      { bad: cat('{"input":"', B(0xc0, 0xaf), '"}'), message: INVALID_UTF8 },
      { bad: cat('{"input":"', B(0xff), '"}'), message: INVALID_UTF8 },
      { bad: cat('{"input":"', B(0xe6, 0x97), '"}'), message: INVALID_UTF8 },
      { bad: cat('{"input":"', B(0x80), '"}'), message: INVALID_UTF8 },
      { bad: cat('{"input":"', B(0xf8, 0x88, 0x80, 0x80, 0x80), '"}'), message: INVALID_UTF8 },
      { bad: cat('{"input":"', B(0xf4, 0x90, 0x80, 0x80), '"}'), message: INVALID_UTF8 },
      { good: '{"input":"ok"}', input: 'ok' },
    ]),
  });
  add({
    name: 'nul-bytes',
    kind: 'NUL bytes',
    filename: 'nul-bytes.jsonl',
    note: 'a raw NUL byte anywhere is invalid JSON; the escape \\u0000 is a good record',
    ...jsonl([
      { bad: '{"input":"a\0b"}', message: INVALID_JSON },
      { bad: '{"input":"x"}\0', message: INVALID_JSON },
      { bad: '\0\0\0', message: INVALID_JSON },
      { good: '{"input":"nul \\u0000 escaped","k\\u0000ey":"\\u0000"}', input: 'nul \u0000 escaped' },
      { bad: '\0{"input":"x"}', message: INVALID_JSON },
    ]),
  });
  add({
    name: 'lone-surrogate-bytes',
    kind: 'lone surrogates',
    filename: 'lone-surrogate-bytes.jsonl',
    note: 'UTF-8-encoded surrogates (ED A0 80, ED B0 80, CESU-8 pairs) are invalid UTF-8',
    ...jsonl([
      { good: '{"input":"before"}' },
      { bad: cat('{"input":"', B(0xed, 0xa0, 0x80), '"}'), message: INVALID_UTF8 },
      { bad: cat('{"input":"', B(0xed, 0xb0, 0x80), '"}'), message: INVALID_UTF8 },
      { bad: cat('{"input":"', B(0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80), '"}'), message: INVALID_UTF8 },
      { good: '{"input":"real emoji 😀"}', input: 'real emoji 😀' },
    ]),
  });
  add({
    name: 'lone-surrogate-escapes',
    kind: 'lone surrogates',
    filename: 'lone-surrogate-escapes.jsonl',
    note: 'escaped lone surrogates ("\\ud800") are valid JSON: stored verbatim; input, source and integration_id show U+FFFD instead',
    ...jsonl([
      { good: '{"input":"\\ud800"}', input: '\uFFFD' },
      {
        good: '{"input":"tail \\udc00","source":"\\ud800src","integration_id":"\\udfff"}',
        input: 'tail \uFFFD',
        source: '\uFFFDsrc',
        integrationId: '\uFFFD',
      },
      { good: '{"pair":"\\ud83d\\ude00","reversed":"\\ude00\\ud83d"}', input: null },
      { good: '{"\\ud800":"a lone surrogate key"}', input: null },
      { good: '{"trace_id":"corpus-surrogate-\\ud800","trace_name":"a span with a lone surrogate"}', input: null },
    ]),
  });
  add({
    name: 'unicode-escapes',
    kind: 'unicode escapes',
    filename: 'unicode-escapes.jsonl',
    note: 'valid escapes are kept as written (and decoded in input); invalid escapes are invalid JSON',
    ...jsonl([
      { good: '{"input":"\\u00e9\\u65e5\\u672c \\ud83d\\ude00","esc":"\\\\ \\" \\/ \\b \\f \\n \\r \\t"}', input: 'é日本 😀' },
      { good: '{"input":"line1\\nline2\\u2028\\u2029"}', input: 'line1\nline2\u2028\u2029' },
      { good: '{"input":"raw\u2028separator\u2029chars"}', input: 'raw\u2028separator\u2029chars' },
      { good: '{"\\u0069nput":"an escaped key"}', input: 'an escaped key' },
      { bad: '{"input":"\\x41"}', message: INVALID_JSON },
      { bad: '{"input":"\\u12"}', message: INVALID_JSON },
      { bad: '{"input":"\\U0041"}', message: INVALID_JSON },
    ]),
  });

  // --- Empty and blank -----------------------------------------------------
  add({
    name: 'empty-jsonl',
    kind: 'empty',
    filename: 'empty.jsonl',
    note: '0 bytes: presign refuses size 0; stored anyway, it has no record',
    ...noRecords(''),
    presignRefusal: { message: /^size: must be at least 1 byte/, putAnywaySize: 1 },
  });
  add({
    name: 'empty-json',
    kind: 'empty',
    filename: 'empty.json',
    note: '0 bytes (.json): the same',
    ...noRecords(''),
    presignRefusal: { message: /^size: must be at least 1 byte/, putAnywaySize: 1 },
  });
  add({
    name: 'whitespace-only-jsonl',
    kind: 'blank',
    filename: 'whitespace-only.jsonl',
    note: 'only blank lines: no record',
    ...noRecords('   \n\t\t\n\r\n\n  \r\n'),
  });
  add({
    name: 'whitespace-only-json',
    kind: 'blank',
    filename: 'whitespace-only.json',
    note: 'only whitespace: no record',
    ...noRecords(' \n\t\r\n '),
  });
  add({
    name: 'bom-only',
    kind: 'blank',
    filename: 'bom-only.jsonl',
    note: 'a BOM and nothing else: no record',
    ...noRecords(B(0xef, 0xbb, 0xbf)),
  });
  add({ name: 'empty-array', kind: 'blank', filename: 'empty-array.json', note: '`[ ]`: no record', ...noRecords('[ ]') });
  add({
    name: 'blank-and-spaced-lines',
    kind: 'blank',
    filename: 'blank-and-spaced-lines.jsonl',
    note: 'blank and whitespace-only lines are skipped but counted; whitespace around a record is trimmed, inside it kept; `{}` is a record',
    ...jsonl(
      [
        { blank: '' },
        { good: '{}', input: null },
        { blank: '   \t  ' },
        { good: '{ "input" : "spaced" , "list" : [ 1 , 2 ] }', input: 'spaced' },
        { good: '{"input":"padded"}', pad: ['  \t', '\t  '], input: 'padded' },
        { good: '{\t"input":\t"tabs inside"\t}', input: 'tabs inside' },
        { blank: '\t' },
        { good: '{"input":"no final newline"}' },
      ],
      { finalEol: false },
    ),
  });
  add({
    name: 'whitespace-lookalikes',
    kind: 'blank',
    filename: 'whitespace-lookalikes.jsonl',
    note: 'vertical tab, form feed, NBSP and U+2028 are not JSON whitespace: such lines are invalid JSON, not blank',
    ...jsonl([
      { bad: '\v', message: INVALID_JSON },
      { bad: '\f', message: INVALID_JSON },
      { bad: '\u00a0', message: INVALID_JSON },
      { bad: '\u00a0{"input":"x"}', message: INVALID_JSON },
      { bad: '\u2028', message: INVALID_JSON },
      { good: '{"input":"after the lookalikes"}' },
      { bad: '{"input":"x"}\f', message: INVALID_JSON },
    ]),
  });

  // --- Wrong format --------------------------------------------------------
  const gz = gzipBytes();
  const gzErrors = everyLineAnError(gz);
  add({
    name: 'gzip-jsonl',
    kind: 'wrong format',
    filename: 'compressed.jsonl',
    note: 'gzip bytes under a .jsonl name: every line is an error (nothing is decompressed); no record',
    bytes: gz,
    records: [],
    errors: gzErrors.slice(0, 100),
    errorCount: gzErrors.length,
    outcome: 'no-valid-records',
  });
  add({
    name: 'gzip-json',
    kind: 'wrong format',
    filename: 'compressed.json',
    note: 'gzip bytes under a .json name: not a document',
    ...file(gz, [], [{ line: 1, message: NOT_A_DOCUMENT }]),
  });
  add({
    name: 'json-holding-jsonl',
    kind: 'wrong format',
    filename: 'jsonl-inside.json',
    note: 'JSONL in a .json file: the first object is the document, the rest is trailing data (one error)',
    ...file(
      '{"input":"first line"}\n{"input":"second line"}\n{"input":"third"}\n',
      [{ position: 1, raw: '{"input":"first line"}', input: 'first line' }],
      [{ line: 2, message: TRAILING_DATA }],
    ),
  });
  add({
    name: 'jsonl-holding-pretty-json',
    kind: 'wrong format',
    filename: 'pretty-array.jsonl',
    note: 'a pretty-printed JSON array in a .jsonl file: each line on its own; a line that happens to be a whole object is a record',
    ...jsonl([
      { bad: '[', message: INVALID_JSON },
      { bad: '  {"input":"a"},', message: INVALID_JSON },
      { good: '{"input":"b"}', pad: ['  ', ''], input: 'b' },
      { bad: ']', message: INVALID_JSON },
    ]),
  });
  add({
    name: 'unsupported-type',
    kind: 'wrong format',
    filename: 'notes.txt',
    note: 'not .json/.jsonl: presign and create refuse the name; dropped, the upload fails with the reason',
    ...file('{"input":"x"}\n', [], []),
    outcome: 'refused',
    reason: /^unsupported file type: "notes\.txt" must end in \.json or \.jsonl$/,
    presignRefusal: { message: /^filename: must end in \.json or \.jsonl/ },
    createRefusesName: true,
  });

  // --- Big, long, deep -----------------------------------------------------
  const big3 = JSON.stringify({ input: 'a 3 MB record', blob: incompressibleText(3 * 1024 * 1024) });
  add({
    name: 'record-3mb',
    kind: 'big records',
    filename: 'record-3mb.jsonl',
    note: 'a 3 MB record is kept whole (its document in S3, pointed to from the item)',
    ...jsonl([{ good: big3, input: 'a 3 MB record' }, { good: '{"input":"small"}' }]),
  });
  const el = [
    JSON.stringify({ input: 'a 400 KB string', blob: 'y'.repeat(400_000) }),
    JSON.stringify({ input: '日'.repeat(110_000) }),
    JSON.stringify({ input: 'just under the item budget', blob: 'z'.repeat(290_000) }),
    JSON.stringify({ input: 'é'.repeat(100_000) }),
  ];
  add({
    name: 'huge-strings',
    kind: 'big records',
    filename: 'huge-strings.json',
    note: 'records with huge string values, above and just under the 300 KiB item budget (counted in UTF-8 bytes, input included): all whole',
    ...file(
      `[\n${el.join(',\n')}\n]`,
      [
        { position: 1, raw: el[0]!, input: 'a 400 KB string' },
        { position: 2, raw: el[1]!, input: '日'.repeat(110_000) },
        { position: 3, raw: el[2]!, input: 'just under the item budget' },
        { position: 4, raw: el[3]!, input: 'é'.repeat(100_000) },
      ],
      [],
    ),
  });
  const manyKeys: string[] = [];
  for (let i = 0; i < 60_000; i++) manyKeys.push(`"key_${String(i).padStart(6, '0')}":${i}`);
  const longLine = `{"input":"a 1 MB line",${manyKeys.join(',')}}`;
  add({
    name: 'long-good-line',
    kind: 'big records',
    filename: 'long-line.jsonl',
    note: 'a 1.2 MB line of 60,000 keys: one record, whole',
    ...jsonl([{ good: longLine, input: 'a 1 MB line' }, { good: '{"input":"after the long line"}' }]),
  });
  const bigId = JSON.stringify({ input: 'a 210 KB integration_id', integration_id: 'i'.repeat(210_000) });
  add({
    name: 'huge-integration-id',
    kind: 'big records',
    filename: 'huge-integration-id.jsonl',
    note: 'an integration_id or source over 256 characters is not used (null, the default source); the record is stored whole',
    ...jsonl([
      { good: bigId, input: 'a 210 KB integration_id', integrationId: null },
      { good: JSON.stringify({ input: 'a 1,000-character source', source: 's'.repeat(1000) }) },
      { good: '{"input":"ok","integration_id":"int-1","source":"sdk"}', integrationId: 'int-1', source: 'sdk' },
      { good: JSON.stringify({ integration_id: 'j'.repeat(256) }), integrationId: 'j'.repeat(256) },
      { good: JSON.stringify({ integration_id: 'k'.repeat(257) }), integrationId: null },
    ]),
  });
  add({
    name: 'attribute-name-70kb',
    kind: 'big records',
    filename: 'attribute-name-70kb.jsonl',
    note: "keys of 70 KB (past DynamoDB's 64 KB attribute names): the document is text, so they are fine",
    ...jsonl([
      { good: JSON.stringify({ input: 'a long key', ['k'.repeat(70_000)]: 'value' }), input: 'a long key' },
      { good: JSON.stringify({ ['日'.repeat(24_000)]: 1 }) },
    ]),
  });
  add({
    name: 'nesting-40',
    kind: 'deep nesting',
    filename: 'nesting-40.jsonl',
    note: "40 levels of objects, of arrays, and of both (past DynamoDB's 32): fine",
    ...jsonl([
      { good: `{"input":"40 levels","nested":${nestedObjects(40)}}`, input: '40 levels' },
      { good: `{"arrays":${'['.repeat(40)}"bottom"${']'.repeat(40)}}` },
      { good: `{"mixed":${nestedMixed(40)}}` },
    ]),
  });
  add({
    name: 'deep-input-10k',
    kind: 'deep nesting',
    filename: 'deep-input.jsonl',
    note: 'an input nested 10,000 levels deep (deeper than JSON.stringify goes) is rendered anyway',
    ...jsonl([
      { good: `{"input":${deepArrays(10_000)}}`, input: deepArrays(10_000) },
      { good: '{"input":"after the deep one"}', input: 'after the deep one' },
      { good: `{"messages":[{"role":"user","content":{"deep":${deepArrays(10_000)}}}]}`, input: `user: {"deep":${deepArrays(10_000)}}` },
    ]),
  });
  const deepBig = `{"input":"deep and big","deep":${deepArrays(10_000)},"blob":"${'b'.repeat(320_000)}"}`;
  add({
    name: 'deep-100k',
    kind: 'deep nesting',
    filename: 'deep-100k.json',
    note: 'array elements nested 100,000 levels deep, one of them also offloaded to S3: stored and served verbatim',
    ...file(
      `[{"input":"100k deep","deep":${deepArrays(100_000)}},\n{"input":"next"},\n${deepBig}]`,
      [
        { position: 1, raw: `{"input":"100k deep","deep":${deepArrays(100_000)}}`, input: '100k deep' },
        { position: 2, raw: '{"input":"next"}', input: 'next' },
        { position: 3, raw: deepBig, input: 'deep and big' },
      ],
      [],
    ),
  });
  add({
    name: 'deep-span',
    kind: 'deep nesting',
    filename: 'deep-span.jsonl',
    note: 'a span record (string trace_id) nested 10,000 levels deep: a trace, not a span; the other records are unaffected',
    ...jsonl([
      { good: `{"trace_id":"corpus-deep-span","trace_name":"deep","x":${deepArrays(10_000)}}` },
      { good: '{"trace_id":"corpus-flat-span","trace_name":"flat","input":"a span"}', input: 'a span' },
    ]),
  });

  // --- Keys and values -----------------------------------------------------
  add({
    name: 'proto-constructor-keys',
    kind: 'odd keys',
    filename: 'proto-keys.jsonl',
    note: '`__proto__`, `constructor` and other Object.prototype names are ordinary keys: stored verbatim, nothing polluted',
    ...jsonl([
      {
        good: '{"__proto__":{"input":"from proto","integration_id":"evil","polluted":true},"input":"own input"}',
        input: 'own input',
        integrationId: null,
      },
      {
        good: '{"constructor":{"prototype":{"polluted":true}},"toString":"not a function","hasOwnProperty":1,"valueOf":null}',
        input: null,
      },
      { good: '{"__proto__":"string proto","input":{"__proto__":{"x":1}}}', input: '{"__proto__":{"x":1}}' },
      { good: '{"__proto__":null,"source":"proto-null"}', source: 'proto-null' },
    ]),
  });
  add({
    name: 'extreme-numbers',
    kind: 'numbers',
    filename: 'extreme-numbers.jsonl',
    note: 'numbers are kept as written (1e-400, -0, 30 digits, 1E400); a rendered input shows the parsed double; NaN, Infinity, 01, 1., +1, 0x10 are invalid JSON',
    ...jsonl([
      {
        good:
          '{"input":"numbers","max":1e308,"min":-1e308,"tiny":1e-400,"big":123456789012345678901234567890,"negzero":-0,' +
          '"pi":3.14159265358979323846264338327950288419716939937510582097494459,"overflow":1E400,"negoverflow":-1e999,' +
          '"maxsafe_plus_2":9007199254740993,"frac":0.1000000000000000055511151231257827021181583404541015625,"e":1.5E-10}',
        input: 'numbers',
      },
      { good: '{"input":123456789012345678901234567890}', input: '1.2345678901234568e+29' },
      { good: '{"input":-0}', input: '0' },
      { good: '{"input":1e400}', input: 'null' },
      { bad: '{"n":NaN}', message: INVALID_JSON },
      { bad: '{"n":Infinity}', message: INVALID_JSON },
      { bad: '{"n":01}', message: INVALID_JSON },
      { bad: '{"n":1.}', message: INVALID_JSON },
      { bad: '{"n":+1}', message: INVALID_JSON },
      { bad: '{"n":0x10}', message: INVALID_JSON },
    ]),
  });
  add({
    name: 'duplicate-keys',
    kind: 'odd keys',
    filename: 'duplicate-keys.jsonl',
    note: 'duplicate keys are kept in the text; the derived fields take the last one, as JSON.parse does',
    ...jsonl([
      { good: '{"input":"first","input":"second","a":1,"a":{"b":2}}', input: 'second' },
      { good: '{"integration_id":"one","integration_id":"two","source":"x","source":"y"}', integrationId: 'two', source: 'y' },
      { good: '{"input":null,"input":"non-null after null"}', input: 'non-null after null' },
    ]),
  });
  add({
    name: 'trailing-garbage-jsonl',
    kind: 'trailing data',
    filename: 'trailing-garbage.jsonl',
    note: 'anything after the object on its line makes the line invalid JSON',
    ...jsonl([
      { bad: '{"input":"a"} x', message: INVALID_JSON },
      { bad: '{"input":"a"}{"input":"b"}', message: INVALID_JSON },
      { bad: '{"input":"a"},', message: INVALID_JSON },
      { bad: '{"input":"a"}}', message: INVALID_JSON },
      { good: '{"input":"clean"}' },
      { bad: '{"input":"a"} // comment', message: INVALID_JSON },
      { bad: '{"input":"a",}', message: INVALID_JSON },
    ]),
  });
  add({
    name: 'trailing-garbage-json',
    kind: 'trailing data',
    filename: 'trailing-garbage.json',
    note: 'data after a .json document: the document is a trace, the rest one error',
    ...file(
      '{"input":"the document"} and then some',
      [{ position: 1, raw: '{"input":"the document"}', input: 'the document' }],
      [{ line: 2, message: TRAILING_DATA }],
    ),
  });
  add({
    name: 'trailing-garbage-array',
    kind: 'trailing data',
    filename: 'trailing-garbage-array.json',
    note: 'data after the closing bracket of an array: its elements are traces, the rest one error',
    ...file(
      '[{"input":"a"},{"input":"b"}]\n]',
      [
        { position: 1, raw: '{"input":"a"}' },
        { position: 2, raw: '{"input":"b"}' },
      ],
      [{ line: 3, message: TRAILING_DATA }],
    ),
  });
  const pretty4 = '{\n    "input": "multi-line element",\n    "nested": {"a": [1, 2, 3]}\n  }';
  add({
    name: 'array-of-objects',
    kind: 'JSON documents',
    filename: 'array-of-objects.json',
    note: "an array of objects, pretty-printed, with brackets, commas and escapes inside strings: one trace per element, each element's text verbatim",
    ...file(
      `[\n  {"input": "brackets ] } [ { in a string", "x": [1, {"y": "]"}]},\n  {"input": "escaped \\" quote and backslash \\\\", "z": "\\\\\\""},\n  {"input": "commas, inside, strings", "list": [[], {}, [[]]]},\n  ${pretty4}\n]\n`,
      [
        { position: 1, raw: '{"input": "brackets ] } [ { in a string", "x": [1, {"y": "]"}]}', input: 'brackets ] } [ { in a string' },
        {
          position: 2,
          raw: '{"input": "escaped \\" quote and backslash \\\\", "z": "\\\\\\""}',
          input: 'escaped " quote and backslash \\',
        },
        { position: 3, raw: '{"input": "commas, inside, strings", "list": [[], {}, [[]]]}', input: 'commas, inside, strings' },
        { position: 4, raw: pretty4, input: 'multi-line element' },
      ],
      [],
    ),
  });
  const single = JSON.stringify({ input: 'the single object', integration_id: 'int-9', steps: [{ a: 1 }, { b: [true, null] }] }, null, 2);
  add({
    name: 'single-object',
    kind: 'JSON documents',
    filename: 'single-object.json',
    note: 'a single pretty-printed object: one trace, its text verbatim (newlines included)',
    ...file(`\n${single}\n`, [{ position: 1, raw: single, input: 'the single object', integrationId: 'int-9' }], []),
  });
  add({
    name: 'array-broken-elements',
    kind: 'JSON documents',
    filename: 'array-broken-elements.json',
    note: 'a mismatched bracket, a stray `}`, empty elements and a trailing comma cost only their own elements',
    ...file(
      '[{"input":"a","x":[1}, {"input":"b"},, {"input":"c"} , } , {"input":"d"} ,]',
      [
        { position: 2, raw: '{"input":"b"}', input: 'b' },
        { position: 4, raw: '{"input":"c"}', input: 'c' },
        { position: 6, raw: '{"input":"d"}', input: 'd' },
      ],
      [
        { line: 1, message: INVALID_JSON },
        { line: 3, message: EMPTY_ELEMENT },
        { line: 5, message: INVALID_JSON },
        { line: 7, message: EMPTY_ELEMENT },
      ],
    ),
  });
  const manyBad: Line[] = [];
  for (let i = 1; i <= 150; i++) manyBad.push({ bad: `not json ${i}`, message: INVALID_JSON });
  manyBad.push({ good: '{"input":"the one good line"}' });
  add({
    name: 'many-bad-lines',
    kind: 'many errors',
    filename: 'many-bad-lines.jsonl',
    note: '150 bad lines: the first 100 are reported, all 150 counted; the good line is a trace',
    ...jsonl(manyBad),
  });

  // --- File names ----------------------------------------------------------
  const names: Array<[string, string, string]> = [
    ['name-spaces', 'name with  spaces.jsonl', 'spaces (two in a row)'],
    ['name-plus', 'plus+sign+name.jsonl', "`+` (a space in S3 notifications' key encoding)"],
    ['name-percent', 'percent%20literal%2F%.jsonl', 'literal `%20`, `%2F` and a lone `%`: never decoded twice'],
    ['name-hash-query', 'hash#fragment?query=1&x.jsonl', '`#`, `?`, `&`, `=`'],
    ['name-non-ascii', 'é 日本 😀 naïve.jsonl', 'non-ASCII: accents, CJK, an emoji'],
    ['name-uppercase', 'UPPER CASE.JSONL', 'an upper-case extension'],
    ['name-dot-only', '.jsonl', 'nothing but the extension'],
    ['name-233-bytes', `${'x'.repeat(227)}.jsonl`, 'a 233-byte name (the longest the local S3 stand-in can keep)'],
  ];
  for (const [name, filename, what] of names)
    add({ name, kind: 'file names', filename, note: `${what}: ingested like any other`, ...plainBody(name) });
  add({
    name: 'name-nfd',
    kind: 'file names',
    filename: 'e\u0301 decomposed.json',
    note: 'a decomposed (NFD) accent: the name is kept byte for byte',
    ...file('{"input":"nfd"}', [{ position: 1, raw: '{"input":"nfd"}', input: 'nfd' }], []),
  });
  add({
    name: 'name-255-chars',
    kind: 'file names',
    filename: `${'y'.repeat(249)}.jsonl`,
    note: 'the longest name presign takes (255 characters); the local S3 stand-in cannot keep it (400 KeyTooLongError, nothing stored), S3 can',
    ...plainBody('name-255-chars'),
    localStoreRefuses: true,
  });
  add({
    name: 'name-256-chars',
    kind: 'file names',
    filename: `${'z'.repeat(250)}.jsonl`,
    note: 'a 256-character name: presign and create refuse it (400)',
    ...plainBody('name-256-chars'),
    presignRefusal: { message: /^filename: must be at most 255 characters/ },
    createRefusesName: true,
    localStoreRefuses: true,
  });

  // --- Size ----------------------------------------------------------------
  const big = fiftyMiBFiles();
  add({
    name: 'exactly-50mib',
    kind: 'size',
    filename: 'exactly-50mib.jsonl',
    note: 'exactly 52,428,800 bytes: accepted',
    bytes: big.exact,
    records: [
      { position: 1, raw: big.first, input: 'first record of a file of exactly 50 MiB' },
      { position: 3, raw: big.last, input: 'last record of a file of exactly 50 MiB' },
    ],
    errors: [],
    errorCount: 0,
    outcome: 'completed',
  });
  add({
    name: 'over-50mib',
    kind: 'size',
    filename: 'over-50mib.jsonl',
    note: '52,428,801 bytes: presign refuses the size; PUT anyway or dropped, the upload fails with the reason and nothing is read',
    bytes: big.over,
    records: [],
    errors: [],
    errorCount: 0,
    outcome: 'refused',
    reason: /^file is 52428801 bytes; the limit is 52428800 bytes \(50 MiB\)$/,
    presignRefusal: { message: /^size: must be at most 52428800 bytes/, putAnywaySize: MAX_FILE_BYTES },
  });

  return files;
}

/**
 * JSON equality of two parsed values, without recursion (the corpus nests 100,000 levels):
 * same types, numbers equal as doubles (-0 is not 0), same keys with equal values (in any order).
 */
export function sameJson(a: unknown, b: unknown): boolean {
  const stack: Array<[unknown, unknown]> = [[a, b]];
  while (stack.length > 0) {
    const [x, y] = stack.pop()!;
    if (typeof x !== typeof y) return false;
    if (x === null || y === null || typeof x !== 'object') {
      if (!Object.is(x, y)) return false;
      continue;
    }
    if (Array.isArray(x) !== Array.isArray(y)) return false;
    if (Array.isArray(x)) {
      const ya = y as unknown[];
      if (x.length !== ya.length) return false;
      for (let i = 0; i < x.length; i++) stack.push([x[i], ya[i]]);
      continue;
    }
    const xo = x as Record<string, unknown>;
    const yo = y as Record<string, unknown>;
    const xk = Object.keys(xo).sort();
    const yk = Object.keys(yo).sort();
    if (xk.length !== yk.length || xk.some((k, i) => k !== yk[i])) return false;
    for (const k of xk) stack.push([xo[k], yo[k]]);
  }
  return true;
}
