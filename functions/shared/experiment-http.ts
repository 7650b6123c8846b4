import { gzipSync } from 'node:zlib';
import type { ExperimentStats } from '../domain/experiments.js';
import { MAX_ANSWER_WIRE_BYTES } from '../domain/trace-logs.js';
import { acceptsGzip } from '../handlers/experimentTraceLogs.js';
import { HttpError, rawJson, type HttpEvent, type HttpResult } from './http.js';

/** An experiment's stats: gzipped when the caller accepts it (one entry per tree: a large experiment's stats are megabytes). */
export function statsAnswer(event: HttpEvent, stats: ExperimentStats): HttpResult {
  const body = JSON.stringify(stats);
  if (acceptsGzip(event) && body.length > 1024) {
    const zipped = gzipSync(body);
    if (zipped.length * (4 / 3) > MAX_ANSWER_WIRE_BYTES) throw new HttpError(413, 'too_large', 'these stats are over what one answer carries');
    return { statusCode: 200, headers: { 'content-type': 'application/json; charset=utf-8', 'content-encoding': 'gzip', vary: 'accept-encoding' }, body: zipped.toString('base64'), isBase64Encoded: true };
  }
  if (Buffer.byteLength(body) * 1.1 > MAX_ANSWER_WIRE_BYTES) throw new HttpError(413, 'too_large', 'these stats are over what one answer carries: send Accept-Encoding: gzip');
  return rawJson(200, body, { vary: 'accept-encoding' });
}
