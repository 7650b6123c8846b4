import { setTimeout as sleep } from 'node:timers/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as z from 'zod';
import { uploadId as deriveUploadId } from '../functions/domain/ids.js';
import { resolveConfig } from './config.js';
import { errorFromAnswer, TraceIngestError } from './errors.js';
import {
  backoffMs,
  DEFAULT_RETRY,
  parseJson,
  readJson,
  redact,
  retryAfterMs,
  send,
  type Call,
  type FetchLike,
  type RetryPolicy,
} from './http.js';
import { putStream } from './put.js';
import {
  CreateTracesAnswer,
  CreateTracesRefusal,
  EmptyObject,
  Evaluation,
  JobAnswer,
  MatchCount,
  EvaluationList,
  EvaluationResult,
  Experiment,
  ExperimentStats,
  TraceLogPage,
  ListQuerySchema,
  OrganizationsAnswer,
  PresignAnswer,
  PresignRequest,
  Sources,
  Trace,
  TraceList,
  TraceLogFilter,
  UploadStatus,
  parseTraceLogForest,
  type LineError,
  type TraceLogTree,
} from './schemas.js';

export interface TraceIngestClientOptions {
  /** The server's root (`http://127.0.0.1:3000`); a trailing `/api/v1` is accepted. Default: TRACE_INGEST_URL, then local-stack.json. */
  baseUrl?: string;
  /** Default: TRACE_INGEST_API_KEY, then local-stack.json. */
  apiKey?: string;
  fetch?: FetchLike;
  /** Retries of a 429 / 5xx answer (default 3). */
  retries?: number;
  /** Backoff tuning (tests). */
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /** How often to poll an upload still processing (default: the server's Retry-After, else 1 s). */
  pollIntervalMs?: number;
  /** Give up polling after this long (default 10 minutes). */
  pollTimeoutMs?: number;
  /** Where env values come from (default process.env). */
  env?: Record<string, string | undefined>;
}

export interface Tenant {
  organizationId: string;
  organizationName: string;
  projectId: string;
  projectName: string;
}

export interface UploadProgress {
  phase: 'presign' | 'upload' | 'ingest' | 'done';
  bytesSent: number;
  totalBytes: number;
  /** While the server ingests (phase `ingest`), once it has said: records read so far, and how many were bad. */
  records?: number;
  errorCount?: number;
}

export interface UploadOptions {
  /** Required for a Buffer or a stream; default the path's base name. Must end in .json or .jsonl. */
  filename?: string;
  /** Size of a stream body, when known (else the stream is spooled to a temp file first to learn it). */
  size?: number;
  /** Media type (default by extension: application/jsonl or application/json). */
  contentType?: string;
  onProgress?: (p: UploadProgress) => void;
}

export interface UploadResult {
  traceIds: string[];
  uploadId: string | null;
  /** `completed`, `failed` (the file had no valid record, or could not be ingested). */
  status: string;
  /** Per-line errors: `{line, message}` (the first 100 the server kept). */
  errors: LineError[];
  errorCount: number;
  records: number | null;
  /** Of traceIds, the traces this upload stored; the rest were stored by an earlier upload of identical content. Null when the server does not say. */
  newTraces: number | null;
  /** Why a failed upload failed. */
  message?: string;
}

export interface TraceFilters {
  source?: string;
  judgeId?: string;
  status?: 'pass' | 'fail' | 'pending' | 'unevaluated';
  /** `<n><m|h|d>`, e.g. `30m`, `24h`, `7d`. */
  timeRange?: string;
  search?: string;
  sortBy?: 'created_at' | 'filename';
  sortOrder?: 'asc' | 'desc';
  page?: number;
  pageSize?: number;
  cursor?: string;
}

/** What an export or a deletion covers: the traces matching the list's filters, or one experiment's spans. */
export type JobTarget =
  | (Pick<TraceFilters, 'source' | 'judgeId' | 'status' | 'timeRange' | 'search'> & { experimentUuid?: undefined; all?: boolean })
  | { experimentUuid: string };

export interface JobProgress {
  status: string;
  /** Exported or deleted so far. */
  done: number;
  /** How many matched when the job started (null: not counted); a lower bound when `totalExact` is false. */
  total: number | null;
  totalExact: boolean;
}

export interface CreateEvaluationInput {
  traceId: string;
  judgeId: string;
  judgeName?: string;
  judgeVersion?: number;
  passed?: boolean;
  score?: number;
  reasoning?: string;
}

export interface EvaluationFilters {
  traceId?: string;
  judgeId?: string;
  /** pass, fail or pending. */
  outcome?: 'pass' | 'fail' | 'pending';
  /** `<n><m|h|d>`, e.g. 7d. */
  timeRange?: string;
  search?: string;
  sortOrder?: 'asc' | 'desc';
  /** The previous page's nextCursor. */
  cursor?: string;
  page?: number;
  pageSize?: number;
}

