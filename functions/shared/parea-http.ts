/**
 * The HTTP side of the Parea routes (trace logs and experiments; the domain is functions/domain/parea/):
 * the write routes' handler, and the answers that must fit what a Lambda answers, gzipped when the
 * caller accepts it.
 */
import { gzipSync } from 'node:zlib';
import * as z from 'zod';
import { escapedBytes } from '../domain/answer-size.js';
import type { Experiment, ExperimentStats } from '../domain/parea/experiments.js';
import type { ExperimentPage, ExperimentRequest, TraceLogDeps, TraceLogPage } from '../domain/parea/index.js';
import type { Tenant } from '../domain/tenancy.js';
import {
  acceptsGzip,
  HttpError,
  httpHandler,
  json,
  jsonAnswer,
  MAX_ANSWER_WIRE_BYTES,
  parseJsonBody,
  tenantOf,
  type HttpEvent,
  type HttpResult,
} from './http.js';
import { traceLogDeps } from './services.js';

/** A route that hands its JSON body to a trace-log write (record or update) and answers `{}`. */
export function traceLogWriteHandler(
  write: (deps: TraceLogDeps, tenant: Tenant, body: unknown) => Promise<unknown>,
  opts: { maxBodyBytes?: number } = {},
) {
  return httpHandler(async (event) => {
    const tenant = tenantOf(event);
    const body = parseJsonBody(z.unknown(), event, opts.maxBodyBytes);
    await write(traceLogDeps(), tenant, body);
    return json(200, {});
  });
}

const MAX_GZIP_BYTES = Math.floor((MAX_ANSWER_WIRE_BYTES * 3) / 4);
/** JSON gathered before gzip (memory bound; JSON rarely compresses better than 8:1). */
const MAX_RAW_BEFORE_GZIP = 32 * 1024 * 1024;

/** How much one experiment page may hold: plain JSON as the response object carries it, or JSON to gzip. */
export function experimentPageSize(gzip: boolean): ExperimentRequest['size'] {
  return gzip
    ? { bytes: MAX_RAW_BEFORE_GZIP, measure: (json) => Buffer.byteLength(json) }
    : { bytes: MAX_ANSWER_WIRE_BYTES, measure: escapedBytes };
}

/** An experiment page as one answer: its JSON array, or the gzip of as many trees as fit (the cursor then goes on from the first left out). */
export function fitExperimentAnswer(
  page: ExperimentPage,
  gzip: boolean,
): { body: string | Buffer; gzip: boolean; nextCursor: string | null; trees: number } {
  if (!gzip) return { body: `[${page.trees.join(',')}]`, gzip: false, nextCursor: page.nextCursor, trees: page.trees.length };
  let n = page.trees.length;
  let nextCursor = page.nextCursor;
  let body = gzipSync(`[${page.trees.join(',')}]`);
  while (body.length > MAX_GZIP_BYTES && n > 1) {
    n = Math.max(1, Math.min(n - 1, Math.floor((n * MAX_GZIP_BYTES * 0.95) / body.length)));
    body = gzipSync(`[${page.trees.slice(0, n).join(',')}]`);
    nextCursor = page.cursorAt(n);
  }
  return { body, gzip: true, nextCursor, trees: n };
}

/** A get_trace_logs page: `{total, page, total_pages, page_size, total_exact, results}`, gzipped when accepted; 413 when over what one answer carries. */
export function traceLogPageAnswer(page: TraceLogPage, gzip: boolean): HttpResult {
  const body = `{"total":${page.total},"page":${page.page},"total_pages":${page.totalPages},"page_size":${page.pageSize},"total_exact":${page.exact},"results":[${page.results.join(',')}]}`;
  const tooLarge = () =>
    new HttpError(
      413,
      'too_large',
      `this page of ${page.pageSize} trees is over what one answer carries (about 5 MB, or 30 MB of JSON gzipped): ask for a smaller page_size, or send Accept-Encoding: gzip`,
    );
  if (gzip) {
    const zipped = gzipSync(body);
    if (zipped.length * (4 / 3) > MAX_ANSWER_WIRE_BYTES) throw tooLarge();
    return jsonAnswer(zipped, { vary: 'accept-encoding' });
  }
  if (Buffer.byteLength(body) * 1.1 > MAX_ANSWER_WIRE_BYTES) throw tooLarge();
  return jsonAnswer(body, { vary: 'accept-encoding' });
}

/** An experiment's stats: gzipped when the caller accepts it (one entry per tree: a large experiment's stats are megabytes). */
export function statsAnswer(event: HttpEvent, stats: ExperimentStats): HttpResult {
  const body = JSON.stringify(stats);
  if (acceptsGzip(event) && body.length > 1024) {
    const zipped = gzipSync(body);
    if (zipped.length * (4 / 3) > MAX_ANSWER_WIRE_BYTES)
      throw new HttpError(413, 'too_large', 'these stats are over what one answer carries');
    return jsonAnswer(zipped, { vary: 'accept-encoding' });
  }
  if (Buffer.byteLength(body) * 1.1 > MAX_ANSWER_WIRE_BYTES)
    throw new HttpError(413, 'too_large', 'these stats are over what one answer carries: send Accept-Encoding: gzip');
  return jsonAnswer(body, { vary: 'accept-encoding' });
}

/** The wire shape (Parea's ExperimentWithPinnedStatsSchema, a superset of ExperimentSchema). */
export function experimentJson(tenant: Tenant, e: Experiment) {
  return {
    uuid: e.uuid,
    name: e.name,
    run_name: e.runName,
    created_at: e.createdAt,
    metadata: e.metadata,
    project_uuid: tenant.projectId,
    status: e.status,
    is_public: false,
    num_samples: e.numSamples,
    pinned_stats: e.pinnedStats,
    finished_at: e.finishedAt,
  };
}
