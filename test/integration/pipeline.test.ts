import { readFileSync } from 'node:fs';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { keys } from '../../functions/adapters/dynamo/keys.js';
import { MAX_FILE_BYTES } from '../../functions/domain/limits.js';
import { encodeEventKey } from '../../functions/domain/object-key.js';
import { incompressibleText } from '../support/prng.js';
import {
  dropAndSettle,
  expectedIds,
  getItem,
  jsonlRecords,
  projectCounter,
  projectTraces,
  projectUploads,
  useTestStack,
} from '../support/stack.js';
import { fixture } from '../support/fixtures.js';

const stack = useTestStack();

/** Each test drops into its own sub-folder so its traces can be told apart. */
async function drop(folder: string, filename: string, body: string | Buffer) {
  const key = `${stack.info.dropPrefix}${folder}/${filename}`;
  await dropAndSettle(stack, key, body);
  const traces = (await projectTraces(stack)).filter((t) => t.filename === filename && t.upload_id !== undefined);
  const upload = (await projectUploads(stack)).find((u) => u.object_key === key);
  return { key, traces: traces.filter((t) => t.id && upload && t.upload_id === upload.upload_id), upload };
}

describe('the drop folder, end to end through the S3 notification, the queue and the ingest handler', () => {
  it('writes local-stack.json with exactly the documented keys', () => {
    const info = JSON.parse(readFileSync(`${stack.dataDir}/local-stack.json`, 'utf8')) as Record<string, string>;
    expect(Object.keys(info).sort()).toEqual(
      [
        'apiKey',
        'apiUrl',
        'bucket',
        'dropPrefix',
        'dynamodbEndpoint',
        'organizationId',
        'projectId',
        'region',
        's3AccessKeyId',
        's3Endpoint',
        's3SecretAccessKey',
        'table',
      ].sort(),
    );
    expect(info.dropPrefix).toBe(`drop/${info.organizationId}/${info.projectId}/`);
  });

  it.each([
    ['chat-traces.jsonl', 20],
    ['agent-runs.json', 3],
    ['single-trace.json', 1],
    ['experiment-logs.jsonl', 12],
  ])('ingests the fixture %s into %i traces', async (name, count) => {
    const { traces, upload } = await drop('fixtures', name, fixture(name));
    expect(upload?.status).toBe('completed');
    expect(traces).toHaveLength(count);
    expect(upload?.traces).toBe(count);
    for (const t of traces) {
      expect(t.source).toBe('s3');
      expect(t.organization_id).toBe(stack.info.organizationId);
      expect(JSON.parse(t.doc!)).toBeTypeOf('object');
    }
  });

  it('stores each JSONL line verbatim under its deterministic id, and renders chat input as text', async () => {
    const text = fixture('chat-traces.jsonl').toString('utf8');
    const { key, traces } = await drop('verbatim', 'chat-traces.jsonl', text);
    const records = jsonlRecords(text);
    expect(traces.map((t) => t.id).sort()).toEqual(expectedIds(stack, key, records));
    const byPosition = new Map(traces.map((t) => [t.position, t]));
    for (const r of records) expect(byPosition.get(r.position)!.doc).toBe(r.raw);
    expect(byPosition.get(1)!.input).toBe('What is the capital of France?');
    expect(byPosition.get(2)!.input).toBe('system: You are terse.\nuser: Summarise this ticket in one line.');
  });

  it('tolerates CRLF, a BOM and blank lines, and reports bad lines one by one while keeping the good ones', async () => {
    const body = '\uFEFF{"input":"a"}\r\n\r\n{"input": broken\r\n[1,2]\r\n   \r\n{"input":"e"}\r\n{"input":"f"';
    const { traces, upload } = await drop('mixed', 'mixed.jsonl', body);
    expect(traces.map((t) => t.position).sort()).toEqual([1, 6]);
    expect(upload?.status).toBe('completed');
    expect(upload?.errors.map((e: { line: number }) => e.line)).toEqual([3, 4, 7]);
    expect(upload?.errors[1].message).toMatch(/expected a JSON object, got array/);
    expect(upload?.error_count).toBe(3);
    expect(upload?.records).toBe(5);
  });

  it('takes a single JSON object and a JSON array, element by element', async () => {
    const single = await drop('json', 'one.json', '{"input":"only","integration_id":"int-1","source":"sdk"}');
    expect(single.traces).toHaveLength(1);
    expect(single.traces[0]).toMatchObject({ input: 'only', integration_id: 'int-1', source: 'sdk', position: 1 });
    const array = await drop('json', 'many.json', '[{"input":"a"}, 7, {"input":"c"}]');
    expect(array.traces.map((t) => t.position).sort()).toEqual([1, 3]);
    expect(array.upload?.errors).toEqual([{ line: 2, message: expect.stringMatching(/expected a JSON object/) }]);
  });

  it('refuses a file over 50 MiB with a clear reason and ingests nothing', async () => {
    const body = Buffer.alloc(MAX_FILE_BYTES + 1, 0x20);
    body.write('{"input":"x"}\n');
    const { traces, upload } = await drop('big', 'too-big.jsonl', body);
    expect(traces).toHaveLength(0);
    expect(upload?.status).toBe('failed');
    expect(upload?.reason).toMatch(/52428801 bytes; the limit is 52428800 bytes/);
  }, 60_000);

  it('keeps a 3 MB record whole, its document offloaded to S3 and pointed to', async () => {
    // Text that does not deflate: a repetitive 3 MB record deflates to a few KB and stays in the item.
    const big = JSON.stringify({ input: 'big one', blob: incompressibleText(3 * 1024 * 1024) });
    const { traces } = await drop('big', 'big-record.jsonl', `${big}\n{"input":"small"}\n`);
    expect(traces).toHaveLength(2);
    const offloaded = traces.find((t) => t.position === 1)!;
    expect(offloaded.doc).toBeUndefined();
    expect(offloaded.payload_key).toBe(`payloads/${stack.info.organizationId}/${stack.info.projectId}/${offloaded.id}.json`);
    const payload = await stack.s3.send(new GetObjectCommand({ Bucket: stack.info.bucket, Key: offloaded.payload_key }));
    const parsed = JSON.parse(await payload.Body!.transformToString()) as { input: string; data: unknown };
    expect(parsed.input).toBe('big one');
    expect(JSON.stringify(parsed.data)).toBe(big);
    expect(traces.find((t) => t.position === 2)!.doc).toBe('{"input":"small"}');
  }, 60_000);

  it('keeps a 3 MB record that deflates well in the item itself, whole', async () => {
    const big = JSON.stringify({ input: 'big and plain', blob: 'x'.repeat(3 * 1024 * 1024) });
    const { traces } = await drop('plain', 'plain-record.jsonl', `${big}\n`);
    expect(traces).toHaveLength(1);
    expect(traces[0]!.payload_key).toBeUndefined();
    expect(traces[0]!.doc).toBe(big);
  }, 60_000);

  it('stores a record nested 40 levels deep, with odd keys, untouched', async () => {
    let nested: unknown = { leaf: true, '': 'empty key', __proto__x: 1 };
    for (let i = 0; i < 40; i++) nested = { [`level${i}`]: nested };
    const raw = JSON.stringify({ input: 'deep', nested, ['k'.repeat(70_000)]: 'long name' });
    const { traces } = await drop('deep', 'deep.jsonl', `${raw}\n`);
    expect(traces).toHaveLength(1);
    expect(traces[0]!.doc).toBe(raw);
  });

  it('refuses a file type other than .json/.jsonl', async () => {
    const { upload, traces } = await drop('types', 'notes.txt', '{"input":"x"}');
    expect(traces).toHaveLength(0);
    expect(upload?.status).toBe('failed');
    expect(upload?.reason).toMatch(/must end in \.json or \.jsonl/);
  });

  it('does not ingest into an unknown organization or project, and its upload record says why', async () => {
    const key = 'drop/no-such-org/no-such-project/x.jsonl';
    await dropAndSettle(stack, key, '{"input":"x"}\n');
    const uploads = await projectUploads(stack, 'no-such-org', 'no-such-project');
    expect(uploads).toHaveLength(1);
    expect(uploads[0]).toMatchObject({ status: 'failed', reason: expect.stringMatching(/unknown organization or project/) });
    expect(await projectTraces(stack, 'no-such-org', 'no-such-project')).toHaveLength(0);
  });

  it('handles keys with spaces, plus signs, percent signs and non-ASCII (URL-encoded in the notification)', async () => {
    const filename = 'my file+v2 100% ünï 😀.jsonl';
    expect(encodeEventKey(`a/${filename}`)).not.toContain(' ');
    const { traces, key } = await drop('odd names', filename, '{"input":"odd"}\n');
    expect(traces).toHaveLength(1);
    expect(traces[0]!.filename).toBe(filename);
    expect(traces.map((t) => t.id)).toEqual(expectedIds(stack, key, [{ position: 1, raw: '{"input":"odd"}' }]));
  });

  it('uses source "upload" for objects under uploads/', async () => {
    const key = `uploads/${stack.info.organizationId}/${stack.info.projectId}/via-presign.jsonl`;
    await dropAndSettle(stack, key, '{"input":"u"}\n');
    const traces = (await projectTraces(stack)).filter((t) => t.filename === 'via-presign.jsonl');
    expect(traces.map((t) => t.source)).toEqual(['upload']);
  });

  it('keeps the project counter equal to the number of trace items, sources included', async () => {
    await stack.settled();
    const traces = await projectTraces(stack);
    const counter = await projectCounter(stack);
    expect(counter?.traces).toBe(traces.length);
    const bySource: Record<string, number> = {};
    for (const t of traces) bySource[t.source] = (bySource[t.source] ?? 0) + 1;
    expect(counter?.by_source).toEqual(bySource);
    expect([...(counter?.sources ?? [])].sort()).toEqual(Object.keys(bySource).sort());
    expect(await getItem(stack, keys.counter(stack.info.organizationId, stack.info.projectId))).toBeDefined();
  });
});
