import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TraceIngestError } from './errors.js';

export interface ResolvedConfig {
  /** The server's root, e.g. `http://127.0.0.1:3000` (no `/api/v1`). */
  baseUrl: string;
  apiKey: string;
  /** Where each value came from, for messages. */
  from: 'options' | 'env' | 'local-stack';
}

/**
 * Options first, then `TRACE_INGEST_URL` / `TRACE_INGEST_API_KEY`, then
 * `<DATA_DIR or .data>/local-stack.json` (`apiUrl`, `apiKey`), value by value.
 */
export function resolveConfig(
  opts: { baseUrl?: string | undefined; apiKey?: string | undefined },
  env: Record<string, string | undefined> = process.env,
): ResolvedConfig {
  let baseUrl = opts.baseUrl ?? nonEmpty(env.TRACE_INGEST_URL);
  let apiKey = opts.apiKey ?? nonEmpty(env.TRACE_INGEST_API_KEY);
  let from: ResolvedConfig['from'] = opts.baseUrl !== undefined || opts.apiKey !== undefined ? 'options' : 'env';
  if (baseUrl === undefined || apiKey === undefined) {
    const file = join(resolve(nonEmpty(env.DATA_DIR) ?? '.data'), 'local-stack.json');
    if (existsSync(file)) {
      let info: { apiUrl?: unknown; apiKey?: unknown };
      try {
        info = JSON.parse(readFileSync(file, 'utf8')) as { apiUrl?: unknown; apiKey?: unknown };
      } catch (err) {
        throw new TraceIngestError(0, 'not_configured', `${file} is not valid JSON`, undefined, { cause: err });
      }
      if (baseUrl === undefined && typeof info.apiUrl === 'string') baseUrl = info.apiUrl;
      if (apiKey === undefined && typeof info.apiKey === 'string') apiKey = info.apiKey;
      from = 'local-stack';
    }
  }
  if (baseUrl === undefined || apiKey === undefined) {
    throw new TraceIngestError(
      0,
      'not_configured',
      `no ${baseUrl === undefined ? 'API URL' : 'API key'}: set TRACE_INGEST_URL and TRACE_INGEST_API_KEY, or start the local stack (npm start) so .data/local-stack.json exists`,
    );
  }
  return { baseUrl: normalizeBaseUrl(baseUrl), apiKey, from };
}

/** Strips trailing slashes and a trailing `/api/v1` or `/api/parea/v1`, so either spelling works. */
export function normalizeBaseUrl(url: string): string {
  return url.replace(/\/+$/, '').replace(/\/api\/(parea\/)?v1$/, '');
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}
