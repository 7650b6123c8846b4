/** The plumbing both DynamoDB proxies (fault-proxy.ts, capacity-model.ts) share: forward a call, write an answer. */
import {
  createServer,
  request,
  type Agent,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Forwarded {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Sends `body` to DynamoDB at `target` with the caller's headers (its host and length replaced). */
export function forwardTo(
  target: URL,
  agent: Agent,
  call: {
    method?: string | undefined;
    path?: string | undefined;
    headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>;
  },
  body: Buffer,
): Promise<Forwarded> {
  return new Promise((resolve, reject) => {
    const headers = { ...call.headers, host: target.host, 'content-length': String(body.length) };
    const out = request(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        method: call.method ?? 'POST',
        path: call.path ?? '/',
        headers,
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    out.on('error', reject);
    out.end(body);
  });
}

/** Answers with `body`, keeping DynamoDB's headers but those that describe the original body (its length and CRC). */
export function writeAnswer(
  res: ServerResponse,
  status: number,
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
  body: Buffer,
): void {
  const h: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers))
    if (v !== undefined && k !== 'content-length' && k !== 'x-amz-crc32' && k !== 'transfer-encoding') h[k] = v;
  res.writeHead(status, { ...h, 'content-length': String(body.length) });
  res.end(body);
}

/**
 * A proxy server on a free port of 127.0.0.1: each call's body read whole and its DynamoDB operation
 * (from X-Amz-Target) handed to `handle`; a call `handle` fails drops its connection, as a network fault would.
 */
export async function startProxyServer(
  handle: (req: IncomingMessage, res: ServerResponse, body: Buffer, operation: string) => Promise<void>,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const operation =
        String(req.headers['x-amz-target'] ?? '')
          .split('.')
          .pop() ?? '';
      handle(req, res, Buffer.concat(chunks), operation).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}
