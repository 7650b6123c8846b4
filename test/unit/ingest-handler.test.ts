import type { SQSEvent } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { makeSqsIngestHandler } from '../../functions/handlers/ingest.js';
import { setupIngest, type FakeStorage } from '../support/ingest-fakes.js';
import { s3Notification, sqsRecord } from '../../local/events.js';

function setup(maxReceiveCount = 3) {
  const { storage, uploads, traces, deps } = setupIngest();
  // The writer refuses the traces of files whose name starts with "bad".
  traces.failWhen = (batch) => batch.some((t) => t.filename.startsWith('bad'));
  traces.failMessage = 'ValidationException: item too large';
  const failures: Array<[string, string]> = [];
  const handler = makeSqsIngestHandler({
    deps: () => deps,
    maxReceiveCount: () => maxReceiveCount,
    onMessageFailure: (id, reason) => failures.push([id, reason]),
  });
  return { storage, uploads, traces, handler, failures };
}

function notification(key: string, size: number): string {
  return s3Notification({ bucket: 'bucket', key, size, eTag: `etag-${size}`, eventTime: '2024-05-01T12:00:00.000Z' });
}

/** Stores an object with the ETag `notification` gives it; answers its size. */
function put(storage: FakeStorage, key: string, text: string): number {
  const b = Buffer.from(text);
  storage.put(key, b, `etag-${b.length}`);
  return b.length;
}

const GOOD = 'uploads/org1/proj1/good file.jsonl';
const BAD = 'uploads/org1/proj1/bad.jsonl';

describe('makeSqsIngestHandler', () => {
  it('reports exactly the failing message in batchItemFailures, with its reason', async () => {
    const { storage, uploads, handler, failures } = setup();
    const goodSize = put(storage, GOOD, '{"input":"a"}\n{"input":"b"}\n');
    const badSize = put(storage, BAD, '{"input":"c"}\n');
    const event: SQSEvent = {
      Records: [
        sqsRecord({ messageId: 'm-good', body: notification(GOOD, goodSize) }),
        sqsRecord({ messageId: 'm-bad', body: notification(BAD, badSize) }),
      ],
    };

    const out = await handler(event);
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: 'm-bad' }]);
    expect(failures).toEqual([['m-bad', 'ValidationException: item too large']]);
    expect(uploads.byObjectKey(GOOD)).toMatchObject({ status: 'completed', traces: 2 });
    // Not the last delivery: the upload waits for the retry.
    expect(uploads.byObjectKey(BAD)).toMatchObject({ status: 'pending', lastError: 'ValidationException: item too large' });
  });

  it('passes finalAttempt on the last delivery: the upload is marked failed, not pending', async () => {
    const { storage, uploads, handler } = setup(3);
    const size = put(storage, BAD, '{"input":"c"}\n');

    await handler({ Records: [sqsRecord({ messageId: 'm1', body: notification(BAD, size), receiveCount: 2 })] });
    expect(uploads.byObjectKey(BAD)!.status).toBe('pending');

    const out = await handler({ Records: [sqsRecord({ messageId: 'm1', body: notification(BAD, size), receiveCount: 3 })] });
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect(uploads.byObjectKey(BAD)).toMatchObject({ status: 'failed', reason: 'ValidationException: item too large' });
  });

  it('treats a receive count above the maximum as final too', async () => {
    const { storage, uploads, handler } = setup(2);
    const size = put(storage, BAD, '{"input":"c"}\n');
    await handler({ Records: [sqsRecord({ messageId: 'm1', body: notification(BAD, size), receiveCount: 7 })] });
    expect(uploads.byObjectKey(BAD)!.status).toBe('failed');
  });

  it('fails only the message whose body is malformed', async () => {
    const { storage, uploads, handler, failures } = setup();
    const size = put(storage, GOOD, '{"input":"a"}\n');
    const out = await handler({
      Records: [
        sqsRecord({ messageId: 'm-junk', body: 'this is not json' }),
        sqsRecord({ messageId: 'm-ok', body: notification(GOOD, size) }),
        sqsRecord({ messageId: 'm-shape', body: '{"Records":"nope"}' }),
      ],
    });
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: 'm-junk' }, { itemIdentifier: 'm-shape' }]);
    expect(failures.map(([id]) => id)).toEqual(['m-junk', 'm-shape']);
    expect(failures[0]![1]).toBe('message body is not JSON');
    expect(failures[1]![1]).toMatch(/^message body is not an S3 event notification/);
    expect(uploads.byObjectKey(GOOD)!.status).toBe('completed');
  });

  it('another worker holding the lease is an info-level wait, not an error: the message comes again', async () => {
    const { storage, uploads, handler } = setup();
    const size = put(storage, GOOD, '{"input":"a"}\n');
    uploads.leases.set(`org1/proj1/${GOOD}`, { owner: 'another worker', until: Date.now() + 60_000, starts: 1 });
    // The Logger (Powertools, dev mode in tests) writes each level through the console method of its name.
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const logs = (['log', 'info'] as const).map((m) => vi.spyOn(console, m).mockImplementation(() => {}));
    try {
      const out = await handler({ Records: [sqsRecord({ messageId: 'm1', body: notification(GOOD, size) })] });
      expect(out.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
      expect(errors).not.toHaveBeenCalled();
      const lines = logs.flatMap((l) => l.mock.calls.map((c) => JSON.parse(String(c[0])) as Record<string, unknown>));
      expect(lines.find((l) => l.messageId === 'm1')).toMatchObject({
        level: 'INFO',
        messageId: 'm1',
        reason: expect.stringContaining('another worker'),
      });
    } finally {
      errors.mockRestore();
      for (const l of logs) l.mockRestore();
    }
  });

  it('answers no failures for a batch that all succeeds, including the S3 test event', async () => {
    const { storage, handler, failures, traces } = setup();
    const size = put(storage, GOOD, '{"input":"a"}\n');
    const out = await handler({
      Records: [
        sqsRecord({ messageId: 'm1', body: notification(GOOD, size) }),
        sqsRecord({ messageId: 'm2', body: '{"Service":"Amazon S3","Event":"s3:TestEvent"}' }),
      ],
    });
    expect(out).toEqual({ batchItemFailures: [] });
    expect(failures).toEqual([]);
    expect(traces.items.size).toBe(1);
  });
});
