/** The CLI's terminal output (progress, colour) and its tree rendering, against a fake API in this process. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, renderForest, type CliIo } from '../../cli/trace-ingest.js';
import { TraceIngestClient, type TraceLogTree } from '../../sdk/index.js';
import { uploadId } from '../../functions/domain/ids.js';

let server: Server;
let baseUrl = '';
let received = 0;
let tmp: string;
let createDelayMs = 0;
/** The id the server names the fake's upload by: its object key and version (functions/domain/ids.ts). */
const watchedUpload = uploadId({ organizationId: 'o', projectId: 'p', objectKey: 'uploads/o/p/x.jsonl', version: 'version-1' });

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'sdk-cli-'));
  server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      received += c.length;
      chunks.push(c);
    });
    req.on('end', () => {
      if (req.url === '/api/v1/organizations')
        return send(200, { data: { id: 'o', name: 'o', owner_id: null, projects: [{ id: 'p', name: 'p' }] } });
      if (req.url === '/o/p/put') {
        res.setHeader('x-amz-version-id', 'version-1'); // as the versioned bucket answers a PUT
        return send(200, {});
      }
      if (req.url?.endsWith('/traces/upload'))
        return send(200, {
          url: `${baseUrl}/o/p/put`,
          upload_key: 'uploads/o/p/x.jsonl',
          headers: { 'Content-Type': 'application/jsonl' },
        });
      // The upload that PUT made, while the server ingests it (the create call below takes its time).
      if (req.url === `/api/v1/organizations/o/projects/p/uploads/${watchedUpload}`)
        return send(200, { upload_id: watchedUpload, status: 'processing', records: 120, error_count: 1 });
      if (req.url?.endsWith('/traces')) {
        const answer = {
          trace_ids: ['a', 'b'],
          upload_id: '11111111-1111-1111-1111-111111111111',
          status: 'completed',
          errors: [{ line: 3, message: 'not JSON' }],
          error_count: 1,
          records: 3,
        };
        return void setTimeout(() => send(200, answer), createDelayMs);
      }
      send(404, { error: { code: 'not_found', message: 'nothing here' } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(tmp, { recursive: true, force: true });
});

function io(isTTY: boolean) {
  const out: string[] = [];
  const err: string[] = [];
  const value: CliIo = {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    env: {},
    isTTY,
    client: () => new TraceIngestClient({ baseUrl, apiKey: 'k', env: {}, retryBaseDelayMs: 1, pollIntervalMs: 20 }),
  };
  return { io: value, out, err };
}

describe('trace-ingest upload on a terminal', () => {
  it('shows a progress line (bytes), then the traces, in colour; bad lines as "line N:"; exit 1', async () => {
    const file = join(tmp, 'x.jsonl');
    writeFileSync(file, `${'{"input":"a"}\n'.repeat(60_000)}`);
    const { io: tty, out } = io(true);
    const code = await main(['upload', file], tty);
    expect(code).toBe(1);
    const text = out.join('');
    expect(text).toMatch(/\r\x1b\[2K.*x\.jsonl {2}\[#+-*\] \d+(\.\d)? (KiB|MiB) \/ 820\.3 KiB/);
    expect(text).toContain('820.3 KiB sent, creating traces…');
    expect(text).toContain('\x1b[32m2 traces created\x1b[39m');
    expect(text).toContain('  line 3: not JSON\n');
    expect(received).toBeGreaterThanOrEqual(60_000 * 14);
  });

  it("shows the server's ingest as it goes: records so far, bad lines so far", async () => {
    const file = join(tmp, 'x.jsonl');
    createDelayMs = 300;
    try {
      const { io: tty, out } = io(true);
      expect(await main(['upload', file], tty)).toBe(1);
      expect(out.join('')).toContain('820.3 KiB sent, ingesting: 120 records, 1 bad line…');
    } finally {
      createDelayMs = 0;
    }
  });

  it('no escape codes off a terminal, nor with NO_COLOR', async () => {
    const file = join(tmp, 'x.jsonl');
    const { io: plain, out } = io(false);
    await main(['upload', file], plain);
    expect(out.join('')).not.toContain('\x1b');
    const { io: tty, out: out2 } = io(true);
    tty.env = { NO_COLOR: '1' };
    await main(['upload', file], tty);
    expect(out2.join('')).not.toContain('\x1b[32m');
  });

  it('an API error is one plain line and exit 1', async () => {
    const { io: plain, err } = io(false);
    expect(await main(['get', 'zzz'], plain)).toBe(1);
    expect(err.join('')).toBe('error: nothing here (404 not_found)\n');
  });
});

describe('renderForest', () => {
  const node = (id: string, name: string, children: TraceLogTree[] = [], extra: Partial<TraceLogTree> = {}): TraceLogTree => ({
    trace_id: id,
    trace_name: name,
    status: 'success',
    latency: 0.25,
    scores: [],
    children_logs: children,
    ...extra,
  });

  it('indents children with branches, shows latency and scores', () => {
    const forest = [
      node(
        'r',
        'root',
        [
          node('a', 'a', [node('a1', 'a1', [], { scores: [{ name: 'acc', score: 0.5 }] })]),
          node('b', 'b', [], { status: 'error', latency: 1.5 }),
        ],
        { tree_flags: { orphan: true } },
      ),
    ];
    expect(renderForest(forest)).toEqual([
      'root  success  250ms  r (orphan)',
      '├─ a  success  250ms',
      '│  └─ a1  success  250ms  acc=0.5',
      '└─ b  error  1.50s',
    ]);
  });

  it('prints a 10,000-deep chain without recursion', () => {
    let tree = node('n9999', 'leaf');
    for (let i = 9998; i >= 0; i--) tree = node(`n${i}`, `s${i}`, [tree]);
    const lines = renderForest([tree]);
    expect(lines).toHaveLength(10_000);
    expect(lines.at(-1)).toMatch(/└─ leaf {2}success {2}250ms$/);
  });
});
