import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { routes, workerHandlers, type RouteDef } from '../functions/routes.js';
import type { HttpEvent, HttpResult } from '../functions/shared/http.js';
import type { ViewerFile } from '../web/build.js';
import { viewerCsp } from '../web/csp.js';
import { httpEvent } from './events.js';

type HttpHandlerFn = (event: HttpEvent) => Promise<HttpResult | string | Record<string, unknown>>;
type AuthorizerFn = (event: {
  headers: Record<string, string | undefined>;
}) => Promise<{ isAuthorized: boolean; context?: Record<string, unknown> }>;

/**
 * A synchronous Lambda invocation carries at most 6 MB (6,291,456 bytes): the whole event, its body
 * base64-encoded when binary or escaped inside the JSON when text. API Gateway refuses a larger
 * request with 413 before any function runs (and anything over 10 MB at once); so does this server.
 */
export const MAX_EVENT_BYTES = 6 * 1024 * 1024;
/** Bodies over this are refused with 413 while they arrive, unread: no event holding them could be invoked. */
export const MAX_BODY_BYTES = MAX_EVENT_BYTES;

/**
 * The body types API Gateway's HTTP API passes to Lambda as text; every other body (no type,
 * form posts, protobuf...) arrives base64-encoded with `isBase64Encoded: true`, as does a
 * compressed one here (its bytes are not text).
 */
export function isTextBody(contentType: string | undefined, contentEncoding: string | undefined): boolean {
  const encoding = (contentEncoding ?? '').trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity') return false;
  const type = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  return type.startsWith('text/') || type === 'application/json' || type === 'application/xml' || type === 'application/javascript';
}

/** Bytes a body takes in the event: base64 for binary, JSON-escaped for text (quotes, backslashes, control characters). */
function eventBodyBytes(body: Buffer, text: boolean): number {
  if (!text) return Math.ceil(body.length / 3) * 4;
  let extra = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === 0x22 || c === 0x5c) extra += 1;
    else if (c < 0x20) extra += 5;
  }
  return body.length + extra;
}

interface CompiledRoute {
  def: RouteDef;
  regex: RegExp;
  params: string[];
}

function compile(def: RouteDef): CompiledRoute {
  const params: string[] = [];
  const pattern = def.path
    .split('/')
    .map((segment) => {
      const m = /^\{([A-Za-z0-9_]+)(\+?)\}$/.exec(segment);
      if (!m) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      params.push(m[1]!);
      return m[2] ? '(.+)' : '([^/]+)';
    })
    .join('/');
  return { def, regex: new RegExp(`^${pattern}$`), params };
}

/** Loads a handler module by its route-table name: the same entry file the CDK bundles. */
async function loadHandler<T>(name: string): Promise<T> {
  const mod = (await import(`../functions/handlers/${name}.ts`)) as { handler: T };
  return mod.handler;
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(body);
}

function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  send(res, status, JSON.stringify({ error: { code, message } }), headers);
}

/**
 * The local API: matches a request against the route table, runs the same
 * API-key authorizer, then the route's Lambda handler with an API Gateway
 * HTTP API (payload v2) event, and writes its answer.
 */
