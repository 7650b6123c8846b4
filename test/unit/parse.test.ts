import { describe, expect, it } from 'vitest';
import { parseJson, parseJsonl, parserFor } from '../../functions/domain/parse/index.js';
import type { ParseEvent, StreamParser } from '../../functions/domain/parse/index.js';
import { ByteAccumulator, Utf8Decoder, truncateMessage } from '../../functions/domain/parse/utf8.js';
import { fixture } from '../support/fixtures.js';

const NO_RECORDS = { kind: 'error', position: 1, message: 'the file contains no records' } as const;
const NOT_A_DOCUMENT = 'expected a JSON object or an array of objects';
const TRAILING = 'unexpected data after the end of the JSON document';
const EOF = 'unexpected end of file';
const EMPTY_ELEMENT = 'invalid JSON: empty array element';

/** Chunk sizes every input is fed in; Infinity = the whole file as one chunk. */
const CHUNK_SIZES = [1, 2, 3, 7, 64, Infinity];

function bytesOf(input: string | Uint8Array): Uint8Array {
  return typeof input === 'string' ? new TextEncoder().encode(input) : input;
}

/** Yields copies of the input, size bytes at a time, as plain Uint8Arrays (not Buffers). */
async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  if (bytes.length === 0) return;
  const step = Number.isFinite(size) ? size : bytes.length;
  for (let i = 0; i < bytes.length; i += step) yield bytes.slice(i, i + step);
}

async function collect(parser: StreamParser, chunks: AsyncIterable<Uint8Array>): Promise<ParseEvent[]> {
  const events: ParseEvent[] = [];
  for await (const group of parser(chunks)) {
    expect(Array.isArray(group)).toBe(true);
    events.push(...group);
  }
  return events;
}

/**
 * Parses the input once per chunk size, checks every chunking gives the same
 * events, and returns them.
 */
async function parseAll(parser: StreamParser, input: string | Uint8Array, sizes = CHUNK_SIZES): Promise<ParseEvent[]> {
  const bytes = bytesOf(input);
  const whole = await collect(parser, chunked(bytes, Infinity));
  for (const size of sizes) {
    const events = await collect(parser, chunked(bytes, size));
    expect(events, `chunk size ${size}`).toEqual(whole);
  }
  return whole;
}

function rec(position: number, raw: string): ParseEvent {
  return { kind: 'record', position, raw, value: JSON.parse(raw) as Record<string, unknown> };
}

function err(position: number, message: string): ParseEvent {
  return { kind: 'error', position, message };
}

function summary(events: ParseEvent[]): string[] {
  return events.map((e) => (e.kind === 'record' ? `${e.position}:record` : `${e.position}:${e.message}`));
}

function nested(levels: number): string {
  return `${'{"a":'.repeat(levels)}[1,"x]}"]${'}'.repeat(levels)}`;
}

describe('parserFor', () => {
  it('picks the parser by extension, case-insensitively', () => {
    expect(parserFor('traces.jsonl')).toBe(parseJsonl);
    expect(parserFor('uploads/a/TRACES.JSONL')).toBe(parseJsonl);
    expect(parserFor('run.json')).toBe(parseJson);
    expect(parserFor('Run.Json')).toBe(parseJson);
  });

  it('returns null for anything else', () => {
    for (const name of ['traces.csv', 'traces', 'traces.json.gz', 'json', 'traces.jsonl.txt', 'x.ndjson', '']) {
      expect(parserFor(name), name).toBeNull();
    }
  });
});

