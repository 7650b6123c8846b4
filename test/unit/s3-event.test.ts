import { describe, expect, it } from 'vitest';
import { objectRefsOf } from '../../functions/domain/ingest/s3-event.js';

/** An S3 event notification as S3 delivers it to SQS (trimmed of nothing). */
function notification(records: Array<{ eventName: string; key: string; size?: number; eTag?: string; versionId?: string }>) {
  return JSON.stringify({
    Records: records.map((r) => ({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'us-east-1',
      eventTime: '2024-05-01T12:00:00.000Z',
      eventName: r.eventName,
      userIdentity: { principalId: 'AWS:AIDAEXAMPLE' },
      requestParameters: { sourceIPAddress: '203.0.113.7' },
      responseElements: {
        'x-amz-request-id': 'C3D13FE58DE4C810',
        'x-amz-id-2': 'FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD',
      },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: 'ingest',
        bucket: { name: 'trace-bucket', ownerIdentity: { principalId: 'A3NL1KOZZKExample' }, arn: 'arn:aws:s3:::trace-bucket' },
        object: {
          key: r.key,
          ...(r.size !== undefined ? { size: r.size } : {}),
          ...(r.eTag !== undefined ? { eTag: r.eTag } : {}),
          ...(r.versionId !== undefined ? { versionId: r.versionId } : {}),
          sequencer: '0055AED6DCD90281E5',
        },
      },
    })),
  });
}

describe('objectRefsOf', () => {
  it('turns a real notification into refs with decoded keys', () => {
    const body = notification([
      {
        eventName: 'ObjectCreated:Put',
        key: 'uploads/org1/proj1/my+traces%2B1.jsonl',
        size: 1024,
        eTag: 'd41d8cd98f00b204e9800998ecf8427e',
        versionId: 'v1',
      },
      { eventName: 'ObjectCreated:CompleteMultipartUpload', key: 'drop/org1/proj1/%F0%9F%98%80.json', size: 5 },
    ]);
    expect(objectRefsOf(body)).toEqual([
      {
        bucket: 'trace-bucket',
        key: 'uploads/org1/proj1/my traces+1.jsonl',
        size: 1024,
        eTag: 'd41d8cd98f00b204e9800998ecf8427e',
        versionId: 'v1',
        eventTime: '2024-05-01T12:00:00.000Z',
      },
      {
        bucket: 'trace-bucket',
        key: 'drop/org1/proj1/😀.json',
        size: 5,
        eTag: undefined,
        versionId: undefined,
        eventTime: '2024-05-01T12:00:00.000Z',
      },
    ]);
  });

  it('keeps only ObjectCreated:* records', () => {
    const body = notification([
      { eventName: 'ObjectRemoved:Delete', key: 'uploads/o/p/gone.jsonl' },
      { eventName: 'ObjectCreated:Copy', key: 'uploads/o/p/kept.jsonl', size: 1 },
      { eventName: 'ObjectRestore:Completed', key: 'uploads/o/p/restored.jsonl' },
      { eventName: 'ObjectTagging:Put', key: 'uploads/o/p/tagged.jsonl' },
    ]);
    expect(objectRefsOf(body).map((r) => r.key)).toEqual(['uploads/o/p/kept.jsonl']);
  });

  it('answers [] for an empty Records list and for the s3:TestEvent', () => {
    expect(objectRefsOf('{"Records":[]}')).toEqual([]);
    const testEvent = JSON.stringify({
      Service: 'Amazon S3',
      Event: 's3:TestEvent',
      Time: '2024-05-01T12:00:00.000Z',
      Bucket: 'trace-bucket',
      RequestId: '5582815E1AEA5ADF',
      HostId: '8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE',
    });
    expect(objectRefsOf(testEvent)).toEqual([]);
  });

  it('throws a clear error for a body that is not JSON', () => {
    expect(() => objectRefsOf('not json at all')).toThrow('message body is not JSON');
    expect(() => objectRefsOf('')).toThrow('message body is not JSON');
  });

  it.each([
    ['an empty object', '{}'],
    ['an array', '[]'],
    ['a JSON string', '"hello"'],
    ['JSON null', 'null'],
    ['another event type', '{"Event":"s3:SomethingElse"}'],
    ['a record without s3', '{"Records":[{"eventName":"ObjectCreated:Put"}]}'],
    ['an empty key', '{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":""}}}]}'],
    ['a negative size', '{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":-1}}}]}'],
    ['a numeric key', '{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":5}}}]}'],
  ])('throws a clear error for a body of the wrong shape: %s', (_what, body) => {
    expect(() => objectRefsOf(body)).toThrow(/^message body is not an S3 event notification: /);
  });
});
