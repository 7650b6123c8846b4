import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { ParsedRecord } from './parse/types.js';
import { MAX_ID_CHARS, traceId } from './ids.js';
import { PAYLOADS_PREFIX } from './layout.js';
import { renderInput, toWellFormed } from './render-input.js';

export type DefaultSource = 'upload' | 's3';

/** Everything about an upload that every trace made from it shares. */
export interface UploadContext {
  organizationId: string;
  projectId: string;
  objectKey: string;
  filename: string;
  defaultSource: DefaultSource;
  /** ISO 8601; the upload's first-seen time, so every retry writes the same value. */
  createdAt: string;
  uploadId: string;
}

/** A trace as the domain knows it, before it is stored. */
export interface TraceDraft {
  id: string;
  organizationId: string;
  projectId: string;
  createdAt: string;
  filename: string;
  source: string;
  integrationId: string | null;
  input: string | null;
  /** The record exactly as uploaded (JSON text). */
  document: string;
  uploadId: string;
  position: number;
  /**
   * The input is what renderInput makes of the document, so it is not stored: reads render it
   * again. False for a trace whose input comes from elsewhere (an OTel trace's root span): stored.
   */
  inputFromDocument: boolean;
}

/** How much of a trace's text `search` looks at (characters). */
export const SEARCH_TEXT_MAX_CHARS = 16_384;

export function buildTrace(ctx: UploadContext, record: ParsedRecord): TraceDraft {
  const value = record.value;
  const input = renderInput(value);
  return {
    id: traceId({
      organizationId: ctx.organizationId,
      projectId: ctx.projectId,
      objectKey: ctx.objectKey,
      position: record.position,
      raw: record.raw,
    }),
    organizationId: ctx.organizationId,
    projectId: ctx.projectId,
    createdAt: ctx.createdAt,
    filename: ctx.filename,
    source: identifier(value.source) ?? ctx.defaultSource,
    integrationId: identifier(value.integration_id),
    input,
    document: record.raw,
    uploadId: ctx.uploadId,
    position: record.position,
    inputFromDocument: true,
  };
}

function identifier(v: unknown): string | null {
  const s = nonEmptyString(v);
  // `source` and `integration_id` are identifiers: a longer string (it could overflow the item) is not one.
  return s !== null && s.length <= MAX_ID_CHARS ? s : null;
}

function nonEmptyString(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const s = toWellFormed(v.trim());
  return s.length > 0 ? s : null;
}

/**
 * Filename, input, then the document's string values in document order,
 * lower-cased and capped at SEARCH_TEXT_MAX_CHARS. Iterative: any nesting depth.
 */
export function searchText(filename: string, input: string | null, doc: unknown): string {
  const parts: string[] = [filename];
  let size = filename.length;
  if (input !== null) {
    parts.push(input);
    size += input.length;
  }
  const stack: unknown[] = [doc];
  while (stack.length > 0 && size < SEARCH_TEXT_MAX_CHARS) {
    const v = stack.pop();
    if (typeof v === 'string') {
      parts.push(v);
      size += v.length + 1;
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push(v[i]);
    } else if (v !== null && typeof v === 'object') {
      const values = Object.values(v);
      for (let i = values.length - 1; i >= 0; i--) stack.push(values[i]);
    }
  }
  // Lower-case first: some characters grow when lower-cased ('İ' becomes two), and the cap is on the stored text.
  const text = toWellFormed(parts.join('\n')).toLowerCase();
  return text.length > SEARCH_TEXT_MAX_CHARS ? toWellFormed(text.slice(0, SEARCH_TEXT_MAX_CHARS)) : text;
}

/**
 * Documents are kept deflated: a JSON trace takes a quarter to a half of its text's bytes, and
 * every byte saved is write units (1 KB each) on the item and on the list index that holds it.
 * Lossless: the text comes back exactly as uploaded.
 */
export function packText(text: string): Buffer {
  return deflateRawSync(text);
}

export function unpackText(packed: Uint8Array): string {
  return inflateRawSync(packed).toString('utf8');
}

/**
 * DynamoDB items are capped at 400 KB. A trace whose deflated document would take more than this
 * budget keeps it in S3 instead (payloads/), with a pointer and its (deflated) search text in the
 * item; reads put the document back. Nothing is truncated.
 */
export const ITEM_INLINE_BUDGET_BYTES = 300 * 1024;

/** A trace ready to store: its document deflated inline, or offloaded to S3 with its search text kept. */
export interface StoredTrace extends TraceDraft {
  /** The document, deflated; null when offloaded. */
  packed: Uint8Array | null;
  /** Where the offloaded document lives; null when inline. */
  payloadKey: string | null;
  /** An offloaded trace's search text, deflated (search cannot read S3); null when inline. */
  packedSearch: Uint8Array | null;
}

/** How a draft is stored, and the S3 payload to write first (under `key`) when its document is offloaded. */
export function storedTrace(
  draft: TraceDraft,
  key = payloadKey(draft),
): { stored: StoredTrace; payload: { key: string; body: string } | null } {
  const packed = packText(draft.document);
  if (packed.length <= ITEM_INLINE_BUDGET_BYTES)
    return { stored: { ...draft, packed, payloadKey: null, packedSearch: null }, payload: null };
  const text = searchText(draft.filename, draft.input, JSON.parse(draft.document));
  return { stored: { ...draft, packed: null, payloadKey: key, packedSearch: packText(text) }, payload: { key, body: payloadBody(draft) } };
}

/** Where an offloaded document lives in the bucket. */
export function payloadKey(trace: Pick<TraceDraft, 'organizationId' | 'projectId' | 'id'>): string {
  return `${PAYLOADS_PREFIX}${trace.organizationId}/${trace.projectId}/${trace.id}.json`;
}

/** The offloaded payload's body: JSON with the document spliced in verbatim. */
export function payloadBody(trace: TraceDraft): string {
  return `{"input":${JSON.stringify(trace.input)},"data":${trace.document}}`;
}