export async function startApiServer(options: {
  port: number;
  host?: string;
}): Promise<{ url: string; server: Server; stop(): Promise<void> }> {
  // Most specific first: a static segment wins over a parameter, as on API Gateway.
  const compiled = routes.map(compile).sort((a, b) => a.params.length - b.params.length);
  const authorizer = await loadHandler<AuthorizerFn>(workerHandlers.authorizer);
  // Each handler module is loaded on its route's first request, as a Lambda's code is on its first invocation.
  const handlers = new Map<string, Promise<HttpHandlerFn>>();
  const handlerFor = (name: string) => {
    let h = handlers.get(name);
    if (!h) handlers.set(name, (h = loadHandler<HttpHandlerFn>(name)));
    return h;
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      console.error('[api] unhandled', err);
      if (!res.headersSent) sendError(res, 500, 'internal_error', 'the server failed to answer this request');
      else res.destroy();
    });
  });
  // Idle keep-alive connections outlive any client's reuse of them (Node's 5 s default races a client that
  // sends on an idle socket just as the server closes it: ECONNRESET on a busy machine).
  server.keepAliveTimeout = 65_000;
  // Requests Node's HTTP parser refuses (a malformed request line or header, conflicting framing, headers
  // over 16 KB) get a JSON error too, not Node's default bare status line.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const [status, code] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'request_header_fields_too_large']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'request_timeout']
          : [400, 'bad_request'];
    const body = JSON.stringify({
      error: {
        code,
        message:
          status === 431
            ? 'the request headers are too large'
            : status === 408
              ? 'the request took too long to arrive'
              : 'the request is not valid HTTP',
      },
    });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  // An Expect header other than 100-continue: Node answers 417 itself unless told how.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('connection', 'close');
    sendError(res, 417, 'expectation_failed', `cannot meet the expectation ${JSON.stringify(req.headers.expect ?? '')}`);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'http://local');
    const method = (req.method ?? 'GET').toUpperCase();
    let path: string;
    try {
      path = decodeURI(url.pathname);
    } catch {
      return sendError(res, 400, 'bad_request', 'the request path is not valid percent-encoding');
    }
    // The web viewer at the root, as CloudFront serves it on AWS; the API stays under /api/.
    if ((method === 'GET' || method === 'HEAD') && !url.pathname.startsWith('/api/')) {
      const file = (await viewerFiles()).get(url.pathname === '/' ? '/index.html' : url.pathname);
      if (file) return sendViewerFile(res, file, method === 'HEAD');
    }
    // Browsers on another origin may call the API, as API Gateway's CORS configuration allows.
    if (req.headers.origin !== undefined) for (const [k, v] of Object.entries(corsHeaders())) res.setHeader(k, v);
    const onPath = compiled.filter((r) => r.regex.test(url.pathname));
    if (onPath.length === 0) return sendError(res, 404, 'not_found', `no route for ${method} ${path}`);
    const route = onPath.find((r) => r.def.method === method);
    if (!route) {
      if (method === 'OPTIONS') return send(res, 204, '', { ...corsHeaders(), 'access-control-max-age': '3600' });
      const allow = [...new Set(onPath.map((r) => r.def.method))].join(', ');
      return sendError(res, 405, 'method_not_allowed', `${method} is not allowed on ${path}; allowed: ${allow}`, { allow });
    }

    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        res.setHeader('connection', 'close');
        return sendError(res, 413, 'payload_too_large', `the request body is over ${MAX_BODY_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
    const bodyBuf = Buffer.concat(chunks);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
    }
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;
    const match = route.regex.exec(url.pathname)!;
    const pathParameters: Record<string, string> = {};
    route.params.forEach((name, i) => {
      const rawValue = match[i + 1]!;
      try {
        pathParameters[name] = decodeURIComponent(rawValue);
      } catch {
        pathParameters[name] = rawValue;
      }
    });

    let lambdaContext: Record<string, unknown> | undefined;
    if (route.def.auth === 'apiKey') {
      const auth = await authorizer({ headers });
      // API Gateway's own answer to an authorizer's deny (the routes have no identity source, so never its 401).
      if (!auth.isAuthorized) return send(res, 403, JSON.stringify({ message: 'Forbidden' }));
      lambdaContext = auth.context;
    }

    const routeKey = `${route.def.method} ${route.def.path}`;
    const isText = bodyBuf.length === 0 || isTextBody(headers['content-type'], headers['content-encoding']);
    // The event beyond its body (headers, context) takes a few KB: the body gets the rest of Lambda's 6 MB.
    const headerBytes = 4096 + Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length + 8, 0) + url.search.length * 2;
    if (bodyBuf.length > 0 && eventBodyBytes(bodyBuf, isText) + headerBytes > MAX_EVENT_BYTES) {
      return sendError(
        res,
        413,
        'payload_too_large',
        `the request body is over what one Lambda invocation carries (${MAX_EVENT_BYTES} bytes with the event around it)`,
      );
    }
    const event = httpEvent({
      method,
      path: url.pathname,
      routeKey,
      headers,
      rawQueryString: url.search.slice(1),
      query,
      pathParameters,
      ...(bodyBuf.length ? { body: isText ? bodyBuf.toString('utf8') : bodyBuf.toString('base64') } : {}),
      isBase64Encoded: !isText,
      ...(lambdaContext ? { authorizer: lambdaContext } : {}),
      sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
      protocol: `HTTP/${req.httpVersion}`,
      at: started,
    });

    const out = await (await handlerFor(route.def.handler))(event);
    writeResult(res, out);
  }

  // A port taken meanwhile is an error for the caller (npm start says so; tests pick other ports), not an uncaught crash.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Maps a payload v2 handler answer to HTTP the way API Gateway does. */
function writeResult(res: ServerResponse, out: HttpResult | string | Record<string, unknown>): void {
  if (typeof out === 'string' || !('statusCode' in out)) {
    send(res, 200, typeof out === 'string' ? out : JSON.stringify(out));
    return;
  }
  const r = out as HttpResult;
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) headers[k] = String(v);
  if (r.cookies?.length) headers['set-cookie'] = r.cookies;
  res.writeHead(r.statusCode ?? 200, headers);
  res.end(r.body === undefined ? undefined : r.isBase64Encoded ? Buffer.from(r.body, 'base64') : r.body);
}

function corsHeaders(): Record<string, string> {
  return {
    'access-control-allow-origin': '*',
    'access-control-allow-methods': 'GET,POST,PUT,DELETE,OPTIONS',
    'access-control-allow-headers': 'content-type,x-api-key,authorization',
    'access-control-expose-headers': 'x-next-cursor',
  };
}

let viewer: Promise<Map<string, ViewerFile>> | undefined;

/** The viewer, built in memory with esbuild on the first request for it (a stack nobody browses never builds it). */
function viewerFiles(): Promise<Map<string, ViewerFile>> {
  viewer ??= import('../web/build.js').then(async ({ buildViewer }) => {
    const files = new Map((await buildViewer()).map((f) => [f.path, f]));
    // The API is this same origin (on AWS the CDK app writes the API's URL here).
    files.set('/config.json', {
      path: '/config.json',
      contents: new TextEncoder().encode('{"apiUrl":""}\n'),
      contentType: 'application/json; charset=utf-8',
      immutable: false,
    });
    return files;
  });
  viewer.catch(() => (viewer = undefined));
  return viewer;
}

/**
 * A viewer file with the headers the CloudFront distribution sends (lib/constructs/viewer.ts): a
 * content security policy that lets the page talk to this API and PUT to the local S3 endpoint only.
 */
function sendViewerFile(res: ServerResponse, file: ViewerFile, headOnly: boolean): void {
  const s3 = process.env.S3_PUBLIC_ENDPOINT ?? process.env.AWS_ENDPOINT_URL_S3;
  res.writeHead(200, {
    'content-type': file.contentType,
    'content-length': String(file.contents.length),
    'cache-control': file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    'content-security-policy': viewerCsp(s3 ? new URL(s3).origin : ''),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  });
  res.end(headOnly ? undefined : file.contents);
}
