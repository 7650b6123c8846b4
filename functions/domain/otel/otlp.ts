/**
 * OTLP/HTTP trace requests and answers (https://opentelemetry.io/docs/specs/otlp/#otlphttp), both
 * encodings: binary protobuf and OTLP/JSON.
 *
 * Decoding uses the OpenTelemetry project's own protobufjs code, generated from the official
 * opentelemetry-proto messages and shipped in @opentelemetry/otlp-transformer up to 0.215 (later
 * versions replaced it with an encoder of their own and decode no requests). OTLP/JSON is read
 * with the same generated `fromObject`, after turning its hex span and trace ids into bytes (OTLP/JSON
 * writes them as hex, where proto3's JSON mapping would use base64).
 *
 * What comes out is plain data ({@link OtlpRequest}): ids as lowercase hex, times as nanosecond
 * bigints, attribute values as JS values. Pure: no I/O.
 *
 * The generated messages (about 160 KB of code that builds every OTLP message type when it is
 * imported) are loaded by loadOtlpCodec(), on the first request that has a body to decode, not at
 * module load: a cold start pays for them only when it needs them.
 */
import { gunzipSync } from 'node:zlib';
import { isPlainObject } from '../objects.js';
import { DomainError } from '../errors.js';

// ---------------------------------------------------------------------------
// What a request holds, as plain data
// ---------------------------------------------------------------------------

/** An attribute value: OTLP's AnyValue as a JS value (bytes as base64 text, an int beyond 2^53 as its decimal text). */
export type AttrValue = string | number | boolean | null | AttrValue[] | { [key: string]: AttrValue };

export interface OtlpEvent {
  timeNs: bigint;
  name: string;
  attributes: Map<string, AttrValue>;
}

export interface OtlpLink {
  traceId: string;
  spanId: string;
  traceState: string;
  attributes: Map<string, AttrValue>;
}

export interface OtlpSpan {
  /** 32 lowercase hex digits; '' when the span has none of the right length (such a span is refused). */
  traceId: string;
  /** 16 lowercase hex digits; '' as above. */
  spanId: string;
  /** 16 lowercase hex digits, or '' for a root span. */
  parentSpanId: string;
  /** A parent id that is there but not 8 bytes (such a span is refused). */
  badParent: boolean;
  traceState: string;
  name: string;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Map<string, AttrValue>;
  events: OtlpEvent[];
  links: OtlpLink[];
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number;
  statusMessage: string;
  droppedAttributesCount: number;
  droppedEventsCount: number;
  droppedLinksCount: number;
  /** Why the span cannot be taken as it was decoded (an attribute nested too deeply), or null. */
  invalid: string | null;
}

export interface OtlpScopeSpans {
  scope: { name: string; version: string; attributes: Map<string, AttrValue> };
  spans: OtlpSpan[];
}

export interface OtlpResourceSpans {
  resource: Map<string, AttrValue>;
  /** Why the resource's attributes cannot be taken (all its spans are refused), or null. */
  invalid: string | null;
  scopeSpans: OtlpScopeSpans[];
}

export interface OtlpRequest {
  resourceSpans: OtlpResourceSpans[];
}

// ---------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------

export type OtlpErrorKind = 'invalid_body' | 'unsupported_media_type' | 'payload_too_large';

/** A request body that cannot be read at all (400, 413 or 415). */
export class OtlpRequestError extends DomainError<OtlpErrorKind> {}

export type OtlpEncoding = 'protobuf' | 'json';

/** `application/x-protobuf` or `application/json` (parameters such as charset allowed); anything else is not OTLP/HTTP. */
export function encodingOf(contentType: string | undefined): OtlpEncoding | null {
  const type = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'protobuf';
  if (type === 'application/json') return 'json';
  return null;
}

/**
 * Bodies decompressed beyond this are refused (413): a gzip bomb never fills memory, and every
 * request that API Gateway lets through (10 MB, 6 MB into Lambda) fits with room for a 5:1 ratio.
 */
export const MAX_DECODED_BODY_BYTES = 32 * 1024 * 1024;

/** The body as sent, with its Content-Encoding (gzip or none) undone. */
export function decompress(body: Buffer, contentEncoding: string | undefined): Buffer {
  const encoding = (contentEncoding ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') {
    if (body.length > MAX_DECODED_BODY_BYTES)
      throw new OtlpRequestError('payload_too_large', `the body is over ${MAX_DECODED_BODY_BYTES} bytes`);
    return body;
  }
  if (encoding !== 'gzip' && encoding !== 'x-gzip') {
    throw new OtlpRequestError(
      'unsupported_media_type',
      `Content-Encoding ${JSON.stringify(contentEncoding)} is not supported; send gzip or no encoding`,
    );
  }
  try {
    return gunzipSync(body, { maxOutputLength: MAX_DECODED_BODY_BYTES });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new OtlpRequestError('payload_too_large', `the body is over ${MAX_DECODED_BODY_BYTES} bytes once decompressed`);
    }
    throw new OtlpRequestError('invalid_body', 'the body is not valid gzip');
  }
}

