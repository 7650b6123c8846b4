/**
 * The AWS events the handlers receive, made as AWS makes them: an API Gateway HTTP API (v2)
 * request, an SQS record, and the notification S3 sends to SQS. The one place their shapes are
 * written: the local stack builds its events with these (local/api-server.ts, local/queue.ts,
 * local/s3-bridge.ts), and so do the tests that call a handler directly. Production code of the
 * local stack, so nothing here comes from test/.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { encodeEventKey } from '../functions/domain/object-key.js';
import type { HttpEvent } from '../functions/shared/http.js';

export interface HttpRequest {
  method: string;
  /** The path as requested (rawPath), without the query. */
  path: string;
  /** The route that matched, as `METHOD /path/{param}` (default: the method and path). */
  routeKey?: string;
  /** Lower-case names. */
  headers?: Record<string, string>;
  /** Without the `?`. */
  rawQueryString?: string;
  query?: Record<string, string>;
  pathParameters?: Record<string, string>;
  /** The body as the event carries it: text, or base64 with isBase64Encoded. */
  body?: string;
  isBase64Encoded?: boolean;
  /** What the Lambda authorizer answered as its context (requestContext.authorizer.lambda). */
  authorizer?: Record<string, unknown>;
  requestId?: string;
  sourceIp?: string;
  protocol?: string;
  /** When the request came (epoch ms). */
  at?: number;
}

/** The event API Gateway's HTTP API (payload format 2.0) gives a route's Lambda for a request. */
export function httpEvent(r: HttpRequest): HttpEvent {
  const headers = r.headers ?? {};
  const routeKey = r.routeKey ?? `${r.method} ${r.path}`;
  const at = r.at ?? Date.now();
  return {
    version: '2.0',
    routeKey,
    rawPath: r.path,
    rawQueryString: r.rawQueryString ?? '',
    headers,
    ...(r.query && Object.keys(r.query).length ? { queryStringParameters: r.query } : {}),
    ...(r.pathParameters && Object.keys(r.pathParameters).length ? { pathParameters: r.pathParameters } : {}),
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'localhost',
      http: {
        method: r.method,
        path: r.path,
        protocol: r.protocol ?? 'HTTP/1.1',
        sourceIp: r.sourceIp ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: r.requestId ?? randomUUID(),
      routeKey,
      stage: '$default',
      time: new Date(at).toUTCString(),
      timeEpoch: at,
      ...(r.authorizer ? { authorizer: { lambda: r.authorizer } } : {}),
    },
    ...(r.body !== undefined ? { body: r.body } : {}),
    isBase64Encoded: r.isBase64Encoded ?? false,
  } as HttpEvent;
}

/** One SQS message as the SQS event source hands it to Lambda, on its `receiveCount`th delivery. */
export function sqsRecord(m: { messageId: string; body: string; receiveCount?: number; sentAt?: number; queueArn?: string }): SQSRecord {
  const receiveCount = m.receiveCount ?? 1;
  const sentAt = String(m.sentAt ?? Date.now());
  return {
    messageId: m.messageId,
    receiptHandle: `${m.messageId}#${receiveCount}`,
    body: m.body,
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: sentAt,
      SenderId: 'local',
      ApproximateFirstReceiveTimestamp: sentAt,
    },
    messageAttributes: {},
    md5OfBody: createHash('md5').update(m.body).digest('hex'),
    eventSource: 'aws:sqs',
    eventSourceARN: m.queueArn ?? 'arn:aws:sqs:us-east-1:000000000000:trace-ingest-local',
    awsRegion: 'us-east-1',
  };
}

/** An SQS event of these records. */
export function sqsEvent(...records: SQSRecord[]): SQSEvent {
  return { Records: records };
}

export interface StoredObject {
  bucket: string;
  /** The key as stored (the notification carries it URL-encoded, as S3 does). */
  key: string;
  size: number;
  /** Without quotes. */
  eTag: string;
  versionId?: string | undefined;
  eventTime?: string;
  /** Default ObjectCreated:Put. */
  eventName?: string;
  region?: string;
  sequencer?: string;
}

/**
 * The message S3 sends to SQS for one event of a versioned bucket (event version 2.1), as a
 * JSON body: the key URL-encoded, the object's size, ETag and version id.
 */
export function s3Notification(o: StoredObject): string {
  return JSON.stringify({
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: o.region ?? 'us-east-1',
        eventTime: o.eventTime ?? new Date().toISOString(),
        eventName: o.eventName ?? 'ObjectCreated:Put',
        userIdentity: { principalId: 'AWS:LOCAL' },
        requestParameters: { sourceIPAddress: '127.0.0.1' },
        responseElements: { 'x-amz-request-id': 'LOCAL', 'x-amz-id-2': 'LOCAL' },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: 'trace-ingest-local',
          bucket: { name: o.bucket, ownerIdentity: { principalId: 'LOCAL' }, arn: `arn:aws:s3:::${o.bucket}` },
          object: {
            key: encodeEventKey(o.key),
            size: o.size,
            eTag: o.eTag,
            ...(o.versionId ? { versionId: o.versionId } : {}),
            sequencer: o.sequencer ?? Date.now().toString(16).toUpperCase(),
          },
        },
      },
    ],
  });
}
