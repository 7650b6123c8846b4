import { isDomainError } from '../domain/errors.js';
import { exportTraces, type OtelIngestDeps } from '../domain/otel/ingest.js';
import {
  decodeRequest,
  decompress,
  encodeResponse,
  encodeStatus,
  encodingOf,
  grpcCodeFor,
  loadOtlpCodec,
  OtlpRequestError,
  type OtlpEncoding,
} from '../domain/otel/otlp.js';
import { tenantOfKey } from '../shared/api-key-auth.js';
import { DOMAIN_ERROR_STATUS, header, HttpError, isThrottle, type HttpEvent, type HttpResult } from '../shared/http.js';
import { otlpDeps } from '../shared/services.js';

/** No request API Gateway passes on is larger (10 MB; 6 MB reach a Lambda): a larger event is refused unread. */
const MAX_RAW_BODY_BYTES = 10 * 1024 * 1024;

/**
 * An OTLP error answer in the request's encoding: a protobuf request gets a protobuf google.rpc.Status
 * (as OTLP/HTTP requires); any other a JSON one that is both a JSON Status (`code`, `message`) and
 * our `{"error": {"code", "message"}}`.
 */
function errorAnswer(
  encoding: OtlpEncoding | null,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): HttpResult {
  if (encoding === 'protobuf') {
    return {
      statusCode: status,
      headers: { 'content-type': 'application/x-protobuf', ...headers },
      body: encodeStatus(grpcCodeFor(status), message).toString('base64'),
      isBase64Encoded: true,
    };
  }
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    body: JSON.stringify({ code: grpcCodeFor(status), message, error: { code, message } }),
  };
}

/** The body's bytes. A gzip body API Gateway passed as text (it does so for JSON types) is read back byte for byte if it can be. */
function bodyOf(event: HttpEvent, contentEncoding: string | undefined): Buffer {
  if (event.body === undefined || event.body === null) return Buffer.alloc(0);
  if (event.isBase64Encoded) return Buffer.from(event.body, 'base64');
  const utf8 = Buffer.from(event.body, 'utf8');
  if (!/gzip/i.test(contentEncoding ?? '') || (utf8[0] === 0x1f && utf8[1] === 0x8b)) return utf8;
  return Buffer.from(event.body, 'latin1');
}

/** POST /otel/v1/traces (OTLP/HTTP), on the given adapters. */
export function makeOtlpHandler(deps: () => OtelIngestDeps) {
  return async (event: HttpEvent): Promise<HttpResult> => {
    const encoding = encodingOf(header(event.headers, 'content-type'));
    try {
      // The route authenticates itself (auth 'apiKeyInRoute'): OTLP/HTTP wants a 401 for a missing or bad key.
      const tenant = await tenantOfKey(event.headers);
      if (encoding === null) {
        throw new OtlpRequestError(
          'unsupported_media_type',
          `the body must be application/x-protobuf or application/json (OTLP/HTTP), not ${header(event.headers, 'content-type') ?? 'none'}`,
        );
      }
      const contentEncoding = header(event.headers, 'content-encoding');
      const raw = bodyOf(event, contentEncoding);
      if (raw.length > MAX_RAW_BODY_BYTES) throw new OtlpRequestError('payload_too_large', `the body is over ${MAX_RAW_BODY_BYTES} bytes`);
      await loadOtlpCodec();
      const request = decodeRequest(decompress(raw, contentEncoding), encoding);
      const result = await exportTraces(deps(), tenant, request);
      const body = encodeResponse(result, encoding);
      if (typeof body === 'string') return { statusCode: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body };
      return {
        statusCode: 200,
        headers: { 'content-type': 'application/x-protobuf' },
        body: body.toString('base64'),
        isBase64Encoded: true,
      };
    } catch (err) {
      if (err instanceof HttpError) return errorAnswer(encoding, err.statusCode, err.code, err.message);
      if (isDomainError(err)) {
        const [status, code] = DOMAIN_ERROR_STATUS[err.kind];
        // OTLP exporters retry a 429 after Retry-After; the export is idempotent.
        return errorAnswer(encoding, status, code, err.message, status === 429 ? { 'retry-after': '1' } : {});
      }
      if (isThrottle(err))
        return errorAnswer(encoding, 429, 'too_many_requests', 'the store is busy; retry after a moment', { 'retry-after': '1' });
      console.error(
        JSON.stringify({ level: 'error', msg: 'unhandled error', route: event.routeKey, error: String(err), stack: (err as Error)?.stack }),
      );
      return errorAnswer(encoding, 500, 'internal_error', 'the server failed to answer this request');
    }
  };
}

/** POST /otel/v1/traces: an OTLP/HTTP trace export (protobuf or JSON, gzip or not); spans become trace logs and traces. */
export const handler = makeOtlpHandler(otlpDeps);