// ---------------------------------------------------------------------------
// The generated messages (root.js has no typings: the parts used here)
// ---------------------------------------------------------------------------

interface LongLike {
  toString(): string;
}
type Int64 = number | LongLike | null | undefined;

interface PbAnyValue {
  value?: string;
  stringValue?: string | null;
  boolValue?: boolean | null;
  intValue?: Int64;
  doubleValue?: number | null;
  arrayValue?: { values?: PbAnyValue[] | null } | null;
  kvlistValue?: { values?: PbKeyValue[] | null } | null;
  bytesValue?: Uint8Array | null;
}
interface PbKeyValue {
  key?: string | null;
  value?: PbAnyValue | null;
}
interface PbSpan {
  traceId?: Uint8Array | null;
  spanId?: Uint8Array | null;
  traceState?: string | null;
  parentSpanId?: Uint8Array | null;
  name?: string | null;
  kind?: number | null;
  startTimeUnixNano?: Int64;
  endTimeUnixNano?: Int64;
  attributes?: PbKeyValue[] | null;
  droppedAttributesCount?: number | null;
  events?: Array<{ timeUnixNano?: Int64; name?: string | null; attributes?: PbKeyValue[] | null }> | null;
  droppedEventsCount?: number | null;
  links?: Array<{
    traceId?: Uint8Array | null;
    spanId?: Uint8Array | null;
    traceState?: string | null;
    attributes?: PbKeyValue[] | null;
  }> | null;
  droppedLinksCount?: number | null;
  status?: { code?: number | null; message?: string | null } | null;
}
interface PbRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: PbKeyValue[] | null } | null;
    scopeSpans?: Array<{
      scope?: { name?: string | null; version?: string | null; attributes?: PbKeyValue[] | null } | null;
      spans?: PbSpan[] | null;
    }> | null;
  }> | null;
}
interface MessageType<T> {
  decode(reader: Uint8Array): T;
  fromObject(object: unknown): T;
  encode(message: unknown): { finish(): Uint8Array };
}

interface Messages {
  ExportTraceServiceRequest: MessageType<PbRequest>;
  ExportTraceServiceResponse: MessageType<unknown>;
}

let messages: Messages | undefined;
let loading: Promise<Messages> | undefined;

/** Loads the generated messages, once (decodeRequest and encodeResponse need them). */
export async function loadOtlpCodec(): Promise<void> {
  loading ??= import('@opentelemetry/otlp-transformer/build/src/generated/root.js').then(
    (m) =>
      (m.default as unknown as { opentelemetry: { proto: { collector: { trace: { v1: Messages } } } } }).opentelemetry.proto.collector.trace
        .v1,
  );
  messages = await loading;
}

