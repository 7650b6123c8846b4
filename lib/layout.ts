/**
 * Where things live: the repository's files the CDK app bundles, and the
 * bucket's key layout the infrastructure grants and expires by prefix.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DROP_PREFIX, PAYLOADS_PREFIX } from '../functions/domain/layout.js';
import { INGEST_PREFIXES } from '../functions/routes.js';

/** Absolute path of the repository root (this file is lib/layout.ts). */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export const LOCK_FILE = join(REPO_ROOT, 'package-lock.json');

/** Entry names become file names, so keep them simple (no paths, no dots). */
const HANDLER_NAME = /^[a-z][a-zA-Z0-9-]*$/;

/** `functions/handlers/<name>.ts`, which must export `handler`. Throws if the name is odd or the file is missing. */
export function handlerEntry(name: string): string {
  if (!HANDLER_NAME.test(name)) {
    throw new Error(`Handler name "${name}" must match ${HANDLER_NAME} (it names functions/handlers/<name>.ts)`);
  }
  const entry = join(REPO_ROOT, 'functions', 'handlers', `${name}.ts`);
  if (!existsSync(entry)) {
    throw new Error(`Handler "${name}" has no entry file: expected ${entry}`);
  }
  return entry;
}

export { DROP_PREFIX, PAYLOADS_PREFIX };

if (!(INGEST_PREFIXES as readonly string[]).includes(DROP_PREFIX)) {
  throw new Error(`INGEST_PREFIXES (${INGEST_PREFIXES.join(', ')}) no longer contains "${DROP_PREFIX}"; update lib/layout.ts`);
}

/**
 * The prefixes the lifecycle rules expire after `retentionDays`: the raw files, once ingested.
 * payloads/ is not among them: a trace whose document was offloaded points there, so a payload
 * must outlive its trace. Traces older than `retentionDays` are deleted by the retention sweep
 * (functions/handlers/retentionSweep.ts, hourly) through the trace delete path, which removes their
 * payloads with them; payloads/ expires only PAYLOADS_BACKSTOP_DAYS later, as a backstop for
 * anything the sweep missed, never before the sweep has deleted the trace.
 */
export const EXPIRING_PREFIXES: readonly string[] = [...INGEST_PREFIXES];

/** payloads/ expires this many days after `retentionDays` (see EXPIRING_PREFIXES). */
export const PAYLOADS_BACKSTOP_DAYS = 7;