/** A judge's verdict and what it reports (POST .../trace-evaluations/{id}/results). */
export interface EvaluationResultInput {
  passed: boolean;
  score?: number;
  reasoning?: string;
  model?: string;
  steps?: { tool: string; args: Record<string, unknown>; result: string }[];
  turns?: number;
  latencyMs?: number;
  promptTokens?: number;
  completionTokens?: number;
  totalCost?: number;
}

/** Parea's filter body; a string `FIELD OP VALUE` is accepted too (see parseFilterExpression). */
export interface TraceLogFilterInput {
  filter_field?: string | null;
  filter_key?: string | null;
  filter_operator?: string | null;
  filter_value?: string | number | boolean | null;
}

export interface TraceLogUpdate {
  trace_id: string;
  root_trace_id?: string;
  field_name_to_value_map: Record<string, unknown>;
}

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json' };

/** A typed client of the trace-ingest HTTP API (and its Parea trace-log routes). */
export class TraceIngestClient {
  readonly baseUrl: string;
  readonly #apiKey: string;
  readonly #fetch: FetchLike;
  readonly #customFetch: boolean;
  readonly #retry: RetryPolicy;
  readonly #pollIntervalMs: number | undefined;
  readonly #pollTimeoutMs: number;
  #tenant: Promise<Tenant> | null = null;