function codec(): Messages {
  if (messages === undefined) throw new Error('the OTLP messages are not loaded: await loadOtlpCodec() first');
  return messages;
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/** Decodes a request body (already decompressed) of the given encoding (after loadOtlpCodec()). */
export function decodeRequest(body: Buffer, encoding: OtlpEncoding): OtlpRequest {
  let message: PbRequest;
  if (encoding === 'protobuf') {
    try {
      message = codec().ExportTraceServiceRequest.decode(body);
    } catch (err) {
      throw new OtlpRequestError('invalid_body', `the body is not an OTLP ExportTraceServiceRequest in protobuf: ${errorText(err)}`);
    }
  } else {
    let value: unknown;
    try {
      value = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      throw new OtlpRequestError('invalid_body', 'the body is not valid JSON');
    }
    if (!isPlainObject(value))
      throw new OtlpRequestError('invalid_body', 'the body must be a JSON object (an OTLP ExportTraceServiceRequest)');
    try {
      message = codec().ExportTraceServiceRequest.fromObject(hexIdsToBytes(value));
    } catch (err) {
      throw new OtlpRequestError('invalid_body', `the body is not an OTLP/JSON ExportTraceServiceRequest: ${errorText(err)}`);
    }
  }
  try {
    return toRequest(message);
  } catch (err) {
    // A message nested beyond what any converter can walk: decoding itself already recursed that deep.
    if (err instanceof RangeError) throw new OtlpRequestError('invalid_body', 'the body is nested too deeply');
    throw err;
  }
}

function errorText(err: unknown): string {
  if (err instanceof RangeError && /call stack/i.test(err.message)) return 'nested too deeply';
  return err instanceof Error ? err.message.replace(/^\.?opentelemetry\.proto\./, '') : String(err);
}

const HEX_ID = /^[0-9a-fA-F]*$/;

/** A copy of an OTLP/JSON request whose span, parent and link ids (hex text) are bytes, as `fromObject` takes them. */
function hexIdsToBytes(request: Record<string, unknown>): unknown {
  const ids = (holder: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> => {
    const out: Record<string, unknown> = { ...holder };
    for (const f of fields) {
      const v = holder[f];
      if (typeof v !== 'string') continue;
      // Not hex: no id at all (the span is refused for it); base64 would read it as other bytes.
      out[f] = HEX_ID.test(v) && v.length % 2 === 0 ? Buffer.from(v, 'hex') : new Uint8Array(0);
    }
    return out;
  };
  const each = <T>(v: unknown, f: (o: Record<string, unknown>) => T): unknown =>
    Array.isArray(v) ? v.map((x) => (isPlainObject(x) ? f(x) : x)) : v;
  return {
    ...request,
    resourceSpans: each(request.resourceSpans, (rs) => ({
      ...rs,
      scopeSpans: each(rs.scopeSpans, (ss) => ({
        ...ss,
        spans: each(ss.spans, (span) => {
          const out = ids(span, ['traceId', 'spanId', 'parentSpanId']);
          out.links = each(span.links, (link) => ids(link, ['traceId', 'spanId']));
          return out;
        }),
      })),
    })),
  };
}

/** Attribute values nested deeper than this are refused (their span, or every span of their resource). */
export const MAX_ATTRIBUTE_DEPTH = 64;

class TooDeep extends Error {}

function hex(bytes: Uint8Array | null | undefined, length: number): string {
  if (!bytes || bytes.length !== length) return '';
  const h = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
  // An all-zero id is "no id" in OTLP.
  return /^0+$/.test(h) ? '' : h;
}

function nanos(v: Int64): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'number') return Number.isFinite(v) ? BigInt(Math.trunc(v)) : 0n;
  const text = v.toString();
  return /^-?\d+$/.test(text) ? BigInt(text) : 0n;
}

function anyValue(v: PbAnyValue | null | undefined, depth: number): AttrValue {
  if (depth > MAX_ATTRIBUTE_DEPTH) throw new TooDeep();
  if (!v) return null;
  switch (v.value) {
    case 'stringValue':
      return v.stringValue ?? '';
    case 'boolValue':
      return v.boolValue ?? false;
    case 'intValue': {
      const n = v.intValue;
      if (typeof n === 'number') return n;
      const text = n === null || n === undefined ? '0' : n.toString();
      const asNumber = Number(text);
      return Number.isSafeInteger(asNumber) ? asNumber : text;
    }
    case 'doubleValue':
      return v.doubleValue ?? 0;
    case 'arrayValue':
      return (v.arrayValue?.values ?? []).map((x) => anyValue(x, depth + 1));
    case 'kvlistValue':
      return Object.fromEntries(attributes(v.kvlistValue?.values, depth + 1));
    case 'bytesValue':
      return Buffer.from(v.bytesValue ?? new Uint8Array(0)).toString('base64');
    default:
      return null;
  }
}

/** Key-value pairs; a key given twice keeps its last value. */
function attributes(list: PbKeyValue[] | null | undefined, depth = 0): Map<string, AttrValue> {
  const out = new Map<string, AttrValue>();
  for (const kv of list ?? []) out.set(kv.key ?? '', anyValue(kv.value, depth));
  return out;
}

function guarded<T>(build: () => T): { value: T; invalid: null } | { value: null; invalid: string } {
  try {
    return { value: build(), invalid: null };
  } catch (err) {
    if (err instanceof TooDeep)
      return { value: null, invalid: `an attribute value is nested more than ${MAX_ATTRIBUTE_DEPTH} levels deep` };
    throw err;
  }
}

