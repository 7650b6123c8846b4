import { type Agent, request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

/** A request sent as is: no URL normalization, no automatic decompression, any method, path bytes and headers. */
export interface RawRequest {
  method: string;
  /** Path and query exactly as they go on the request line (characters 0x21 to 0xff only). */
  path: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  bytes: Buffer;
  text: string;
}

/**
 * Sends one request with node:http and answers the response. A connection the
 * server ends after answering (413 on a body it stopped reading) still answers
 * the response it got; only a request that got no response at all rejects.
 */
export function rawRequest(baseUrl: string, req: RawRequest, opts: { agent?: Agent; timeoutMs?: number } = {}): Promise<RawResponse> {
  const url = new URL(baseUrl);
  const headers = { ...(req.headers ?? {}) };
  // node:http sends a GET or DELETE body unframed (no Content-Length, not chunked): frame it, as any real client does.
  if (
    req.body !== undefined &&
    !Object.keys(headers).some((k) => k.toLowerCase() === 'content-length' || k.toLowerCase() === 'transfer-encoding')
  ) {
    headers['content-length'] = String(Buffer.byteLength(req.body));
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (fn: () => void) => {
      if (!settled) {
        settled = true;
        fn();
      }
    };
    const r = request(
      { host: url.hostname, port: url.port, method: req.method, path: req.path, headers, agent: opts.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          done(() => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, text: bytes.toString('utf8') }));
        });
        res.on('error', (e) => done(() => reject(e)));
      },
    );
    r.setTimeout(opts.timeoutMs ?? 30_000, () => r.destroy(new Error(`no answer within ${opts.timeoutMs ?? 30_000} ms`)));
    // A write error after the server answered and closed (it refused the rest of a big body) is not a failure by itself.
    r.on('error', (e) => setTimeout(() => done(() => reject(e)), 200));
    r.end(req.body);
  });
}

/**
 * Writes bytes straight onto a TCP connection (for requests node:http would
 * refuse to send: malformed request lines, conflicting framing headers) and
 * parses the one response the server sends before it closes the connection.
 */
export function rawSocketRequest(baseUrl: string, bytes: string | Buffer, timeoutMs = 15_000): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      try {
        resolve(parseResponse(Buffer.concat(chunks)));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      // One response is all this asks for: stop once it is complete.
      try {
        if (isComplete(Buffer.concat(chunks))) {
          socket.destroy();
          finish();
        }
      } catch {
        // keep reading
      }
    });
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', (e) => {
      clearTimeout(timer);
      if (chunks.length) finish();
      else reject(e);
    });
    socket.write(bytes);
  });
}

function splitHead(buf: Buffer): { status: number; headers: IncomingHttpHeaders; rest: Buffer } {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no complete response head in ${JSON.stringify(buf.toString('latin1').slice(0, 200))}`);
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`);
  const headers: IncomingHttpHeaders = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(m[1]), headers, rest: buf.subarray(end + 4) };
}

function dechunk(buf: Buffer): { body: Buffer; complete: boolean } {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return { body: Buffer.concat(parts), complete: false };
    const size = parseInt(buf.subarray(at, eol).toString('latin1'), 16);
    if (Number.isNaN(size)) throw new Error('bad chunk size');
    if (size === 0) return { body: Buffer.concat(parts), complete: true };
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
    if (at > buf.length) return { body: Buffer.concat(parts), complete: false };
  }
}

function isComplete(buf: Buffer): boolean {
  const { headers, rest } = splitHead(buf);
  if (headers['transfer-encoding'] === 'chunked') return dechunk(rest).complete;
  const length = headers['content-length'];
  return length !== undefined && rest.length >= Number(length);
}

function parseResponse(buf: Buffer): RawResponse {
  const { status, headers, rest } = splitHead(buf);
  const bytes = headers['transfer-encoding'] === 'chunked' ? dechunk(rest).body : rest;
  return { status, headers, bytes, text: bytes.toString('utf8') };
}

/** A request in a failure message: method, path, headers and (an excerpt of) the body, enough to send it again. */
export function describeRequest(req: RawRequest | { raw: string | Buffer }): string {
  const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);
  if ('raw' in req) return `raw bytes: ${JSON.stringify(cut(Buffer.from(req.raw).toString('latin1'), 600))}`;
  const headers = Object.fromEntries(
    Object.entries(req.headers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.map((x) => cut(x, 120)) : cut(v, 120)]),
  );
  const body =
    req.body === undefined
      ? '(none)'
      : Buffer.isBuffer(req.body) && !Buffer.from(req.body.toString('utf8')).equals(req.body)
        ? `${req.body.length} bytes, hex ${cut(req.body.toString('hex'), 400)}`
        : JSON.stringify(cut(req.body.toString(), 600));
  return `${req.method} ${cut(req.path, 400)}\n  headers: ${JSON.stringify(headers)}\n  body: ${body}`;
}