  readonly traces = {
    upload: (source: string | Buffer | Uint8Array | Readable, options: UploadOptions = {}) => this.#upload(source, options),
    get: async (id: string): Promise<Trace> =>
      readJson(await this.#call('GET', await this.#project(`/traces/${enc(id)}`)), Trace, 'get trace'),
    list: async (filters: TraceFilters = {}): Promise<TraceList> =>
      readJson(await this.#call('GET', await this.#project(`/traces${listQuery(filters)}`)), TraceList, 'list traces'),
    iterate: (filters: Omit<TraceFilters, 'page' | 'cursor'> = {}) => this.#iterate(filters),
    delete: async (id: string): Promise<void> => {
      const res = await this.#call('DELETE', await this.#project(`/traces/${enc(id)}`));
      await expectNoContent(res);
    },
    sources: async (): Promise<string[]> =>
      (await readJson(await this.#call('GET', await this.#project('/traces/sources')), Sources, 'list sources')).sources,
    /** Every matching trace as a JSON line (oldest first; documents verbatim), following `X-Next-Cursor` to the end of the range anchored by the first page. */
    exportLines: (filters: Pick<TraceFilters, 'source' | 'judgeId' | 'status' | 'timeRange' | 'search'> = {}) =>
      this.#lines(async (cursor) => this.#project(`/traces/export${query({ ...jobBody(filters), cursor })}`)),
  };

  /** Export jobs: the matching traces (or an experiment's spans) as one JSON Lines file in S3, with a download URL. */
  readonly exports = {
    start: async (target: JobTarget = {}): Promise<JobAnswer> =>
      readJson(await this.#call('POST', await this.#project('/exports'), jobBody(target)), JobAnswer, 'start export'),
    get: async (id: string): Promise<JobAnswer> =>
      readJson(await this.#call('GET', await this.#project(`/exports/${enc(id)}`)), JobAnswer, 'get export'),
    /** Polls until the job ends; a failed job throws. */
    wait: (id: string, options: { onProgress?: (p: JobProgress) => void; intervalMs?: number } = {}) =>
      this.#wait((x) => this.exports.get(x), id, options),
    /** Streams a completed export's file to `path` (or answers its bytes when no path is given). */
    download: async (job: JobAnswer, path?: string): Promise<Buffer | undefined> => {
      if (!job.download_url)
        throw new TraceIngestError(0, 'invalid_request', `export ${job.id} has no download URL yet (status ${job.status})`);
      const res = await send(this.#fetch, { method: 'GET', url: job.download_url }, this.#retry);
      if (!res.ok || !res.body)
        throw new TraceIngestError(res.status, 's3_get_failed', `GET ${redact(job.download_url)} answered ${res.status}`);
      if (path === undefined) return Buffer.from(await res.arrayBuffer());
      await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(path));
    },
  };

  /** Delete-by-filter jobs: through the same path as a single delete (evaluations, documents, counters). */
  readonly deletions = {
    /** How many traces (or spans) match now, without deleting anything. */
    count: async (target: JobTarget): Promise<{ matching: number; exact: boolean }> =>
      readJson(
        await this.#call('POST', await this.#project('/deletions'), { ...jobBody(target), dry_run: true }),
        MatchCount,
        'count matches',
      ),
    start: async (target: JobTarget): Promise<JobAnswer> =>
      readJson(await this.#call('POST', await this.#project('/deletions'), jobBody(target)), JobAnswer, 'start deletion'),
    get: async (id: string): Promise<JobAnswer> =>
      readJson(await this.#call('GET', await this.#project(`/deletions/${enc(id)}`)), JobAnswer, 'get deletion'),
    wait: (id: string, options: { onProgress?: (p: JobProgress) => void; intervalMs?: number } = {}) =>
      this.#wait((x) => this.deletions.get(x), id, options),
  };

  readonly uploads = {
    /** An upload's status, counts, errors and (once completed) trace ids. */
    get: async (uploadId: string): Promise<UploadStatus> =>
      readJson(await this.#call('GET', await this.#project(`/uploads/${enc(uploadId)}`)), UploadStatus, 'get upload'),
  };

  readonly evaluations = {
    create: async (input: CreateEvaluationInput): Promise<Evaluation> => {
      const body = {
        trace_id: input.traceId,
        judge_id: input.judgeId,
        ...(input.judgeName !== undefined ? { judge_name: input.judgeName } : {}),
        ...(input.judgeVersion !== undefined ? { judge_version: input.judgeVersion } : {}),
        ...(input.passed !== undefined ? { passed: input.passed } : {}),
        ...(input.score !== undefined ? { score: input.score } : {}),
        ...(input.reasoning !== undefined ? { reasoning: input.reasoning } : {}),
      };
      return readJson(await this.#call('POST', await this.#project('/trace-evaluations'), body, false), Evaluation, 'create evaluation');
    },
    get: async (id: string): Promise<Evaluation> =>
      readJson(await this.#call('GET', await this.#project(`/trace-evaluations/${enc(id)}`)), Evaluation, 'get evaluation'),
    list: async (filters: EvaluationFilters = {}): Promise<EvaluationList & { nextCursor: string | null; totalExact: boolean }> => {
      const q = query({
        trace_id: filters.traceId,
        judge_id: filters.judgeId,
        outcome: filters.outcome,
        time_range: filters.timeRange,
        search: filters.search,
        sort_order: filters.sortOrder,
        cursor: filters.cursor,
        page: filters.page,
        page_size: filters.pageSize,
      });
      const res = await this.#call('GET', await this.#project(`/trace-evaluations${q}`));
      const list = await readJson(res, EvaluationList, 'list evaluations');
      return { ...list, nextCursor: res.headers.get('x-next-cursor'), totalExact: res.headers.get('x-total-exact') !== 'false' };
    },
    /** The judge's result, or null while the evaluation is pending. */
    result: async (id: string): Promise<EvaluationResult | null> => {
      const res = await this.#call('GET', await this.#project(`/trace-evaluations/${enc(id)}/results`));
      if (res.status === 404) {
        const text = await res.text();
        if (/no result yet/.test(text)) return null;
        throw errorOf(res, text);
      }
      return readJson(res, EvaluationResult, 'evaluation result');
    },
    /** Posts the judge's verdict for a pending evaluation (what runs the judge calls). */
    postResult: async (id: string, result: EvaluationResultInput): Promise<EvaluationResult> => {
      const body = {
        passed: result.passed,
        ...(result.score !== undefined ? { score: result.score } : {}),
        ...(result.reasoning !== undefined ? { reasoning: result.reasoning } : {}),
        ...(result.model !== undefined ? { model: result.model } : {}),
        ...(result.steps !== undefined ? { steps: result.steps } : {}),
        ...(result.turns !== undefined ? { turns: result.turns } : {}),
        ...(result.latencyMs !== undefined ? { latency_ms: result.latencyMs } : {}),
        ...(result.promptTokens !== undefined ? { prompt_tokens: result.promptTokens } : {}),
        ...(result.completionTokens !== undefined ? { completion_tokens: result.completionTokens } : {}),
        ...(result.totalCost !== undefined ? { total_cost: result.totalCost } : {}),
      };
      return readJson(
        await this.#call('POST', await this.#project(`/trace-evaluations/${enc(id)}/results`), body, false),
        EvaluationResult,
        'post evaluation result',
      );
    },
    /** Polls until the evaluation has its result (as the Stratix client's wait_for_completion), then answers it. */
    waitForResult: async (id: string, opts: { intervalMs?: number; timeoutMs?: number } = {}): Promise<EvaluationResult> => {
      const started = Date.now();
      for (;;) {
        const result = await this.evaluations.result(id);
        if (result) return result;
        if (Date.now() - started > (opts.timeoutMs ?? 300_000))
          throw new TraceIngestError(0, 'timeout', `evaluation ${id} has no result after ${opts.timeoutMs ?? 300_000} ms`);
        await sleep(opts.intervalMs ?? 3_000);
      }
    },
  };

  readonly experiments = {
    /** Every span of the experiment (materialized trace logs) as a JSON line, following `X-Next-Cursor`. */
    exportLines: (experimentUuid: string) =>
      this.#lines(async (cursor) => this.#project(`/experiments/${enc(experimentUuid)}/export${query({ cursor })}`)),
    /** Creates a Parea experiment (running); its spans carry its `uuid` as experiment_uuid. */
    create: async (input: { name: string; runName: string; metadata?: Record<string, string> }): Promise<Experiment> =>
      readJson(
        await this.#call(
          'POST',
          `${this.baseUrl}/api/parea/v1/experiment`,
          { name: input.name, run_name: input.runName, ...(input.metadata ? { metadata: input.metadata } : {}) },
          false,
        ),
        Experiment,
        'create experiment',
      ),
    /** Marks it finished: its stats are computed from its trees, pinned, and answered. */
    finish: async (
      uuid: string,
      input: { status?: 'completed' | 'failed'; datasetLevelStats?: { name: string; score: number }[] } = {},
    ): Promise<ExperimentStats> =>
      readJson(
        await this.#call(
          'POST',
          `${this.baseUrl}/api/parea/v1/experiment/${enc(uuid)}/finished`,
          { status: input.status ?? 'completed', dataset_level_stats: input.datasetLevelStats ?? [] },
          false,
        ),
        ExperimentStats,
        'finish experiment',
      ),
    /** Its stats: per root tree, and the dataset-level scores. */
    stats: async (uuid: string): Promise<ExperimentStats> =>
      readJson(await this.#call('GET', `${this.baseUrl}/api/parea/v1/experiment/${enc(uuid)}/stats`), ExperimentStats, 'experiment stats'),
    /** The project's experiments, newest first, with their pinned stats (follows X-Next-Cursor). */
    list: async (
      filters: { name?: string; runName?: string; metadata?: Record<string, string>; uuids?: string[] } = {},
    ): Promise<Experiment[]> => {
      const body = {
        ...(filters.name !== undefined ? { experiment_name_filter: filters.name } : {}),
        ...(filters.runName !== undefined ? { run_name_filter: filters.runName } : {}),
        ...(filters.metadata !== undefined ? { metadata_filter: filters.metadata } : {}),
        ...(filters.uuids !== undefined ? { experiment_uuids: filters.uuids } : {}),
      };
      const out: Experiment[] = [];
      let cursor: string | null = null;
      do {
        const res = await this.#call('POST', `${this.baseUrl}/api/parea/v1/experiments${query({ cursor: cursor ?? undefined })}`, body);
        out.push(...(await readJson(res, z.array(Experiment), 'list experiments')));
        cursor = res.headers.get('x-next-cursor');
      } while (cursor);
      return out;
    },
    /** Every root TraceLogTree of an experiment that matches the filter (follows `X-Next-Cursor` to the end). */
    traceLogs: async (experimentUuid: string, filter?: TraceLogFilterInput | null): Promise<TraceLogTree[]> => {
      const out: TraceLogTree[] = [];
      let cursor: string | undefined;
      do {
        const page = await this.experiments.traceLogsPage(experimentUuid, filter, cursor !== undefined ? { cursor } : {});
        out.push(...page.trees);
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      return out;
    },
    /** One page of root trees, and the cursor of the next. */
    traceLogsPage: async (
      experimentUuid: string,
      filter?: TraceLogFilterInput | null,
      page: { limit?: number; cursor?: string } = {},
    ): Promise<{ trees: TraceLogTree[]; nextCursor: string | null; fieldSeen: boolean | null }> => {
      const body = filter ? checkFilter(filter) : {};
      const res = await this.#call(
        'POST',
        `${this.baseUrl}/api/parea/v1/experiment/${enc(experimentUuid)}/trace_logs${query({ limit: page.limit, cursor: page.cursor })}`,
        body,
      );
      const text = await res.text();
      if (!res.ok) throw errorOf(res, text);
      const trees = parseJson(res.status, text, z.unknown(), 'experiment trace logs');
      try {
        const seen = res.headers.get('x-filter-field-seen');
        // With a filter: whether any span the page looked at has the filter's field at all (a misspelt field finds none).
        return {
          trees: parseTraceLogForest(trees),
          nextCursor: res.headers.get('x-next-cursor'),
          fieldSeen: seen === null ? null : seen === 'true',
        };
      } catch (err) {
        throw new TraceIngestError(
          res.status,
          'invalid_response',
          `experiment trace logs: unexpected answer (${err instanceof z.ZodError ? `${err.issues[0]?.path.join('.')}: ${err.issues[0]?.message}` : String(err)})`,
          trees,
          { cause: err },
        );
      }
    },
  };

  readonly traceLogs = {
    /** Posts one span (a Parea TraceLog). */
    record: async (span: Record<string, unknown> & { trace_id: string }): Promise<void> => {
      await readJson(await this.#call('POST', `${this.baseUrl}/api/parea/v1/trace_log`, span), EmptyObject, 'record trace log');
    },
    /** Merges fields into a span (scores by name, metadata by key). */
    update: async (update: TraceLogUpdate): Promise<void> => {
      await readJson(await this.#call('PUT', `${this.baseUrl}/api/parea/v1/trace_log`, update), EmptyObject, 'update trace log');
    },
    /** Feedback on a span: its feedback_score (0 to 1), and optionally a name, target and comment. */
    feedback: async (input: { traceId: string; score: number; name?: string; target?: string; comment?: string }): Promise<void> => {
      const body = {
        trace_id: input.traceId,
        score: input.score,
        ...(input.name ? { name: input.name } : {}),
        ...(input.target ? { target: input.target } : {}),
        ...(input.comment ? { comment: input.comment } : {}),
      };
      await readJson(await this.#call('POST', `${this.baseUrl}/api/parea/v1/feedback`, body), EmptyObject, 'feedback');
    },
    /** One page of the project's root trees (get_trace_logs), newest first. */
    list: async (
      q: {
        page?: number;
        pageSize?: number;
        timeRange?: string;
        status?: string;
        sortOrder?: 'asc' | 'desc';
        filter?: TraceLogFilterInput;
      } = {},
    ): Promise<{ total: number; page: number; totalPages: number; pageSize: number; totalExact: boolean; results: TraceLogTree[] }> => {
      const body = {
        ...(q.filter ? checkFilter(q.filter) : {}),
        ...(q.page !== undefined ? { page: q.page } : {}),
        ...(q.pageSize !== undefined ? { page_size: q.pageSize } : {}),
        ...(q.timeRange !== undefined ? { time_range: q.timeRange } : {}),
        ...(q.status !== undefined ? { status: q.status } : {}),
        ...(q.sortOrder !== undefined ? { sort_order: q.sortOrder } : {}),
      };
      const page = await readJson(
        await this.#call('POST', `${this.baseUrl}/api/parea/v1/get_trace_logs`, body),
        TraceLogPage,
        'get trace logs',
      );
      return {
        total: page.total,
        page: page.page,
        totalPages: page.total_pages,
        pageSize: page.page_size,
        totalExact: page.total_exact,
        results: parseTraceLogForest(page.results),
      };
    },
    /** A LangChain run tree (a run with its child_runs), stored as spans. */
    recordLangchainRun: async (run: Record<string, unknown> & { id: string }): Promise<void> => {
      await readJson(
        await this.#call('POST', `${this.baseUrl}/api/parea/v1/trace_log/langchain`, run),
        EmptyObject,
        'record LangChain run',
      );
    },
    /** A span's TraceLogTree, descendants nested. */
    get: async (traceId: string): Promise<TraceLogTree> => {
      const res = await this.#call('GET', `${this.baseUrl}/api/parea/v1/trace_log/${enc(traceId)}`);
      const text = await res.text();
      if (!res.ok) throw errorOf(res, text);
      const value = parseJson(res.status, text, z.unknown(), 'get trace log');
      try {
        return parseTraceLogForest([value])[0]!;
      } catch (err) {
        throw new TraceIngestError(res.status, 'invalid_response', 'get trace log: unexpected answer', value, { cause: err });
      }
    },
  };

  constructor(options: TraceIngestClientOptions = {}) {
    const config = resolveConfig({ baseUrl: options.baseUrl, apiKey: options.apiKey }, options.env ?? process.env);
    this.baseUrl = config.baseUrl;
    this.#apiKey = config.apiKey;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#customFetch = options.fetch !== undefined;
    this.#retry = {
      retries: options.retries ?? DEFAULT_RETRY.retries,
      baseDelayMs: options.retryBaseDelayMs ?? DEFAULT_RETRY.baseDelayMs,
      maxDelayMs: options.retryMaxDelayMs ?? DEFAULT_RETRY.maxDelayMs,
    };
    this.#pollIntervalMs = options.pollIntervalMs;
    this.#pollTimeoutMs = options.pollTimeoutMs ?? 600_000;
  }

  /** The key's organization and project (`GET /api/v1/organizations`, asked once). */
  tenant(): Promise<Tenant> {
    this.#tenant ??= (async () => {
      const answer = await readJson(await this.#call('GET', `${this.baseUrl}/api/v1/organizations`), OrganizationsAnswer, 'organizations');
      const project = answer.data.projects[0]!;
      return { organizationId: answer.data.id, organizationName: answer.data.name, projectId: project.id, projectName: project.name };
    })();
    this.#tenant.catch(() => {
      this.#tenant = null;
    });
    return this.#tenant;
  }

  async #project(path: string): Promise<string> {
    const t = await this.tenant();
    return `${this.baseUrl}/api/v1/organizations/${enc(t.organizationId)}/projects/${enc(t.projectId)}${path}`;
  }

  /**
   * Every POST of the API is safe to repeat (presign, create by filename, Parea upserts and reads) except
   * creating an evaluation, which is sent with `idempotent: false` and so never retried after a 5xx.
   */
  #call(method: string, url: string, json?: unknown, idempotent = true): Promise<Response> {
    const call: Call = {
      method,
      url,
      idempotent,
      headers: { ...JSON_HEADERS, 'x-api-key': this.#apiKey },
      ...(json !== undefined ? { body: () => JSON.stringify(json) } : {}),
    };
    return send(this.#fetch, call, this.#retry);
  }

  /** JSON lines of a paged JSON Lines route, page after page by `X-Next-Cursor`. */
  async *#lines(url: (cursor: string | undefined) => Promise<string>): AsyncGenerator<string, void, undefined> {
    let cursor: string | undefined;
    do {
      const res = await this.#call('GET', await url(cursor));
      const text = await res.text();
      if (!res.ok) throw errorOf(res, text);
      for (const line of text.split('\n')) if (line !== '') yield line;
      cursor = res.headers.get('x-next-cursor') ?? undefined;
    } while (cursor !== undefined);
  }

  async #wait(
    get: (id: string) => Promise<JobAnswer>,
    id: string,
    options: { onProgress?: (p: JobProgress) => void; intervalMs?: number },
  ): Promise<JobAnswer> {
    const deadline = Date.now() + this.#pollTimeoutMs;
    for (;;) {
      const job = await get(id);
      options.onProgress?.({ status: job.status, done: job.exported ?? job.deleted ?? 0, total: job.total, totalExact: job.total_exact });
      if (job.status === 'completed') return job;
      if (job.status === 'failed')
        throw new TraceIngestError(0, 'job_failed', `${job.type} ${job.id} failed: ${job.error ?? 'no reason given'}`, job);
      if (Date.now() > deadline)
        throw new TraceIngestError(
          0,
          'timeout',
          `${job.type} ${job.id} still ${job.status} after ${Math.round(this.#pollTimeoutMs / 1000)} s`,
        );
      await sleep(options.intervalMs ?? this.#pollIntervalMs ?? 500);
    }
  }

  async *#iterate(filters: Omit<TraceFilters, 'page' | 'cursor'>): AsyncGenerator<Trace, void, undefined> {
    let cursor: string | undefined;
    do {
      const page = await this.traces.list({ ...filters, ...(cursor !== undefined ? { cursor } : {}) });
      yield* page.traces;
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
  }

  async #upload(source: string | Buffer | Uint8Array | Readable, options: UploadOptions): Promise<UploadResult> {
    const filename = options.filename ?? (typeof source === 'string' ? basename(source) : undefined);
    if (filename === undefined) throw new TraceIngestError(0, 'invalid_request', 'upload: a filename is required for a Buffer or a stream');
    let spoolDir: string | null = null;
    try {
      let body: { size: number; open: () => AsyncIterable<Uint8Array> | Uint8Array; replayable: boolean };
      if (typeof source === 'string') {
        const size = (await stat(source)).size;
        body = { size, open: () => createReadStream(source, { highWaterMark: 256 * 1024 }), replayable: true };
      } else if (source instanceof Uint8Array) {
        body = { size: source.byteLength, open: () => source, replayable: true };
      } else if (options.size !== undefined) {
        body = { size: options.size, open: () => source, replayable: false };
      } else {
        // A stream of unknown length: spool it to a temp file (never into memory) to learn its size.
        spoolDir = await mkdtemp(join(tmpdir(), 'trace-ingest-upload-'));
        const path = join(spoolDir, 'body');
        await pipeline(source, createWriteStream(path));
        const size = (await stat(path)).size;
        body = { size, open: () => createReadStream(path, { highWaterMark: 256 * 1024 }), replayable: true };
      }
      const type = options.contentType ?? (/\.jsonl$/i.test(filename) ? 'application/jsonl' : 'application/json');
      const request = PresignRequest.safeParse({ filename, type, size: body.size });
      if (!request.success) {
        const issue = request.error.issues[0];
        throw new TraceIngestError(
          0,
          'invalid_request',
          `upload ${JSON.stringify(filename)}: ${issue?.path.join('.') || 'request'} ${issue?.message ?? 'is invalid'}`,
        );
      }
      const progress = options.onProgress ?? (() => {});
      progress({ phase: 'presign', bytesSent: 0, totalBytes: body.size });
      const presign = await readJson(
        await this.#call('POST', await this.#project('/traces/upload'), request.data),
        PresignAnswer,
        'presign upload',
      );

      const headers = { 'content-type': type, ...(presign.headers ?? {}), 'content-length': String(body.size) };
      const put = await this.#put(presign.url, headers, body, (sent) =>
        progress({ phase: 'upload', bytesSent: sent, totalBytes: body.size }),
      );
      if (put.status < 200 || put.status >= 300) {
        throw new TraceIngestError(
          put.status,
          's3_put_failed',
          `PUT ${redact(presign.url)} answered ${put.status}: ${s3Message(put.text)}`,
          put.text,
        );
      }
      progress({ phase: 'ingest', bytesSent: body.size, totalBytes: body.size });
      // The upload the PUT made, named as the worker names it (by the object's version, else its ETag): its record shows the ingest's progress.
      const version = put.versionId ?? put.eTag;
      const watched = options.onProgress && version ? uploadIdOf(await this.tenant(), presign.upload_key, version) : null;
      const watching = watched
        ? this.#watch(watched, (u) =>
            progress({
              phase: 'ingest',
              bytesSent: body.size,
              totalBytes: body.size,
              records: u.records ?? 0,
              errorCount: u.error_count ?? 0,
            }),
          )
        : null;
      let result: UploadResult;
      try {
        result = await this.#create(filename);
      } finally {
        watching?.stop();
      }
      progress({ phase: 'done', bytesSent: body.size, totalBytes: body.size });
      return result;
    } finally {
      if (spoolDir !== null) await rm(spoolDir, { recursive: true, force: true });
    }
  }

  /**
   * The PUT to the presigned URL, streamed: over node:http(s) by default (flat memory), or through
   * the injected fetch with `duplex: 'half'`. Retries 429/5xx like any call when the body can be replayed.
   */
  async #put(
    url: string,
    headers: Record<string, string>,
    body: { size: number; open: () => AsyncIterable<Uint8Array> | Uint8Array; replayable: boolean },
    onProgress: (sent: number) => void,
  ): Promise<{ status: number; text: string; versionId?: string; eTag?: string }> {
    const retries = body.replayable ? this.#retry.retries : 0;
    for (let attempt = 0; ; attempt++) {
      let sent = 0;
      const tick = (n: number) => {
        sent += n;
        onProgress(sent);
      };
      let answer: { status: number; text: string; retryAfter: string | null; versionId: string | null; eTag: string | null };
      try {
        if (this.#customFetch) {
          const opened = body.open();
          const source = opened instanceof Uint8Array ? opened : countChunks(opened, tick);
          if (opened instanceof Uint8Array) tick(opened.byteLength);
          const res = await this.#fetch(url, {
            method: 'PUT',
            headers,
            body: source as RequestInit['body'],
            duplex: 'half',
          } as RequestInit);
          answer = {
            status: res.status,
            text: await res.text(),
            retryAfter: res.headers.get('retry-after'),
            versionId: res.headers.get('x-amz-version-id'),
            eTag: res.headers.get('etag'),
          };
        } else {
          const opened = body.open();
          const res = await putStream(
            url,
            headers,
            opened instanceof Uint8Array || opened instanceof Readable ? opened : Readable.from(opened),
            tick,
          );
          const one = (name: string) => (typeof res.headers[name] === 'string' ? (res.headers[name] as string) : null);
          answer = {
            status: res.status,
            text: res.text,
            retryAfter: one('retry-after'),
            versionId: one('x-amz-version-id'),
            eTag: one('etag'),
          };
        }
      } catch (err) {
        if (err instanceof TraceIngestError) throw err;
        if (attempt < retries) {
          await sleep(backoffMs(attempt, this.#retry));
          continue;
        }
        throw new TraceIngestError(
          0,
          'network_error',
          `PUT ${redact(url)} failed: ${err instanceof Error ? err.message : String(err)}`,
          undefined,
          { cause: err },
        );
      }
      if ((answer.status === 429 || answer.status >= 500) && attempt < retries) {
        await sleep(Math.min(this.#retry.maxDelayMs, retryAfterMs(answer.retryAfter) ?? backoffMs(attempt, this.#retry)));
        continue;
      }
      const versionId = answer.versionId && answer.versionId !== 'null' ? answer.versionId : undefined;
      const eTag = answer.eTag ? answer.eTag.replace(/"/g, '') : undefined;
      return { status: answer.status, text: answer.text, ...(versionId ? { versionId } : {}), ...(eTag ? { eTag } : {}) };
    }
  }

  /**
   * Reads an upload's record every poll interval while `stop` is not called, telling each one still
   * processing. Best effort: a record not there yet, or a failed read, is just no news.
   */
  #watch(uploadId: string, onProcessing: (u: UploadStatus) => void): { stop(): void } {
    let stopped = false;
    const interval = this.#pollIntervalMs ?? 1000;
    void (async () => {
      while (!stopped) {
        await sleep(interval);
        if (stopped) return;
        try {
          const u = await this.uploads.get(uploadId);
          if (!stopped && u.status === 'processing') onProcessing(u);
        } catch {
          // not recorded yet (404), or a blip: try again next time
        }
      }
    })();
    return { stop: () => void (stopped = true) };
  }

  /** `POST P/traces`, following a 202 to its upload record until it is done. */
  async #create(filename: string): Promise<UploadResult> {
    const res = await this.#call('POST', await this.#project('/traces'), { filename });
    const text = await res.text();
    if (res.status === 422) {
      const refusal = CreateTracesRefusal.safeParse(JSON.parse(text));
      if (refusal.success) {
        return {
          traceIds: [],
          uploadId: refusal.data.upload_id ?? null,
          status: 'failed',
          errors: refusal.data.errors ?? [],
          errorCount: refusal.data.error_count ?? refusal.data.errors?.length ?? 0,
          records: null,
          newTraces: null,
          message: refusal.data.error.message,
        };
      }
    }
    if (!res.ok) throw errorOf(res, text);
    const created = parseJson(res.status, text, CreateTracesAnswer, 'create traces');
    if (res.status !== 202) {
      return {
        traceIds: created.trace_ids,
        uploadId: created.upload_id,
        status: created.status,
        errors: created.errors,
        errorCount: created.error_count ?? created.errors.length,
        records: created.records ?? null,
        newTraces: created.new_traces ?? null,
      };
    }
    const pollPath = created.poll ?? res.headers.get('location');
    if (!pollPath) throw new TraceIngestError(202, 'invalid_response', 'create traces: a 202 answer without a poll route');
    const pollUrl = /^https?:\/\//.test(pollPath) ? pollPath : `${this.baseUrl}${pollPath}`;
    const retryAfter = Number(res.headers.get('retry-after'));
    const interval = this.#pollIntervalMs ?? (Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 1000);
    const deadline = Date.now() + this.#pollTimeoutMs;
    for (;;) {
      await sleep(interval);
      const u = await readJson(await this.#call('GET', pollUrl), UploadStatus, 'poll upload');
      if (u.status === 'completed' || u.status === 'failed') {
        return {
          traceIds: u.trace_ids ?? created.trace_ids,
          uploadId: u.upload_id,
          status: u.status,
          errors: u.errors ?? [],
          errorCount: u.error_count ?? u.errors?.length ?? 0,
          records: u.records ?? null,
          newTraces: u.new_traces ?? null,
          ...(u.status === 'failed' ? { message: u.reason ?? u.last_error ?? 'the upload failed' } : {}),
        };
      }
      if (Date.now() > deadline) {
        throw new TraceIngestError(
          202,
          'timeout',
          `upload ${created.upload_id} still ${u.status} after ${Math.round(this.#pollTimeoutMs / 1000)} s`,
        );
      }
    }
  }
}

/** The id the server gives the upload of an object version (functions/domain/ids.ts, as the worker derives it). */
function uploadIdOf(tenant: Tenant, objectKey: string, version: string): string {
  return deriveUploadId({ organizationId: tenant.organizationId, projectId: tenant.projectId, objectKey, version });
}

async function* countChunks(chunks: AsyncIterable<Uint8Array>, tick: (n: number) => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunks) {
    tick(chunk.byteLength);
    yield chunk;
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** A job's (or an export page's) filters in the API's snake_case. */
function jobBody(t: JobTarget): Record<string, string | boolean | undefined> {
  if (t.experimentUuid !== undefined) return { experiment_uuid: t.experimentUuid };
  const f = t as Exclude<JobTarget, { experimentUuid: string }>;
  return {
    source: f.source,
    judge_id: f.judgeId,
    status: f.status,
    time_range: f.timeRange,
    search: f.search,
    ...(f.all ? { all: true } : {}),
  };
}

/** Typed filters → the snake_case query, checked with the server's own schema first. */
export function listQuery(f: TraceFilters): string {
  const raw = {
    source: f.source,
    judge_id: f.judgeId,
    status: f.status,
    time_range: f.timeRange,
    search: f.search,
    sort_by: f.sortBy,
    sort_order: f.sortOrder,
    page: f.cursor !== undefined ? undefined : f.page,
    page_size: f.pageSize,
    cursor: f.cursor,
  };
  const checked = ListQuerySchema.safeParse(raw);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new TraceIngestError(0, 'invalid_request', `list traces: ${issue?.path.join('.') ?? 'query'} ${issue?.message ?? 'is invalid'}`);
  }
  return query(raw);
}

function checkFilter(filter: TraceLogFilterInput): TraceLogFilterInput {
  const checked = TraceLogFilter.safeParse(filter);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new TraceIngestError(0, 'invalid_request', `filter: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'is invalid'}`.trim());
  }
  return filter;
}

function errorOf(res: Response, text: string): TraceIngestError {
  return errorFromAnswer(res.status, res.statusText, text);
}

async function expectNoContent(res: Response): Promise<void> {
  const text = await res.text();
  if (!res.ok) throw errorOf(res, text);
}

function s3Message(xml: string): string {
  const code = /<Code>([^<]*)<\/Code>/.exec(xml)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(xml)?.[1];
  return [code, message].filter(Boolean).join(': ') || xml.slice(0, 200);
}

/**
 * `FIELD OP VALUE` → a filter body, e.g. `score:accuracy >= 0.5`, `status = error`,
 * `trace_name like %llm%`, `metadata exists` (with `key`). Symbols `= != >= <= > <`
 * and the operator names both work.
 */
export function parseFilterExpression(expression: string, key?: string): TraceLogFilterInput {
  const SYMBOLS: Record<string, string> = {
    '=': 'equals',
    '==': 'equals',
    '!=': 'not_equals',
    '>=': 'greater_than_or_equal',
    '<=': 'less_than_or_equal',
    '>': 'greater_than',
    '<': 'less_than',
  };
  const m = /^\s*(\S+)\s+(==|!=|>=|<=|=|>|<|[a-z_]+)(?:\s+(.*?))?\s*$/i.exec(expression);
  if (!m)
    throw new TraceIngestError(
      0,
      'invalid_request',
      `filter ${JSON.stringify(expression)}: expected FIELD OP VALUE, like 'score:accuracy >= 0.5'`,
    );
  const op = SYMBOLS[m[2]!] ?? m[2]!.toLowerCase();
  return { filter_field: m[1]!, filter_key: key ?? null, filter_operator: op, filter_value: m[3] ?? null };
}
