import { Agent, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { forwardTo, startProxyServer, writeAnswer } from './dynamo-proxy.js';
import { mulberry32 } from './prng.js';

/** The DynamoDB operations that write: the ones a throttled table refuses. */
export const WRITE_OPERATIONS = new Set(['BatchWriteItem', 'PutItem', 'UpdateItem', 'TransactWriteItems', 'DeleteItem']);

export interface FaultProxyOptions {
  /** DynamoDB's endpoint, e.g. http://127.0.0.1:8000. */
  target: string;
  /** Seeds the PRNG that picks which calls fail: the same seed and call order give the same faults. */
  seed: number;
  /** Share of write calls answered with a throttling error instead of being forwarded (default 0). */
  throttleRate?: number;
  /** Of the throttling answers, the share that are ThrottlingException rather than ProvisionedThroughputExceededException (default 0.25). */
  throttlingExceptionShare?: number;
  /**
   * Share of BatchWriteItem calls (not throttled) that DynamoDB only partly processes: a random
   * non-empty subset of their items is held back and answered as UnprocessedItems (default 0).
   */
  unprocessedRate?: number;
  /**
   * Share of write calls (not throttled) that DynamoDB applies but whose answer never arrives: the
   * connection is reset after forwarding, so the client cannot tell whether the write happened (default 0).
   */
  lostAnswerRate?: number;
}

export interface FaultStats {
  /** Every call, by operation. */
  calls: Record<string, number>;
  writes: number;
  /** Write calls answered 400 ProvisionedThroughputExceededException. */
  provisionedThroughputExceeded: number;
  /** Write calls answered 400 ThrottlingException. */
  throttlingExceptions: number;
  /** BatchWriteItem calls answered with part of their items unprocessed, and how many items in all. */
  partialBatches: number;
  unprocessedItems: number;
  /** Write calls applied by DynamoDB whose answer was dropped (connection reset). */
  lostAnswers: number;
}

export interface FaultProxy {
  /** Point a DynamoDB client here. */
  endpoint: string;
  stats: FaultStats;
  /** Faults injected so far (every kind). */
  faults(): number;
  close(): Promise<void>;
}

interface BatchWriteBody {
  RequestItems: Record<string, unknown[]>;
}

/**
 * A small HTTP proxy in front of DynamoDB (Local) that fails a seeded-random
 * share of write calls the way a throttled table does (HTTP 400 with
 * DynamoDB's JSON error body, so the SDK sees exactly what AWS sends), and
 * optionally answers batch writes with part of their items unprocessed, or
 * applies a write and drops its answer. Everything else is forwarded untouched.
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const random = mulberry32(options.seed);
  const target = new URL(options.target);
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const stats: FaultStats = {
    calls: {},
    writes: 0,
    provisionedThroughputExceeded: 0,
    throttlingExceptions: 0,
    partialBatches: 0,
    unprocessedItems: 0,
    lostAnswers: 0,
  };
  const throttleRate = options.throttleRate ?? 0;
  const throttlingShare = options.throttlingExceptionShare ?? 0.25;
  const unprocessedRate = options.unprocessedRate ?? 0;
  const lostAnswerRate = options.lostAnswerRate ?? 0;

  const forward = (req: IncomingMessage, body: Buffer) => forwardTo(target, agent, req, body);
  const answer = writeAnswer;

  const throttle = (res: ServerResponse) => {
    const throttling = random() < throttlingShare;
    if (throttling) stats.throttlingExceptions++;
    else stats.provisionedThroughputExceeded++;
    const error = throttling
      ? { __type: 'com.amazon.coral.availability#ThrottlingException', message: 'Rate of requests exceeds the allowed throughput.' }
      : {
          __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
          message:
            'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
        };
    answer(
      res,
      400,
      { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'FAULT-PROXY' },
      Buffer.from(JSON.stringify(error)),
    );
  };

  /** Forwards a random part of a batch; the rest comes back as UnprocessedItems, merged with any DynamoDB left itself. */
  const partialBatch = async (req: IncomingMessage, res: ServerResponse, parsed: BatchWriteBody) => {
    const kept: BatchWriteBody = { ...parsed, RequestItems: {} };
    const held: Record<string, unknown[]> = {};
    let heldCount = 0;
    for (const [table, requests] of Object.entries(parsed.RequestItems)) {
      const mine = requests.map(() => random() < 0.5);
      if (!mine.some(Boolean)) mine[Math.floor(random() * mine.length)] = true; // at least one item held back
      held[table] = requests.filter((_, i) => mine[i]);
      heldCount += held[table].length;
      const rest = requests.filter((_, i) => !mine[i]);
      if (rest.length > 0) kept.RequestItems[table] = rest;
    }
    stats.partialBatches++;
    stats.unprocessedItems += heldCount;
    let status = 200;
    let headers: IncomingHttpHeaders = { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'FAULT-PROXY' };
    let reply: { UnprocessedItems?: Record<string, unknown[]> } = {};
    if (Object.keys(kept.RequestItems).length > 0) {
      const out = await forward(req, Buffer.from(JSON.stringify(kept)));
      if (out.status !== 200) return answer(res, out.status, out.headers, out.body);
      status = out.status;
      headers = out.headers;
      reply = JSON.parse(out.body.toString('utf8')) as typeof reply;
    }
    const unprocessed: Record<string, unknown[]> = { ...(reply.UnprocessedItems ?? {}) };
    for (const [table, requests] of Object.entries(held)) unprocessed[table] = [...(unprocessed[table] ?? []), ...requests];
    answer(res, status, headers, Buffer.from(JSON.stringify({ ...reply, UnprocessedItems: unprocessed })));
  };

  const { server, port } = await startProxyServer(async (req, res, body, operation) => {
    stats.calls[operation] = (stats.calls[operation] ?? 0) + 1;
    if (WRITE_OPERATIONS.has(operation)) {
      stats.writes++;
      if (random() < throttleRate) return throttle(res);
      if (operation === 'BatchWriteItem' && random() < unprocessedRate) {
        return partialBatch(req, res, JSON.parse(body.toString('utf8')) as BatchWriteBody);
      }
      if (random() < lostAnswerRate) {
        await forward(req, body);
        stats.lostAnswers++;
        res.socket?.resetAndDestroy();
        return;
      }
    }
    const out = await forward(req, body);
    answer(res, out.status, out.headers, out.body);
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    faults: () => stats.provisionedThroughputExceeded + stats.throttlingExceptions + stats.partialBatches + stats.lostAnswers,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
