import * as z from 'zod';
import { MAX_FILE_BYTES } from '../limits.js';
import { UPLOADS_PREFIX } from '../layout.js';
import type { Tenant } from '../tenancy.js';

/**
 * What a presigned upload may be: its file name, declared media type and size.
 * The same rules hold for the presign and create calls, so a name accepted by
 * one is found by the other.
 */

/** Longest file name, in UTF-16 code units (so the S3 key stays well under its 1,024-byte limit). */
export const MAX_FILENAME_LENGTH = 255;

/** Media types a trace file may be declared as (the part before any `;` parameters, any case). */
export const ALLOWED_UPLOAD_TYPES = [
  'application/json',
  'application/jsonl',
  'application/x-ndjson',
  'application/x-jsonlines',
  'text/plain',
  'application/octet-stream',
] as const;

const CONTROL = /[\u0000-\u001f\u007f]/;
const TRACE_FILE = /\.jsonl?$/i;

/** Why a file name is not acceptable, or null when it is. */
export function filenameProblem(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (name.length > MAX_FILENAME_LENGTH) return `must be at most ${MAX_FILENAME_LENGTH} characters`;
  if (CONTROL.test(name)) return 'must not contain control characters';
  if (name.includes('/') || name.includes('\\')) return 'must be a plain file name, without / or \\';
  if (name === '.' || name === '..') return 'must be a file name, not . or ..';
  if (!name.isWellFormed()) return 'must be valid Unicode (no unpaired surrogates)';
  if (!TRACE_FILE.test(name)) return 'must end in .json or .jsonl';
  return null;
}

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|"[^"\\\\\\u0000-\\u001f\\u007f]*"))*$`);

/** Why a declared media type is not acceptable, or null when it is. Parameters (`; charset=utf-8`) are allowed. */
export function uploadTypeProblem(type: string): string | null {
  const allowed = `must be one of ${ALLOWED_UPLOAD_TYPES.join(', ')}`;
  if (type.length > 255 || !MEDIA_TYPE.test(type)) return `${allowed}; got ${quoted(type)}`;
  const essence = type.split(';')[0]!.trim().toLowerCase();
  if (!(ALLOWED_UPLOAD_TYPES as readonly string[]).includes(essence)) return `${allowed}; got ${quoted(type)}`;
  return null;
}

function quoted(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

const requiredString = (what: string) =>
  z.string({ error: (issue) => (issue.input === undefined ? 'is required' : `must be a string (${what})`) });

function checked(schema: z.ZodString, problem: (s: string) => string | null) {
  return schema.check((ctx) => {
    const p = problem(ctx.value);
    if (p !== null) ctx.issues.push({ code: 'custom', message: p, input: ctx.value });
  });
}

export const UploadFilename = checked(requiredString('a file name ending in .json or .jsonl'), filenameProblem);

export const UploadType = checked(requiredString('a media type'), uploadTypeProblem);

export const UploadSize = z
  .number({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be an integer number of bytes') })
  .int('must be an integer number of bytes')
  .min(1, 'must be at least 1 byte')
  .max(MAX_FILE_BYTES, `must be at most ${MAX_FILE_BYTES} bytes (50 MiB)`);

/** `POST .../traces/upload` */
export const PresignRequest = z.object({ filename: UploadFilename, type: UploadType, size: UploadSize });
export type PresignRequest = z.infer<typeof PresignRequest>;

/** `POST .../traces`: the upload is found by its file name alone. */
export const CreateTracesRequest = z.object({ filename: UploadFilename });
export type CreateTracesRequest = z.infer<typeof CreateTracesRequest>;

/** Where a presigned upload of a file lands: `uploads/<org>/<project>/<filename>`. */
export function uploadObjectKey(tenant: Tenant, filename: string): string {
  return `${UPLOADS_PREFIX}${tenant.organizationId}/${tenant.projectId}/${filename}`;
}
