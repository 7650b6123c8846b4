/**
 * Logs and metrics: every line of a request carries its keys (tenant, route, request id) and the
 * Lambda context; concurrent requests keep their own; 4xx/5xx answers are EMF metrics by route; the
 * DynamoDB client counts throttled attempts (against a server that answers throttling, with the
 * SDK's own retries).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { httpHandler, HttpError, type HttpEvent } from '../../functions/shared/http.js';
import { httpEvent } from '../../local/events.js';
import { log, withLogKeys } from '../../functions/shared/observability.js';
import { takeThrottles } from '../../functions/shared/throttles.js';
import { setTimeout as sleep } from 'node:timers/promises';

process.env.TABLE_NAME ??= 'observability-test';
process.env.BUCKET_NAME ??= 'observability-test';

function event(org: string, requestId: string): HttpEvent {
  return httpEvent({
    method: 'GET',
    path: '/x',
    routeKey: 'GET /api/v1/organizations/{organizationId}/projects/{projectId}/traces',
    requestId,
    authorizer: { organizationId: org, projectId: `${org}-p` },
  });
}

/**
 * The JSON lines logged while `fn` runs. Powertools writes them through the global console in dev mode (the tests run
 * with POWERTOOLS_DEV, vitest.config.ts), and on Lambda to stdout and stderr with the same methods.
 */
async function stdoutLines(fn: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const spies = (['log', 'info', 'warn', 'error'] as const).map((m) =>
    vi.spyOn(console, m).mockImplementation((text: unknown) => void lines.push(String(text))),
  );
  try {
    await fn();
  } finally {
    for (const s of spies) s.mockRestore();
  }
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

afterEach(() => vi.restoreAllMocks());

describe('logs', () => {
  it("puts the request's keys and the Lambda context on every line, and keeps concurrent requests' apart", async () => {
    const h = httpHandler(async (e) => {
      await sleep(5);
      log({ msg: 'working', step: 1 });
      return { statusCode: 200, body: String(e.requestContext.requestId) };
    });
    const context = {
      awsRequestId: 'lambda-req-1',
      functionName: 'fn',
      functionVersion: '$LATEST',
      memoryLimitInMB: '512',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:1:function:fn',
    };
    const lines = await stdoutLines(() => Promise.all([h(event('org-a', 'req-a'), context as never), h(event('org-b', 'req-b'))]));
    const working = lines.filter((l) => l.message === 'working');
    expect(working).toHaveLength(2);
    for (const [org, req] of [
      ['org-a', 'req-a'],
      ['org-b', 'req-b'],
    ] as const) {
      expect(working.find((l) => l.requestId === req)).toMatchObject({
        organizationId: org,
        projectId: `${org}-p`,
        route: event(org, req).routeKey,
        step: 1,
        service: 'trace-ingest',
      });
    }
    // Powertools' Lambda context keys, from the invocation that had one.
    expect(working.some((l) => l.function_request_id === 'lambda-req-1' && typeof l.cold_start === 'boolean')).toBe(true);
  });

  it('nests keys (an upload within a message) without leaking them to the next', async () => {
    const lines = await stdoutLines(async () => {
      await withLogKeys({ messageId: 'm1' }, () => withLogKeys({ uploadId: 'u1' }, async () => log({ msg: 'inner' })));
      log({ msg: 'outer', level: 'warn' });
    });
    expect(lines.find((l) => l.message === 'inner')).toMatchObject({ messageId: 'm1', uploadId: 'u1' });
    expect(lines.find((l) => l.message === 'outer')).not.toHaveProperty('uploadId');
  });
});

describe('metrics', () => {
  it('writes one EMF line per 4xx or 5xx answer, by route, and none for a success', async () => {
    const notFound = httpHandler(async () => {
      throw new HttpError(404, 'not_found', 'no');
    });
    const ok = httpHandler(async () => ({ statusCode: 200, body: '{}' }));
    const lines = await stdoutLines(async () => {
      await notFound(event('org-a', 'r1'));
      await ok(event('org-a', 'r2'));
    });
    const emf = lines.filter((l) => '_aws' in l);
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ ClientErrors: 1, route: event('org-a', 'r1').routeKey, service: 'trace-ingest' });
    expect(emf[0]!._aws).toMatchObject({
      CloudWatchMetrics: [
        { Namespace: 'TraceIngest', Dimensions: [['service', 'route']], Metrics: [{ Name: 'ClientErrors', Unit: 'Count' }] },
      ],
    });
  });

  it('counts every throttled DynamoDB attempt, the SDK retries included', async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-errortype': 'ProvisionedThroughputExceededException' });
        res.end(
          JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', message: 'slow down' }),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { newDynamoClient } = await import('../../functions/adapters/clients.js');
      const client = newDynamoClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      client.config.credentials = async () => ({ accessKeyId: 'x', secretAccessKey: 'y' });
      takeThrottles();
      await expect(client.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'a' } } }))).rejects.toMatchObject({
        name: 'ProvisionedThroughputExceededException',
      });
      // maxAttempts 3: each attempt answered with a throttle is counted.
      expect(takeThrottles()).toBe(3);
    } finally {
      server.close();
    }
  });
});