describe('parseJsonl', () => {
  it('parses one object per line, positions are line numbers', async () => {
    const events = await parseAll(parseJsonl, '{"a":1}\n{"b":"two"}\n{"c":[3]}\n');
    expect(events).toEqual([rec(1, '{"a":1}'), rec(2, '{"b":"two"}'), rec(3, '{"c":[3]}')]);
  });

  it('accepts a last line without a trailing newline', async () => {
    expect(await parseAll(parseJsonl, '{"a":1}\n{"b":2}')).toEqual([rec(1, '{"a":1}'), rec(2, '{"b":2}')]);
  });

  it('tolerates CRLF line endings; raw has no CR', async () => {
    const events = await parseAll(parseJsonl, '{"a":1}\r\n{"b":2}\r\n\r\n{"c":3}\r\n');
    expect(events).toEqual([rec(1, '{"a":1}'), rec(2, '{"b":2}'), rec(4, '{"c":3}')]);
  });

  it('skips a UTF-8 BOM at the start of the file only', async () => {
    expect(await parseAll(parseJsonl, '\uFEFF{"a":1}\n{"b":2}\n')).toEqual([rec(1, '{"a":1}'), rec(2, '{"b":2}')]);
    const events = await parseAll(parseJsonl, '{"a":1}\n\uFEFF{"b":2}\n');
    expect(summary(events)).toEqual(['1:record', expect.stringMatching(/^2:invalid JSON: /)]);
  });

  it('skips blank lines but counts them', async () => {
    const events = await parseAll(parseJsonl, '\n\n{"a":1}\n   \n\t\n{"b":2}\n\n');
    expect(events).toEqual([rec(3, '{"a":1}'), rec(6, '{"b":2}')]);
  });

  it('trims spaces and tabs around a record, keeps inner whitespace', async () => {
    expect(await parseAll(parseJsonl, '  \t{"a": "x  y" }\t  \r\n')).toEqual([rec(1, '{"a": "x  y" }')]);
  });

  it('reports bad lines with their line numbers and carries on', async () => {
    const input = ['{"ok":1}', '{"b": tru}', '', '{"ok":2}', '{not json', '{"ok":3}', '{"a":1} {"b":2}', '{"ok":4'].join('\n');
    const events = await parseAll(parseJsonl, input);
    expect(summary(events)).toEqual([
      '1:record',
      expect.stringMatching(/^2:invalid JSON: /),
      '4:record',
      expect.stringMatching(/^5:invalid JSON: /),
      '6:record',
      expect.stringMatching(/^7:invalid JSON: /),
      expect.stringMatching(/^8:invalid JSON: /),
    ]);
    expect(events[0]).toEqual(rec(1, '{"ok":1}'));
    expect(events[2]).toEqual(rec(4, '{"ok":2}'));
  });

  it('rejects lines that are valid JSON but not objects', async () => {
    const events = await parseAll(parseJsonl, '[1,2]\n"s"\n42\nnull\ntrue\n{"ok":1}\n[]\n');
    expect(events).toEqual([
      err(1, 'expected a JSON object, got array'),
      err(2, 'expected a JSON object, got string'),
      err(3, 'expected a JSON object, got number'),
      err(4, 'expected a JSON object, got null'),
      err(5, 'expected a JSON object, got boolean'),
      rec(6, '{"ok":1}'),
      err(7, 'expected a JSON object, got array'),
    ]);
  });

  it('reports an invalid UTF-8 line among good ones', async () => {
    const bytes = Buffer.concat([
      Buffer.from('{"a":"caf\u00e9"}\n{"b":"'),
      Buffer.from([0xff, 0xfe, 0xc3]), // not UTF-8
      Buffer.from('"}\n{"c":"\u6f22\u5b57"}\n{"d":"'),
      Buffer.from([0xed, 0xa0, 0x80]), // an encoded surrogate: not valid UTF-8 either
      Buffer.from('"}\n{"e":1}'),
    ]);
    const events = await parseAll(parseJsonl, bytes);
    expect(events).toEqual([
      rec(1, '{"a":"caf\u00e9"}'),
      err(2, 'invalid UTF-8'),
      rec(3, '{"c":"\u6f22\u5b57"}'),
      err(4, 'invalid UTF-8'),
      rec(5, '{"e":1}'),
    ]);
  });

  it('reports a truncated multi-byte character at the end of the file', async () => {
    const bytes = Buffer.concat([Buffer.from('{"a":1}\n{"b":"x'), Buffer.from([0xf0, 0x9f, 0x98])]);
    expect(await parseAll(parseJsonl, bytes)).toEqual([rec(1, '{"a":1}'), err(2, 'invalid UTF-8')]);
  });

  it('decodes multi-byte characters split across chunks', async () => {
    const lines = [
      '{"emoji":"\u{1F600}\u{1F680}\u{1F469}\u200D\u{1F4BB}","n":1}',
      '{"cjk":"\u6f22\u5b57\u304b\u306a\u30ab\u30ca\uD55C\uAE00"}',
      '{"mixed":"caf\u00e9 \u00fcber \u0444\u044b\u0432 \u05e2\u05d1 \u0639\u0631\u0628\u064a"}',
    ];
    const events = await parseAll(parseJsonl, `${lines.join('\n')}\n`, [1, 2, 3, 4, 5, 7, 64, Infinity]);
    expect(events).toEqual(lines.map((l, i) => rec(i + 1, l)));
  });

  it('keeps escaped lone surrogates as they are', async () => {
    const line = '{"hi":"\\ud800","lo":"x\\udc00y","pair":"\\ud83d\\ude00"}';
    const events = await parseAll(parseJsonl, `${line}\n`);
    expect(events).toEqual([rec(1, line)]);
    const value = (events[0] as { value: Record<string, string> }).value;
    expect(value.hi!.charCodeAt(0)).toBe(0xd800);
    expect(value.lo).toBe('x\udc00y');
    expect(value.pair).toBe('\u{1F600}');
  });

  it('treats raw control characters and NUL inside strings as invalid JSON', async () => {
    const events = await parseAll(parseJsonl, '{"a":"x\u0000y"}\n{"b":"tab\there"}\n{"c":"ok"}\n');
    expect(summary(events)).toEqual([expect.stringMatching(/^1:invalid JSON: /), expect.stringMatching(/^2:invalid JSON: /), '3:record']);
  });

  it('handles 40 levels of nesting', async () => {
    const line = nested(40);
    const events = await parseAll(parseJsonl, `${line}\n${line}`);
    expect(events).toEqual([rec(1, line), rec(2, line)]);
  });

  it('handles a 3 MB record', async () => {
    const big = JSON.stringify({ id: 'big', text: 'x\u00e9\u6f22 '.repeat(450_000), list: Array.from({ length: 20_000 }, (_, i) => i) });
    expect(Buffer.byteLength(big)).toBeGreaterThan(3_000_000);
    const input = `{"a":1}\n${big}\r\n{"b":2}\n`;
    const events = await parseAll(parseJsonl, input, [4096, 65536, 1_000_003]);
    expect(events).toEqual([rec(1, '{"a":1}'), rec(2, big), rec(3, '{"b":2}')]);
  });

  it('does not let __proto__ keys pollute prototypes', async () => {
    const events = await parseAll(parseJsonl, '{"__proto__":{"polluted":true},"a":1}\n');
    expect(events).toHaveLength(1);
    const value = (events[0] as { value: Record<string, unknown> }).value;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(value, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keeps error messages short', async () => {
    const events = await parseAll(parseJsonl, `{"a":"${'y'.repeat(5000)}" oops}\n`, [64, Infinity]);
    expect(events).toHaveLength(1);
    expect(events[0]!.kind).toBe('error');
    const message = (events[0] as { message: string }).message;
    expect(message.startsWith('invalid JSON: ')).toBe(true);
    expect(message.length).toBeLessThanOrEqual(200);
  });

  it('reports a file with no records', async () => {
    for (const input of ['', '\n\n', '   \r\n\t\n', '\uFEFF', '\uFEFF\n  \n']) {
      expect(await parseAll(parseJsonl, input), JSON.stringify(input)).toEqual([NO_RECORDS]);
    }
  });

  it('does not report "no records" when lines were all bad', async () => {
    expect(await parseAll(parseJsonl, '[1]\n')).toEqual([err(1, 'expected a JSON object, got array')]);
  });

  it('parses every line of the JSONL fixtures into a record at its line number', async () => {
    for (const [name, count] of [
      ['chat-traces.jsonl', 20],
      ['experiment-logs.jsonl', 12],
    ] as const) {
      const bytes = fixture(name);
      const lines = bytes
        .toString('utf8')
        .split('\n')
        .filter((l) => l.trim() !== '');
      const events = await parseAll(parseJsonl, bytes);
      expect(events).toHaveLength(count);
      expect(events).toEqual(lines.map((l, i) => rec(i + 1, l)));
    }
  });

  it('is not confused by a source that reuses its chunk buffer', async () => {
    const input = Buffer.from('{"a":"first"}\n{"b":"second line that spans"}\n{"c":3}');
    async function* reusing(): AsyncGenerator<Uint8Array> {
      const shared = new Uint8Array(5);
      for (let i = 0; i < input.length; i += 5) {
        const n = Math.min(5, input.length - i);
        shared.set(input.subarray(i, i + n));
        yield shared.subarray(0, n);
        shared.fill(0x21); // scribble over it once the parser is done with it
      }
    }
    expect(await collect(parseJsonl, reusing())).toEqual([
      rec(1, '{"a":"first"}'),
      rec(2, '{"b":"second line that spans"}'),
      rec(3, '{"c":3}'),
    ]);
  });

  it('yields events a chunk at a time, in file order', async () => {
    async function* source(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('{"a":1}\n{"b":2}\n{"c"');
      yield Buffer.from(':3}\n\n');
      yield Buffer.from('{"d":4}');
    }
    const groups: number[][] = [];
    for await (const group of parseJsonl(source())) groups.push(group.map((e) => e.position));
    expect(groups).toEqual([[1, 2], [3], [5]]);
  });

  it('propagates an error from the input stream', async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('{"a":1}\n');
      throw new Error('connection reset');
    }
    const seen: ParseEvent[] = [];
    await expect(
      (async () => {
        for await (const group of parseJsonl(failing())) seen.push(...group);
      })(),
    ).rejects.toThrow('connection reset');
    expect(seen).toEqual([rec(1, '{"a":1}')]);
  });
});

