import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { sqsRecord } from './events.js';

export interface DeadLetter {
  messageId: string;
  body: string;
  receiveCount: number;
  reason: string;
  failedAt: string;
}

export interface LocalQueueOptions {
  /** Where messages and the dead-letter records are kept, so nothing is lost across restarts. Null: memory only. */
  dir: string | null;
  /** The consumer: an SQS-event Lambda handler with partial batch responses. */
  // biome-ignore lint/suspicious/noConfusingVoidType: an SQS handler answers a batch response or nothing, as aws-lambda types it
  consumer: (event: SQSEvent) => Promise<SQSBatchResponse | void>;
  maxReceiveCount?: number;
  /** Handler invocations at once. */
  concurrency?: number;
  /** Messages per invocation at most, as the event source's batch size (default 1): whatever is waiting, up to this many, goes in one. */
  batchSize?: number;
  /** Wait before delivery number n+1 after a failed delivery n (the visibility timeout). */
  retryDelayMs?: (receiveCount: number) => number;
  /** Why a message failed, if the consumer told us; kept in the dead-letter record. */
  reasonFor?: (messageId: string) => string | undefined;
  queueArn?: string;
}

interface Message {
  messageId: string;
  body: string;
  receiveCount: number;
  sentAt: number;
}

/**
 * An in-process stand-in for SQS with a redrive policy: it delivers the same
 * event shape the Lambda event source mapping does, redelivers failed
 * messages after a delay, and after maxReceiveCount deliveries moves them to
 * a dead-letter record with the reason. Messages are journaled to disk.
 */
export class LocalQueue {
  readonly deadLetters: DeadLetter[] = [];
  private readonly ready: Message[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private active = 0;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  private readonly maxReceiveCount: number;
  private readonly concurrency: number;
  private readonly batchSize: number;

  constructor(private readonly options: LocalQueueOptions) {
    this.maxReceiveCount = options.maxReceiveCount ?? 5;
    this.concurrency = options.concurrency ?? 2;
    this.batchSize = Math.max(1, options.batchSize ?? 1);
    if (options.dir) {
      mkdirSync(join(options.dir, 'messages'), { recursive: true });
      for (const line of safeRead(join(options.dir, 'dead-letters.jsonl')).split('\n')) {
        if (line.trim()) this.deadLetters.push(JSON.parse(line) as DeadLetter);
      }
      // Messages left from an earlier run (in flight when it stopped) are delivered again.
      for (const name of readdirSync(join(options.dir, 'messages')).sort()) {
        if (!name.endsWith('.json')) continue;
        const m = JSON.parse(readFileSync(join(options.dir, 'messages', name), 'utf8')) as Message;
        this.ready.push(m);
      }
      queueMicrotask(() => this.pump());
    }
  }

  /** Sends a message; answers its id. */
  send(body: string): string {
    const message: Message = { messageId: randomUUID(), body, receiveCount: 0, sentAt: Date.now() };
    this.persist(message);
    this.ready.push(message);
    this.pump();
    return message.messageId;
  }

  /** Resolves when no message is waiting, in flight or scheduled for redelivery. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  get depth(): number {
    return this.ready.length + this.active + this.timers.size;
  }

  /** Stops delivering; waits up to `graceMs` for deliveries in flight. Undelivered messages stay journaled. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const deadline = Date.now() + graceMs;
    while (this.active > 0 && Date.now() < deadline) await sleep(20);
  }

  private isIdle(): boolean {
    return this.ready.length === 0 && this.active === 0 && this.timers.size === 0;
  }

  private pump(): void {
    while (!this.stopped && this.active < this.concurrency && this.ready.length > 0) {
      const batch = this.ready.splice(0, this.batchSize);
      this.active++;
      void this.deliver(batch).finally(() => {
        this.active--;
        this.pump();
        if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  /** One invocation with a batch; each message then succeeds or fails on its own (partial batch responses). */
  private async deliver(batch: Message[]): Promise<void> {
    for (const m of batch) {
      m.receiveCount++;
      this.persist(m);
    }
    let failedIds: Set<string>;
    let thrown: string | undefined;
    try {
      const out = await this.options.consumer({ Records: batch.map((m) => this.record(m)) });
      failedIds = new Set((out?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch (err) {
      // A handler that throws fails its whole batch, as on Lambda.
      failedIds = new Set(batch.map((m) => m.messageId));
      thrown = err instanceof Error ? err.message : String(err);
    }
    for (const m of batch) {
      if (failedIds.has(m.messageId)) this.failed(m, thrown);
      else this.forget(m);
    }
  }

  private failed(message: Message, thrown: string | undefined): void {
    if (this.stopped) return; // stays journaled; delivered again on the next start
    const reason = thrown ?? this.options.reasonFor?.(message.messageId) ?? 'the consumer reported the message as failed';
    if (message.receiveCount >= this.maxReceiveCount) {
      const dead: DeadLetter = {
        messageId: message.messageId,
        body: message.body,
        receiveCount: message.receiveCount,
        reason,
        failedAt: new Date().toISOString(),
      };
      this.deadLetters.push(dead);
      if (this.options.dir) appendFileSync(join(this.options.dir, 'dead-letters.jsonl'), `${JSON.stringify(dead)}\n`);
      console.error(
        `[queue] message ${message.messageId} moved to the dead-letter record after ${message.receiveCount} deliveries: ${reason}`,
      );
      this.forget(message);
      return;
    }
    const delay = (this.options.retryDelayMs ?? defaultDelay)(message.receiveCount);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.ready.push(message);
      this.pump();
    }, delay);
    this.timers.add(timer);
  }

  private record(m: Message): SQSRecord {
    return sqsRecord({
      messageId: m.messageId,
      body: m.body,
      receiveCount: m.receiveCount,
      sentAt: m.sentAt,
      ...(this.options.queueArn ? { queueArn: this.options.queueArn } : {}),
    });
  }

  private persist(m: Message): void {
    if (!this.options.dir) return;
    const file = join(this.options.dir, 'messages', `${m.sentAt}-${m.messageId}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(m));
    renameSync(`${file}.tmp`, file);
  }

  private forget(m: Message): void {
    if (!this.options.dir) return;
    rmSync(join(this.options.dir, 'messages', `${m.sentAt}-${m.messageId}.json`), { force: true });
  }
}

/** Like a visibility timeout: long enough, by the last delivery, for a dead worker's lease (60 s) to lapse. */
function defaultDelay(receiveCount: number): number {
  return Math.min(30_000, 5_000 * 2 ** (receiveCount - 1));
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
