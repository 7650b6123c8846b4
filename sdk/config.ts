import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { TraceIngestError } from './errors.js';

export interface ResolvedConfig {
  /** The server's root, e.g. `http://127.0.0.1:3000` (no `/api/v1`). */
  baseUrl: string;
  apiKey: string;
  /** Where each value came from, for messages. */
  from: 'options' | 'env' | 'local-stack';
}

/**
 * Where the local stack's `local-stack.json` is: `<DATA_DIR>/local-stack.json` when DATA_DIR is
 * set (relative to the working directory, as npm start takes it), else the first
 * `.data/local-stack.json` in the working directory or a folder above it (as git finds `.git`), so
 * the CLI works from any sub-folder of the checkout. Null when there is none.
 */
export function findLocalStackFile(env: Record<string, string | undefined> = process.env, cwd = process.cwd()): string | null {
  const dataDir = nonEmpty(env.DATA_DIR);
  if (dataDir !== undefined) {
    const file = join(resolve(cwd, dataDir), 'local-stack.json');
    return existsSync(file) ? file : null;
  }
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const file = join(dir, '.data', 'local-stack.json');
    if (existsSync(file)) return file;
    if (dirname(dir) === dir) return null;
  }
}

/**
 * Options first, then `TRACE_INGEST_URL` / `TRACE_INGEST_API_KEY`, then the
 * local stack's local-stack.json (`apiUrl`, `apiKey`; see findLocalStackFile), value by value.
 */
export function resolveConfig(
  opts: { baseUrl?: string | undefined; apiKey?: string | undefined },
  env: Record<string, string | undefined> = process.env,
): ResolvedConfig {
  let baseUrl = opts.baseUrl ?? nonEmpty(env.TRACE_INGEST_URL);
  let apiKey = opts.apiKey ?? nonEmpty(env.TRACE_INGEST_API_KEY);
  let from: ResolvedConfig['from'] = opts.baseUrl !== undefined || opts.apiKey !== undefined ? 'options' : 'env';
  if (baseUrl === undefined || apiKey === undefined) {
    const file = findLocalStackFile(env);
    if (file !== null) {
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
      `no ${baseUrl === undefined ? 'API URL' : 'API key'}: set TRACE_INGEST_URL and TRACE_INGEST_API_KEY, or start the local stack (npm start) so ${nonEmpty(env.DATA_DIR) ? `${nonEmpty(env.DATA_DIR)}/local-stack.json` : '.data/local-stack.json (here or in a folder above)'} exists`,
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