describe('parseJson', () => {
  it('parses a single object as one record at position 1', async () => {
    const text = ' \n{"a": {"b": [1, 2, {"c": "}"}]}, "d": "x"}\n\n';
    expect(await parseAll(parseJson, text)).toEqual([rec(1, '{"a": {"b": [1, 2, {"c": "}"}]}, "d": "x"}')]);
  });

  it('parses an array of objects element by element', async () => {
    expect(await parseAll(parseJson, '[{"a":1},{"b":2} , {"c":3}]')).toEqual([rec(1, '{"a":1}'), rec(2, '{"b":2}'), rec(3, '{"c":3}')]);
  });

  it('keeps a pretty-printed element text as raw', async () => {
    const input = '[\n  {\n    "a": 1,\n    "b": [\n      1,\n      2\n    ]\n  },\n  {\n    "c": "x"\n  }\n]\n';
    const events = await parseAll(parseJson, input);
    expect(events).toEqual([rec(1, '{\n    "a": 1,\n    "b": [\n      1,\n      2\n    ]\n  }'), rec(2, '{\n    "c": "x"\n  }')]);
  });

  it('skips a BOM and whitespace before the document', async () => {
    expect(await parseAll(parseJson, '\uFEFF\r\n\t [{"a":1}]')).toEqual([rec(1, '{"a":1}')]);
    expect(await parseAll(parseJson, '\uFEFF{"a":1}')).toEqual([rec(1, '{"a":1}')]);
  });

  it('finds element boundaries despite brackets, commas, quotes and backslashes in strings', async () => {
    const elements = [
      '{"s":"a],b\\"c}{[\\\\","t":["]",",","\\\\",{"u":"\\\\\\""}]}',
      '{"k\\"]":"\\\\"}',
      '{"nested":[[{"x":"[[["}],[],{}],"e":"\\u005d\\u002c"}',
      // Escapes far into long strings (scanned natively rather than byte by byte).
      `{"long":"${'x'.repeat(40)}\\"],[{\\"${'y'.repeat(70)}\\\\","k${'z'.repeat(30)}\\\\":"${'w'.repeat(20)}\\\\\\""}`,
    ];
    const events = await parseAll(parseJson, `[${elements.join(',')}]`);
    expect(events).toEqual(elements.map((e, i) => rec(i + 1, e)));
    expect((events[0] as { value: Record<string, unknown> }).value.s).toBe('a],b"c}{[\\');
  });

  it('reports a bad element and carries on with the next one', async () => {
    const events = await parseAll(parseJson, '[{"a":1}, {"b": tru}, {"c":3}]');
    expect(summary(events)).toEqual(['1:record', expect.stringMatching(/^2:invalid JSON: /), '3:record']);
    expect(events[0]).toEqual(rec(1, '{"a":1}'));
    expect(events[2]).toEqual(rec(3, '{"c":3}'));
  });

  it('rejects elements that are not objects', async () => {
    const events = await parseAll(parseJson, '[1, "x,]", [1,[2]], null, true, {"ok":1}, -2.5e3]');
    expect(events).toEqual([
      err(1, 'expected a JSON object, got number'),
      err(2, 'expected a JSON object, got string'),
      err(3, 'expected a JSON object, got array'),
      err(4, 'expected a JSON object, got null'),
      err(5, 'expected a JSON object, got boolean'),
      rec(6, '{"ok":1}'),
      err(7, 'expected a JSON object, got number'),
    ]);
  });

  it('reports empty elements', async () => {
    expect(await parseAll(parseJson, '[{"a":1},,{"b":2}]')).toEqual([rec(1, '{"a":1}'), err(2, EMPTY_ELEMENT), rec(3, '{"b":2}')]);
    expect(await parseAll(parseJson, '[ , {"b":2}]')).toEqual([err(1, EMPTY_ELEMENT), rec(2, '{"b":2}')]);
    expect(await parseAll(parseJson, '[{"a":1}, ]')).toEqual([rec(1, '{"a":1}'), err(2, EMPTY_ELEMENT)]);
  });

  it('recovers after a stray closing brace', async () => {
    const events = await parseAll(parseJson, '[{"a":1}}, {"b":2}]');
    expect(summary(events)).toEqual([expect.stringMatching(/^1:invalid JSON: /), '2:record']);
  });

  it('reports an invalid UTF-8 element among good ones', async () => {
    const bytes = Buffer.concat([Buffer.from('[{"a":"\u00e9"},{"b":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"},{"c":"\u{1F600}"}]')]);
    expect(await parseAll(parseJson, bytes)).toEqual([rec(1, '{"a":"\u00e9"}'), err(2, 'invalid UTF-8'), rec(3, '{"c":"\u{1F600}"}')]);
  });

  it('decodes multi-byte characters split across chunks', async () => {
    const elements = ['{"e":"\u{1F600}\u{1F680}"}', '{"c":"\u6f22\u5b57\u304b\u306a \uD55C\uAE00"}', '{"l":"\u00e9\u00fc\u00df"}'];
    const events = await parseAll(parseJson, `[\n ${elements.join(',\n ')}\n]`, [1, 2, 3, 4, 5, 7, 64, Infinity]);
    expect(events).toEqual(elements.map((e, i) => rec(i + 1, e)));
  });

  it('keeps escaped lone surrogates as they are', async () => {
    const element = '{"s":"\\udfff\\ud800"}';
    const events = await parseAll(parseJson, `[${element}]`);
    expect(events).toEqual([rec(1, element)]);
    expect((events[0] as { value: Record<string, string> }).value.s).toBe('\udfff\ud800');
  });

  it('yields complete elements of a truncated array, then an end-of-file error', async () => {
    expect(await parseAll(parseJson, '[{"a":1},{"b":2},{"c":[1,')).toEqual([rec(1, '{"a":1}'), rec(2, '{"b":2}'), err(3, EOF)]);
    expect(await parseAll(parseJson, '[{"a":1},{"b":"x,]}')).toEqual([rec(1, '{"a":1}'), err(2, EOF)]);
    expect(await parseAll(parseJson, '[{"a":1},\n  ')).toEqual([rec(1, '{"a":1}'), err(2, EOF)]);
    expect(await parseAll(parseJson, '[')).toEqual([err(1, EOF)]);
    expect(await parseAll(parseJson, '[{"a":1}')).toEqual([rec(1, '{"a":1}'), err(2, EOF)]);
    expect(await parseAll(parseJson, '[{"a":"\\')).toEqual([err(1, EOF)]);
  });

  it('reports a truncated single object', async () => {
    expect(await parseAll(parseJson, '{"a": {"b": 1}')).toEqual([err(1, EOF)]);
    expect(await parseAll(parseJson, '{"a": "}')).toEqual([err(1, EOF)]);
  });

  it('reports data after the end of the document once', async () => {
    expect(await parseAll(parseJson, '[{"a":1},{"b":2}] x [}]')).toEqual([rec(1, '{"a":1}'), rec(2, '{"b":2}'), err(3, TRAILING)]);
    expect(await parseAll(parseJson, '{"a":1}\n{"b":2}\n')).toEqual([rec(1, '{"a":1}'), err(2, TRAILING)]);
    expect(await parseAll(parseJson, '[{"a":1}]  \n\t\r\n ')).toEqual([rec(1, '{"a":1}')]);
    expect(await parseAll(parseJson, '[] 1')).toEqual([err(1, TRAILING)]);
  });

  it('rejects a top level that is neither an object nor an array', async () => {
    for (const input of ['42', '"x"', 'null', 'true', 'garbage', '<html></html>', ' ,[]', '\uFEFF\uFEFF{}']) {
      expect(await parseAll(parseJson, input), input).toEqual([err(1, NOT_A_DOCUMENT)]);
    }
    // A BOM cut short.
    expect(await parseAll(parseJson, Buffer.from([0xef, 0xbb, 0x7b, 0x7d]))).toEqual([err(1, NOT_A_DOCUMENT)]);
    expect(await parseAll(parseJson, Buffer.from([0xef, 0xbb]))).toEqual([err(1, NOT_A_DOCUMENT)]);
  });

  it('reports a file with no records', async () => {
    for (const input of ['', '   \n\t', '\uFEFF', '[]', ' [ \n ] \n', '\uFEFF[]']) {
      expect(await parseAll(parseJson, input), JSON.stringify(input)).toEqual([NO_RECORDS]);
    }
  });

  it('resynchronises after mismatched brackets', async () => {
    expect(summary(await parseAll(parseJson, '{"a": [1}'))).toEqual([expect.stringMatching(/^1:invalid JSON: /)]);
    expect(summary(await parseAll(parseJson, '{"a": [1}  {'))).toEqual([expect.stringMatching(/^1:invalid JSON: /), `2:${TRAILING}`]);
    expect(summary(await parseAll(parseJson, '{"a": 1]'))).toEqual([expect.stringMatching(/^1:invalid JSON: /)]);
    // `}` closes the element's `{` through the unclosed `[`; the next element is intact.
    expect(summary(await parseAll(parseJson, '[{"a": [1}, {"b":2}]'))).toEqual([expect.stringMatching(/^1:invalid JSON: /), '2:record']);
    // A `]` with no `[` open in the element ends the array.
    expect(summary(await parseAll(parseJson, '[{"a":1}, {"b":2]'))).toEqual(['1:record', expect.stringMatching(/^2:invalid JSON: /)]);
    expect(summary(await parseAll(parseJson, '[[1}, {"b":2}]'))).toEqual([expect.stringMatching(/^1:invalid JSON: /), '2:record']);
    // A closer only unwinds to its own opener: the element still ends at the right comma.
    expect(summary(await parseAll(parseJson, '[{"a": {"b": [1}, "c": 2}, {"d":3}]'))).toEqual([
      expect.stringMatching(/^1:invalid JSON: /),
      '2:record',
    ]);
  });

  it('handles 40 levels of nesting', async () => {
    const element = nested(40);
    expect(await parseAll(parseJson, `[${element},${element}]`)).toEqual([rec(1, element), rec(2, element)]);
    expect(await parseAll(parseJson, element)).toEqual([rec(1, element)]);
  });

  it('handles a 3 MB element and a 3 MB single object', async () => {
    const big = JSON.stringify({
      id: 'big',
      text: 'a "quoted" \\ back\u00e9\u6f22 '.repeat(120_000),
      list: Array.from({ length: 20_000 }, (_, i) => ({ i })),
    });
    expect(Buffer.byteLength(big)).toBeGreaterThan(3_000_000);
    const sizes = [4096, 65536, 1_000_003];
    expect(await parseAll(parseJson, `[{"a":1},\n${big}\n,{"b":2}]`, sizes)).toEqual([rec(1, '{"a":1}'), rec(2, big), rec(3, '{"b":2}')]);
    expect(await parseAll(parseJson, big, sizes)).toEqual([rec(1, big)]);
  });

  it('parses every element of the agent-runs.json fixture into a record with its exact source text', async () => {
    const runs = fixture('agent-runs.json');
    const text = runs.toString('utf8');
    const expected = JSON.parse(text) as Record<string, unknown>[];
    const events = await parseAll(parseJson, runs);
    expect(events).toHaveLength(3);
    events.forEach((event, i) => {
      expect(event.kind).toBe('record');
      if (event.kind !== 'record') return;
      expect(event.position).toBe(i + 1);
      expect(event.value).toEqual(expected[i]);
      expect(JSON.parse(event.raw)).toEqual(expected[i]);
      expect(text.includes(event.raw)).toBe(true); // exact source text, indentation included
      expect(event.raw.startsWith('{') && event.raw.endsWith('}')).toBe(true);
    });

    const single = fixture('single-trace.json');
    expect(await parseAll(parseJson, single)).toEqual([rec(1, single.toString('utf8').trim())]);
  });

  it('stops reading the input after a fatal error', async () => {
    let pulled = 0;
    async function* source(): AsyncGenerator<Uint8Array> {
      for (const part of ['[{"a":1}]', ' trailing', ' more', ' and more']) {
        pulled++;
        yield Buffer.from(part);
      }
    }
    expect(await collect(parseJson, source())).toEqual([rec(1, '{"a":1}'), err(2, TRAILING)]);
    expect(pulled).toBe(2);
  });

  it('propagates an error from the input stream', async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('[{"a":1},');
      throw new Error('socket hang up');
    }
    await expect(collect(parseJson, failing())).rejects.toThrow('socket hang up');
  });
});

