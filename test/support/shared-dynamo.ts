/**
 * One DynamoDB Local (in memory) per test worker for the whole run, started by vitest's globalSetup
 * (vitest.config.ts) in the background: a test stack uses its worker's (VITEST_POOL_ID), with a
 * table of its own that it deletes when it stops, instead of starting a Java process of its own per
 * file. A stack that needs its own (on disk, restarted mid-test) still starts one (test/support/stack.ts).
 * Besides the start, each file then meets a JVM whose JIT has warmed up on the files before.
 */
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { inject } from 'vitest';
import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb.js';
import { freePort } from '../../local/ports.js';
import { setTimeout as sleep } from 'node:timers/promises';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Worker n's DynamoDB Local is endpoint n - 1. */
    sharedDynamoEndpoints: string[];
  }
}

/** vitest's globalSetup: starts the DynamoDB Locals without waiting for them; the teardown stops them. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const workers = typeof project.config.maxWorkers === 'number' && project.config.maxWorkers > 0 ? project.config.maxWorkers : 1;
  const ports: number[] = [];
  for (let i = 0; i < workers; i++) {
    let port = await freePort();
    while (ports.includes(port)) port = await freePort();
    ports.push(port);
  }
  const started: Array<Promise<DynamoDbLocal | null>> = ports.map((port) =>
    startDynamoDbLocal({ port, dir: null }).catch((err: unknown) => {
      // The stacks that would use it wait for it in vain and say so (sharedDynamoEndpoint).
      console.error(`shared DynamoDB Local on port ${port} did not start: ${String(err)}`);
      return null;
    }),
  );
  project.provide(
    'sharedDynamoEndpoints',
    ports.map((port) => `http://127.0.0.1:${port}`),
  );
  return async () => {
    for (const d of await Promise.all(started)) await d?.stop();
  };
}

/** This worker's shared DynamoDB Local once it answers, or undefined when the run has none (no globalSetup). */
export async function sharedDynamoEndpoint(): Promise<string | undefined> {
  const endpoints = inject('sharedDynamoEndpoints');
  const pool = Number(process.env.VITEST_POOL_ID ?? 1);
  const endpoint = endpoints?.[(pool - 1) % endpoints.length];
  if (!endpoint) return undefined;
  const probe = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  try {
    for (const deadline = Date.now() + 60_000; ; ) {
      try {
        await probe.send(new ListTablesCommand({ Limit: 1 }));
        return endpoint;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`the shared DynamoDB Local at ${endpoint} did not answer within 60 s`, { cause: err });
        await sleep(100);
      }
    }
  } finally {
    probe.destroy();
  }
}
