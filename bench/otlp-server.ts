/**
 * The API server (the local server, the route table's handlers, the authorizer) in a process of
 * its own, on whatever DynamoDB endpoint it is given (AWS_ENDPOINT_URL_DYNAMODB), so the OTLP
 * bench measures the server's CPU and memory apart from the exporters'. It makes the table if
 * missing and a project with a key, prints `{"url", "apiKey", "organizationId", "projectId"}`,
 * and on "stats" (a line on stdin) prints `{"cpuMs", "maxRssMB"}`.
 */
import { createInterface } from 'node:readline';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createApiKey } from '../functions/domain/tenancy.js';
import { tenantStore } from '../functions/shared/services.js';
import { startApiServer } from '../local/api-server.js';
import { ensureTable } from '../local/dynamodb.js';
import { SERVER_LINE } from './otlp-server-line.js';
import { peakRssMB } from './peak-rss.js';

const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
await ensureTable(
  new DynamoDBClient({ region: process.env.AWS_REGION ?? 'us-east-1', ...(endpoint ? { endpoint } : {}) }),
  process.env.TABLE_NAME!,
);
const tenant = await createApiKey(tenantStore(), { organization: `bench-otlp-${Date.now()}`, project: 'p' });
const api = await startApiServer({ port: 0 });
// This process's own lines start with SERVER_LINE (the handlers log to stdout too).
const write = (value: unknown) => process.stdout.write(`${SERVER_LINE}${JSON.stringify(value)}\n`);
write({ url: api.url, ...tenant });
const cpu0 = process.cpuUsage();
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === 'stats') {
    const cpu = process.cpuUsage(cpu0);
    write({ cpuMs: (cpu.user + cpu.system) / 1000, maxRssMB: peakRssMB() });
  }
}
await api.stop();
process.exit(0);
