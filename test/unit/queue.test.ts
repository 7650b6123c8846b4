import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalQueue } from '../../local/queue.js';
import { setTimeout as sleep } from 'node:timers/promises';

const dirs: string[] = [];
const queues: LocalQueue[] = [];
afterEach(async () => {
  for (const q of queues.splice(0)) await q.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'local-queue-test-'));
  dirs.push(d);
  return d;
}

function queue(options: ConstructorParameters<typeof LocalQueue>[0]): LocalQueue {
  const q = new LocalQueue(options);
  queues.push(q);
  return q;
}

const fail = (r: SQSRecord): SQSBatchResponse => ({ batchItemFailures: [{ itemIdentifier: r.messageId }] });

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('LocalQueue', () => {
  it('delivers the SQS event shape', async () => {
    const events: SQSEvent[] = [];
    const q = queue({ dir: null, consumer: async (e) => void events.push(e), queueArn: 'arn:aws:sqs:eu-west-1:123:q' });
    const body = '{"hello":"wörld"}';
    const id = q.send(body);
    await q.idle();
    expect(events).toHaveLength(1);
    expect(events[0]!.Records).toHaveLength(1);
    const r = events[0]!.Records[0]!;
    expect(r.messageId).toBe(id);
    expect(r.body).toBe(body);
    expect(r.eventSource).toBe('aws:sqs');
    expect(r.eventSourceARN).toBe('arn:aws:sqs:eu-west-1:123:q');
    expect(r.attributes.ApproximateReceiveCount).toBe('1');
    expect(r.md5OfBody).toBe(createHash('md5').update(body, 'utf8').digest('hex'));
    expect(r.receiptHandle).toEqual(expect.any(String));
    expect(q.depth).toBe(0);
  });

  it('delivers what is waiting in batches of up to batchSize; a failed record of a batch is redelivered alone', async () => {
    const batches: string[][] = [];
    const gate = deferred();
    let first = true;
    const q = queue({
      dir: null,
      concurrency: 1,
      batchSize: 5,
      retryDelayMs: () => 5,
      consumer: async (e) => {
        if (first) {
          first = false;
          await gate.promise; // the rest pile up meanwhile
        }
        batches.push(e.Records.map((r) => r.body));
        return {
          batchItemFailures: e.Records.filter((r) => r.body === 'm3' && r.attributes.ApproximateReceiveCount === '1').map((r) => ({
            itemIdentifier: r.messageId,
          })),
        };
      },
    });
    for (let i = 0; i < 8; i++) q.send(`m${i}`);
    gate.resolve();
    await q.idle();
    expect(batches).toEqual([['m0'], ['m1', 'm2', 'm3', 'm4', 'm5'], ['m6', 'm7'], ['m3']]);
  });

  it('redelivers a failed message after retryDelayMs, counting deliveries', async () => {
    const seen: Array<{ count: string; at: number }> = [];
    const delays: number[] = [];
    const q = queue({
      dir: null,
      consumer: async (e) => {
        const r = e.Records[0]!;
        seen.push({ count: r.attributes.ApproximateReceiveCount, at: Date.now() });
        return seen.length < 3 ? fail(r) : { batchItemFailures: [] };
      },
      retryDelayMs: (n) => {
        delays.push(n);
        return 60;
      },
    });
    q.send('x');
    await q.idle();
    expect(seen.map((s) => s.count)).toEqual(['1', '2', '3']);
    expect(delays).toEqual([1, 2]);
    expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(50);
    expect(seen[2]!.at - seen[1]!.at).toBeGreaterThanOrEqual(50);
    expect(q.deadLetters).toEqual([]);
  });

  it('dead-letters a message after maxReceiveCount deliveries, with the reason the consumer gave', async () => {
    let deliveries = 0;
    const q = queue({
      dir: null,
      consumer: async (e) => {
        deliveries++;
        return fail(e.Records[0]!);
      },
      maxReceiveCount: 3,
      retryDelayMs: () => 1,
      reasonFor: (id) => `reason for ${id}`,
    });
    const id = q.send('poison');
    await q.idle();
    expect(deliveries).toBe(3);
    expect(q.deadLetters).toHaveLength(1);
    expect(q.deadLetters[0]).toMatchObject({ messageId: id, body: 'poison', receiveCount: 3, reason: `reason for ${id}` });
    expect(Date.parse(q.deadLetters[0]!.failedAt)).not.toBeNaN();
  });

  it('falls back to a generic reason when none is known', async () => {
    const q = queue({ dir: null, consumer: async (e) => fail(e.Records[0]!), maxReceiveCount: 1 });
    q.send('x');
    await q.idle();
    expect(q.deadLetters[0]!.reason).toBe('the consumer reported the message as failed');
  });

  it('fails the message when the consumer throws, with the thrown message as reason', async () => {
    let deliveries = 0;
    const q = queue({
      dir: null,
      consumer: async () => {
        deliveries++;
        throw new Error('handler exploded');
      },
      maxReceiveCount: 2,
      retryDelayMs: () => 1,
      reasonFor: () => 'not this one',
    });
    q.send('x');
    await q.idle();
    expect(deliveries).toBe(2);
    expect(q.deadLetters.map((d) => d.reason)).toEqual(['handler exploded']);
  });

  it('idle() resolves only after every message, including redeliveries, is done', async () => {
    const done: string[] = [];
    let failedOnce = false;
    const q = queue({
      dir: null,
      concurrency: 2,
      retryDelayMs: () => 20,
      consumer: async (e) => {
        const r = e.Records[0]!;
        await sleep(10);
        if (r.body === 'b' && !failedOnce) {
          failedOnce = true;
          return fail(r);
        }
        done.push(r.body);
        return { batchItemFailures: [] };
      },
    });
    for (const b of ['a', 'b', 'c', 'd']) q.send(b);
    let resolved = false;
    const idle = q.idle().then(() => (resolved = true));
    await sleep(15);
    expect(resolved).toBe(false);
    await idle;
    expect(done.sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(q.depth).toBe(0);
    // Idle again right away once nothing is left.
    await q.idle();
  });

  it('runs at most `concurrency` deliveries at once', async () => {
    let active = 0;
    let peak = 0;
    const q = queue({
      dir: null,
      concurrency: 3,
      consumer: async () => {
        peak = Math.max(peak, ++active);
        await sleep(5);
        active--;
      },
    });
    for (let i = 0; i < 10; i++) q.send(String(i));
    await q.idle();
    expect(peak).toBe(3);
  });

  describe('with a directory', () => {
    it('delivers, after a restart, a message not yet delivered when the queue stopped', async () => {
      const dir = tempDir();
      const gate = deferred();
      const bodies: string[] = [];
      const q1 = queue({
        dir,
        concurrency: 1,
        consumer: async (e) => {
          bodies.push(e.Records[0]!.body);
          await gate.promise;
        },
      });
      q1.send('first');
      q1.send('second');
      await sleep(10);
      expect(bodies).toEqual(['first']);
      const stopped = q1.stop();
      gate.resolve();
      await stopped;
      expect(bodies).toEqual(['first']);
      // Only the undelivered message is left on disk.
      expect(readdirSync(join(dir, 'messages'))).toHaveLength(1);

      const received: SQSRecord[] = [];
      const q2 = queue({ dir, consumer: async (e) => void received.push(e.Records[0]!) });
      await q2.idle();
      expect(received.map((r) => r.body)).toEqual(['second']);
      expect(received[0]!.attributes.ApproximateReceiveCount).toBe('1');
      expect(readdirSync(join(dir, 'messages'))).toHaveLength(0);
    });

    it('keeps a message waiting for redelivery across a restart, with its receive count', async () => {
      const dir = tempDir();
      const q1 = queue({ dir, consumer: async (e) => fail(e.Records[0]!), retryDelayMs: () => 60_000 });
      const id = q1.send('retry me');
      await sleep(20);
      expect(q1.depth).toBe(1); // waiting in its retry timer
      await q1.stop();

      const received: SQSRecord[] = [];
      const q2 = queue({ dir, consumer: async (e) => void received.push(e.Records[0]!) });
      await q2.idle();
      expect(received).toHaveLength(1);
      expect(received[0]!.messageId).toBe(id);
      expect(received[0]!.attributes.ApproximateReceiveCount).toBe('2');
    });

    it('journals dead letters and reloads them on a new queue', async () => {
      const dir = tempDir();
      const q1 = queue({
        dir,
        consumer: async (e) => fail(e.Records[0]!),
        maxReceiveCount: 2,
        retryDelayMs: () => 1,
        reasonFor: () => 'bad file',
      });
      const id = q1.send('{"poison":true}');
      await q1.idle();
      expect(q1.deadLetters).toHaveLength(1);
      const onDisk = readFileSync(join(dir, 'dead-letters.jsonl'), 'utf8').trim().split('\n');
      expect(onDisk).toHaveLength(1);
      await q1.stop();

      let redelivered = 0;
      const q2 = queue({ dir, consumer: async () => void redelivered++ });
      expect(q2.deadLetters).toEqual(q1.deadLetters);
      expect(q2.deadLetters[0]).toMatchObject({ messageId: id, body: '{"poison":true}', receiveCount: 2, reason: 'bad file' });
      await q2.idle();
      // A dead letter is not delivered again.
      expect(redelivered).toBe(0);
      expect(readdirSync(join(dir, 'messages'))).toHaveLength(0);
    });
  });
});

describe('LocalQueue.stop', () => {
  it('waits for a delivery in flight only up to its grace period, and keeps the message for the next start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'queue-stop-'));
    try {
      const queue = new LocalQueue({ dir, consumer: () => new Promise(() => {}) });
      queue.send('{"stuck":true}');
      await sleep(20);
      const started = Date.now();
      await queue.stop(100);
      expect(Date.now() - started).toBeLessThan(1_000);
      const delivered: string[] = [];
      const next = new LocalQueue({ dir, consumer: async (e) => void delivered.push(e.Records[0]!.body) });
      await sleep(20);
      await next.idle();
      expect(delivered).toEqual(['{"stuck":true}']);
      await next.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