function toSpan(s: PbSpan): OtlpSpan {
  const built = guarded(() => ({
    attributes: attributes(s.attributes),
    events: (s.events ?? []).map((e) => ({ timeNs: nanos(e.timeUnixNano), name: e.name ?? '', attributes: attributes(e.attributes) })),
    links: (s.links ?? []).map((l) => ({
      traceId: hex(l.traceId, 16),
      spanId: hex(l.spanId, 8),
      traceState: l.traceState ?? '',
      attributes: attributes(l.attributes),
    })),
  }));
  const parent = s.parentSpanId ?? null;
  const parentSpanId = hex(parent, 8);
  return {
    traceId: hex(s.traceId, 16),
    spanId: hex(s.spanId, 8),
    parentSpanId,
    badParent: parent !== null && parent.length > 0 && parent.length !== 8,
    traceState: s.traceState ?? '',
    name: s.name ?? '',
    kind: typeof s.kind === 'number' ? s.kind : 0,
    startNs: nanos(s.startTimeUnixNano),
    endNs: nanos(s.endTimeUnixNano),
    attributes: built.value?.attributes ?? new Map(),
    events: built.value?.events ?? [],
    links: built.value?.links ?? [],
    statusCode: typeof s.status?.code === 'number' ? s.status.code : 0,
    statusMessage: s.status?.message ?? '',
    droppedAttributesCount: s.droppedAttributesCount ?? 0,
    droppedEventsCount: s.droppedEventsCount ?? 0,
    droppedLinksCount: s.droppedLinksCount ?? 0,
    invalid: built.invalid,
  };
}

function toRequest(m: PbRequest): OtlpRequest {
  return {
    resourceSpans: (m.resourceSpans ?? []).map((rs) => {
      const resource = guarded(() => attributes(rs.resource?.attributes));
      return {
        resource: resource.value ?? new Map(),
        invalid: resource.invalid,
        scopeSpans: (rs.scopeSpans ?? []).map((ss) => {
          const scope = guarded(() => attributes(ss.scope?.attributes));
          return {
            scope: { name: ss.scope?.name ?? '', version: ss.scope?.version ?? '', attributes: scope.value ?? new Map() },
            spans: (ss.spans ?? []).map((span) => {
              const out = toSpan(span);
              if (out.invalid === null && scope.invalid !== null) out.invalid = `the scope's ${scope.invalid.replace(/^an /, '')}`;
              return out;
            }),
          };
        }),
      };
    }),
  };
}

// ---------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------

/** What an accepted export answers: how many spans were refused, and why (empty when all were taken). */
export interface ExportResult {
  rejectedSpans: number;
  errorMessage: string;
}

/** ExportTraceServiceResponse in the request's encoding: `partial_success` only when a span was refused (protobuf: after loadOtlpCodec()). */
export function encodeResponse(result: ExportResult, encoding: OtlpEncoding): Buffer | string {
  const partial = result.rejectedSpans > 0 || result.errorMessage !== '';
  if (encoding === 'json') {
    // int64 as a decimal string, as proto3's JSON mapping (and the OpenTelemetry Collector) writes it.
    return JSON.stringify(
      partial ? { partialSuccess: { rejectedSpans: String(result.rejectedSpans), errorMessage: result.errorMessage } } : {},
    );
  }
  const message = partial ? { partialSuccess: { rejectedSpans: result.rejectedSpans, errorMessage: result.errorMessage } } : {};
  return Buffer.from(codec().ExportTraceServiceResponse.encode(message).finish());
}

/** The gRPC status code OTLP's Status carries for an HTTP status (the spec leaves `code` optional). */
export function grpcCodeFor(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return 3; // INVALID_ARGUMENT
    case 401:
      return 16; // UNAUTHENTICATED
    case 413:
    case 429:
      return 8; // RESOURCE_EXHAUSTED
    case 415:
      return 3;
    default:
      return httpStatus >= 500 ? 13 : 2; // INTERNAL, UNKNOWN
  }
}

/**
 * google.rpc.Status `{code: int32 = 1, message: string = 2}` in protobuf, written here: the OTLP
 * packages ship no Status message, these are its only two fields we fill, and an error answer
 * (a 401 on a cold start) needs none of the generated code.
 */
export function encodeStatus(code: number, message: string): Buffer {
  const parts: Buffer[] = [];
  if (code !== 0) parts.push(Buffer.from([(1 << 3) | 0]), varint(BigInt.asUintN(64, BigInt(Math.trunc(code)))));
  if (message !== '') {
    const text = Buffer.from(message, 'utf8');
    parts.push(Buffer.from([(2 << 3) | 2]), varint(BigInt(text.length)), text);
  }
  return Buffer.concat(parts);
}

/** A protobuf varint (an int32 below zero is sign-extended to 64 bits first, as protobuf writes it). */
function varint(n: bigint): Buffer {
  const out: number[] = [];
  do {
    let byte = Number(n & 0x7fn);
    n >>= 7n;
    if (n > 0n) byte |= 0x80;
    out.push(byte);
  } while (n > 0n);
  return Buffer.from(out);
}