describe('helpers', () => {
  it('ByteAccumulator assembles many small appends', () => {
    const acc = new ByteAccumulator();
    const src = Buffer.from('0123456789');
    for (let i = 0; i < 10_000; i++) acc.append(src, i % 10, (i % 10) + 1);
    expect(acc.length).toBe(10_000);
    expect(acc.view().toString()).toBe('0123456789'.repeat(1000));
    acc.reset();
    expect(acc.length).toBe(0);
    acc.append(src, 2, 5);
    expect(acc.view().toString()).toBe('234');
  });

  it('Utf8Decoder gives the same text whichever decoding path it takes', () => {
    const samples = [
      'caf\u00e9',
      '\u6f22\u5b57'.repeat(50),
      '\u{1F600}\u{10FFFF}\uFFFD\uFFFE\uFFFF\u0080\u07FF\u0800',
      'plain ascii then \u00e9',
      '\u0000\u007F\u00A0',
    ];
    const decoder = new Utf8Decoder();
    // Run twice: the first pass leaves the decoder in "dense" mode after the CJK sample.
    for (const text of [...samples, ...samples, ...samples.reverse()]) {
      const bytes = Buffer.from(text, 'utf8');
      expect(decoder.decodeNonAscii(bytes, 0, bytes.length)).toBe(text);
    }
  });

  it('truncateMessage caps length without splitting a surrogate pair', () => {
    expect(truncateMessage('short')).toBe('short');
    const cut = truncateMessage('a'.repeat(196) + '\u{1F600}'.repeat(10));
    expect(cut.length).toBeLessThanOrEqual(200);
    expect(cut.endsWith('...')).toBe(true);
    expect(/[\ud800-\udbff](?![\udc00-\udfff])/.test(cut)).toBe(false);
  });
});
