import { createHash, createHmac } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { S3UploadUrlSigner } from '../../functions/adapters/s3/presigner.js';
import { MAX_FILE_BYTES } from '../../functions/domain/limits.js';
import { presignUpload, UPLOAD_URL_TTL_SECONDS } from '../../functions/domain/uploads/presign-upload.js';
import { filenameProblem, uploadTypeProblem } from '../../functions/domain/uploads/upload-request.js';
import type { HttpEvent, HttpResult } from '../../functions/shared/http.js';
import { httpEvent } from '../../local/events.js';

const ACCESS_KEY = 'AKIDEXAMPLE';
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const ORG = 'org-1';
const PROJECT = 'proj-1';

/** Recomputes a presigned URL's SigV4 signature for a request with the given method and headers (RFC 3986 query encoding). */
function signatureFor(url: URL, method: string, headers: Record<string, string>): string {
  const q = url.searchParams;
  const signed = q.get('X-Amz-SignedHeaders')!.split(';');
  const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const query = [...q.entries()]
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [enc(k), enc(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const lower = Object.fromEntries(Object.entries({ host: url.host, ...headers }).map(([k, v]) => [k.toLowerCase(), v.trim()]));
  const canonicalHeaders = signed.map((h) => `${h}:${lower[h] ?? ''}\n`).join('');
  const canonicalRequest = [method, url.pathname, query, canonicalHeaders, signed.join(';'), 'UNSIGNED-PAYLOAD'].join('\n');
  const [, date, region, service] = q.get('X-Amz-Credential')!.split('/');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', q.get('X-Amz-Date'), scope, createHash('sha256').update(canonicalRequest).digest('hex')].join(
    '\n',
  );
  let key: Buffer = createHmac('sha256', `AWS4${SECRET_KEY}`).update(date!).digest();
  for (const part of [region!, service!, 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  return createHmac('sha256', key).update(stringToSign).digest('hex');
}

function signer(endpoint = 'http://127.0.0.1:4569') {
  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  return new S3UploadUrlSigner(s3, 'trace-bucket');
}

describe('the presigned upload URL', () => {
  it('is a PUT of exactly the key, signed over host, content-type and content-length, for 900 s', async () => {
    const now = Date.parse('2024-05-01T12:00:00.000Z');
    const out = await presignUpload(
      signer(),
      { organizationId: ORG, projectId: PROJECT },
      { filename: 'chat traces.jsonl', type: 'application/jsonl', size: 1234 },
      () => now,
    );
    expect(out.key).toBe(`uploads/${ORG}/${PROJECT}/chat traces.jsonl`);
    expect(out.expiresAt).toBe('2024-05-01T12:15:00.000Z');
    expect(out.headers).toEqual({ 'Content-Type': 'application/jsonl' });

    const url = new URL(out.url);
    expect(url.origin).toBe('http://127.0.0.1:4569');
    expect(decodeURIComponent(url.pathname)).toBe(`/trace-bucket/uploads/${ORG}/${PROJECT}/chat traces.jsonl`);
    const q = url.searchParams;
    expect(q.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(q.get('X-Amz-Expires')).toBe('900');
    expect(UPLOAD_URL_TTL_SECONDS).toBe(900);
    expect(q.get('X-Amz-SignedHeaders')!.split(';')).toEqual(expect.arrayContaining(['content-length', 'content-type', 'host']));
    expect(q.get('X-Amz-SignedHeaders')).toBe('content-length;content-type;host');
    expect(q.get('X-Amz-Credential')).toMatch(new RegExp(`^${ACCESS_KEY}/\\d{8}/us-east-1/s3/aws4_request$`));
    // No checksum of a body the signer never saw, nothing the client would have to send back.
    for (const k of q.keys()) expect(k.toLowerCase()).not.toMatch(/checksum|user-agent|security-token/);
  });

  it('binds the method, the content type and the exact size: any other value breaks the signature', async () => {
    const raw = await signer().presignPut({
      key: `uploads/${ORG}/${PROJECT}/a.json`,
      contentType: 'application/json',
      contentLength: 42,
      expiresInSeconds: 900,
    });
    const url = new URL(raw);
    const given = url.searchParams.get('X-Amz-Signature');
    const ok = { 'Content-Type': 'application/json', 'Content-Length': '42' };
    expect(signatureFor(url, 'PUT', ok)).toBe(given);
    expect(signatureFor(url, 'GET', ok)).not.toBe(given);
    expect(signatureFor(url, 'PUT', { ...ok, 'Content-Length': '43' })).not.toBe(given);
    expect(signatureFor(url, 'PUT', { ...ok, 'Content-Type': 'text/html' })).not.toBe(given);
    const otherKey = new URL(raw.replace('/a.json?', '/b.json?'));
    expect(signatureFor(otherKey, 'PUT', ok)).not.toBe(given);
  });
});

function event(body: unknown, opts: { org?: string; project?: string; contentType?: string; raw?: string } = {}): HttpEvent {
  return httpEvent({
    method: 'POST',
    path: `/api/v1/organizations/${opts.org ?? ORG}/projects/${opts.project ?? PROJECT}/traces/upload`,
    routeKey: 'POST /api/v1/organizations/{organizationId}/projects/{projectId}/traces/upload',
    headers: { 'content-type': opts.contentType ?? 'application/json', 'x-api-key': 'tik_x' },
    pathParameters: { organizationId: opts.org ?? ORG, projectId: opts.project ?? PROJECT },
    body: opts.raw ?? JSON.stringify(body),
    requestId: 'req-1',
    authorizer: { organizationId: ORG, projectId: PROJECT },
  });
}

/** The handler with a fresh config and S3 client, under the given environment. */
async function loadHandler(env: Record<string, string | undefined> = {}) {
  vi.resetModules();
  const base: Record<string, string | undefined> = {
    TABLE_NAME: 'table',
    BUCKET_NAME: 'trace-bucket',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: SECRET_KEY,
    AWS_SESSION_TOKEN: undefined,
    AWS_ENDPOINT_URL_S3: 'http://s3.internal:4569',
    S3_PUBLIC_ENDPOINT: undefined,
    S3_FORCE_PATH_STYLE: 'true',
  };
  for (const [k, v] of Object.entries({ ...base, ...env })) vi.stubEnv(k, v);
  const mod = (await import('../../functions/handlers/presignUpload.js')) as { handler: (e: HttpEvent) => Promise<HttpResult> };
  return async (e: HttpEvent) => {
    const res = await mod.handler(e);
    return { status: res.statusCode, body: JSON.parse(res.body ?? 'null') as Record<string, any> };
  };
}

const good = { filename: 'traces.jsonl', type: 'application/jsonl', size: 1000 };

describe('POST .../traces/upload', () => {
  let handler: Awaited<ReturnType<typeof loadHandler>>;
  beforeEach(async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    handler = await loadHandler();
  });
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('answers the URL, the key, the expiry and the header to send, as one JSON object', async () => {
    const before = Date.now();
    const { status, body } = await handler(event(good));
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(['expires_at', 'headers', 'organization_id', 'project_id', 'upload_key', 'url']);
    expect(body).toMatchObject({
      organization_id: ORG,
      project_id: PROJECT,
      upload_key: `uploads/${ORG}/${PROJECT}/traces.jsonl`,
      headers: { 'Content-Type': 'application/jsonl' },
    });
    const expires = Date.parse(body.expires_at as string);
    expect(expires).toBeGreaterThanOrEqual(before + 899_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 900_000);
    const url = new URL(body.url as string);
    expect(url.origin).toBe('http://s3.internal:4569');
    expect(url.pathname).toBe(`/trace-bucket/uploads/${ORG}/${PROJECT}/traces.jsonl`);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('900');
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;content-type;host');
    expect(signatureFor(url, 'PUT', { 'content-type': 'application/jsonl', 'content-length': '1000' })).toBe(
      url.searchParams.get('X-Amz-Signature'),
    );
  });

  it('points the URL at S3_PUBLIC_ENDPOINT when set', async () => {
    handler = await loadHandler({ S3_PUBLIC_ENDPOINT: 'https://s3.public.example.com:8443' });
    const { status, body } = await handler(event(good));
    expect(status).toBe(200);
    expect(new URL(body.url as string).origin).toBe('https://s3.public.example.com:8443');
  });

  it("uses AWS's own endpoint when neither is set (virtual-hosted unless path style is forced)", async () => {
    handler = await loadHandler({ AWS_ENDPOINT_URL_S3: undefined, S3_FORCE_PATH_STYLE: 'false', AWS_REGION: 'eu-west-1' });
    const { body } = await handler(event(good));
    const url = new URL(body.url as string);
    expect(url.host).toBe('trace-bucket.s3.eu-west-1.amazonaws.com');
    expect(url.pathname).toBe(`/uploads/${ORG}/${PROJECT}/traces.jsonl`);
  });

  it.each([
    ['a JSON file, any case', { filename: 'RUN.JSON', type: 'application/json' }],
    ['a JSONL file with a mixed-case extension', { filename: 'x.JsonL', type: 'application/jsonl' }],
    ['a name with spaces, + and non-ASCII', { filename: 'my file+v2 ünï 😀.jsonl' }],
    ['a name of 255 characters', { filename: `${'a'.repeat(249)}.jsonl` }],
    ['application/x-ndjson', { type: 'application/x-ndjson' }],
    ['application/x-jsonlines', { type: 'application/x-jsonlines' }],
    ['text/plain', { type: 'text/plain' }],
    ['application/octet-stream', { type: 'application/octet-stream' }],
    ['a type in another case, with a charset', { type: 'Application/JSON; charset=utf-8' }],
    ['the smallest size', { size: 1 }],
    ['exactly 50 MiB', { size: MAX_FILE_BYTES }],
  ])('accepts %s', async (_, change) => {
    const req = { ...good, ...change };
    const { status, body } = await handler(event(req));
    expect(status).toBe(200);
    expect(body.headers).toEqual({ 'Content-Type': req.type });
    expect(body.upload_key).toBe(`uploads/${ORG}/${PROJECT}/${req.filename}`);
  });

  it.each<[string, Record<string, unknown>, string, RegExp]>([
    ['no filename', { filename: undefined }, 'filename', /is required/],
    ['a filename that is not a string', { filename: 7 }, 'filename', /must be a string/],
    ['an empty filename', { filename: '' }, 'filename', /must not be empty/],
    ['a filename of 256 characters', { filename: `${'a'.repeat(250)}.jsonl` }, 'filename', /at most 255/],
    ['another extension', { filename: 'notes.txt' }, 'filename', /must end in \.json or \.jsonl/],
    ['no extension', { filename: 'jsonl' }, 'filename', /must end in \.json or \.jsonl/],
    ['.json.gz', { filename: 'a.json.gz' }, 'filename', /must end in \.json or \.jsonl/],
    ['a parent-directory path', { filename: '../x.jsonl' }, 'filename', /without \/ or \\/],
    ['a sub-folder', { filename: 'a/b.jsonl' }, 'filename', /without \/ or \\/],
    ['an absolute path', { filename: '/etc/x.json' }, 'filename', /without \/ or \\/],
    ['a backslash path', { filename: 'a\\b.jsonl' }, 'filename', /without \/ or \\/],
    ['a Windows parent path', { filename: '..\\x.jsonl' }, 'filename', /without \/ or \\/],
    ['a NUL character', { filename: 'a\u0000.jsonl' }, 'filename', /control characters/],
    ['a newline', { filename: 'a\n.jsonl' }, 'filename', /control characters/],
    ['a carriage return', { filename: 'a\r.jsonl' }, 'filename', /control characters/],
    ['a tab', { filename: 'a\t.jsonl' }, 'filename', /control characters/],
    ['DEL', { filename: 'a\u007f.jsonl' }, 'filename', /control characters/],
    ['"."', { filename: '.' }, 'filename', /not \. or \.\./],
    ['".."', { filename: '..' }, 'filename', /not \. or \.\./],
    ['an unpaired surrogate', { filename: 'a\ud800.jsonl' }, 'filename', /valid Unicode/],
    ['no type', { type: undefined }, 'type', /is required/],
    ['a type that is not a string', { type: 1 }, 'type', /must be a string/],
    [
      'text/html',
      { type: 'text/html' },
      'type',
      /must be one of application\/json, application\/jsonl, application\/x-ndjson, application\/x-jsonlines, text\/plain, application\/octet-stream/,
    ],
    ['application/xml', { type: 'application/xml' }, 'type', /must be one of/],
    ['an empty type', { type: '' }, 'type', /must be one of/],
    ['a type with a header injection', { type: 'application/json\r\nx-amz-acl: public-read' }, 'type', /must be one of/],
    ['a type that is not a media type', { type: 'json' }, 'type', /must be one of/],
    ['no size', { size: undefined }, 'size', /is required/],
    ['a size as a string', { size: '1000' }, 'size', /integer number of bytes/],
    ['a size of null', { size: null }, 'size', /integer number of bytes/],
    ['a size of 0', { size: 0 }, 'size', /at least 1 byte/],
    ['a negative size', { size: -5 }, 'size', /at least 1 byte/],
    ['a fractional size', { size: 10.5 }, 'size', /integer/],
    ['a size over 50 MiB', { size: MAX_FILE_BYTES + 1 }, 'size', /at most 52428800 bytes/],
    ['an astronomically large size', { size: 1e300 }, 'size', /./],
  ])('refuses %s with a 400 naming the field', async (_, change, field, message) => {
    const { status, body } = await handler(event({ ...good, ...change }));
    expect(status).toBe(400);
    expect(body.error.code).toBe('invalid_body');
    expect(body.error.message).toMatch(new RegExp(`^${field}: `));
    expect(body.error.message).toMatch(message);
  });

  it('names every bad field at once', async () => {
    const { status, body } = await handler(event({ filename: '../x', type: 'text/html', size: 0 }));
    expect(status).toBe(400);
    expect(body.error.message).toMatch(/filename: .*; type: .*; size: /);
  });

  it('refuses a body that is not a JSON object, and one that is not JSON', async () => {
    expect((await handler(event(['traces.jsonl']))).status).toBe(400);
    expect((await handler(event(null, { raw: '{"filename":' }))).body.error.code).toBe('invalid_json');
    expect((await handler(event(good, { contentType: 'text/plain' }))).status).toBe(415);
  });

  it('answers 404 for another organization or project, whatever the body', async () => {
    for (const e of [event(good, { org: 'org-2' }), event(good, { project: 'proj-2' }), event({ filename: '../x' }, { org: 'org-2' })]) {
      const { status, body } = await handler(e);
      expect(status).toBe(404);
      expect(body).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
    }
  });
});

describe('filename and type rules', () => {
  it('accept only plain trace file names', () => {
    expect(filenameProblem('a.jsonl')).toBeNull();
    expect(filenameProblem('.json')).toBeNull();
    for (const bad of ['', '.', '..', '../a.json', 'a/b.json', 'a\\b.json', 'x\u0000.json', 'x\u001f.json', 'x\u007f.json', 'a.csv']) {
      expect(filenameProblem(bad), bad).not.toBeNull();
    }
  });

  it('accept the allowed media types with parameters, nothing else', () => {
    expect(uploadTypeProblem('application/json')).toBeNull();
    expect(uploadTypeProblem('TEXT/PLAIN;charset="utf-8"')).toBeNull();
    for (const bad of [
      'application/json;',
      'application/json; charset',
      'application/json\n',
      'image/png',
      ' application/json',
      'x'.repeat(300),
    ]) {
      expect(uploadTypeProblem(bad), bad).not.toBeNull();
    }
  });
});
