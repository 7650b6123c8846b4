import { join } from 'node:path';
import * as z from 'zod';
import { DataDirInUseError } from './data-dir-lock.js';
import { PortTakenError, type LocalService } from './ports.js';
import { startLocalStack } from './stack.js';

/** `npm start`: the whole pipeline on this machine. */
const Env = z.object({
  DATA_DIR: z.string().min(1).default('.data'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  S3_PORT: z.coerce.number().int().min(0).max(65535).default(4569),
  DYNAMODB_PORT: z.coerce.number().int().min(1).max(65535).default(8000),
});

// Node 20 runs this stack fine; Lambda runs Node 22. Keep the SDK's notice out of the banner.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const env = Env.safeParse(process.env);
if (!env.success) {
  console.error(`trace-ingest: bad environment\n${z.prettifyError(env.error)}`);
  process.exit(2);
}
const { DATA_DIR, PORT, S3_PORT, DYNAMODB_PORT } = env.data;

const stack = await startLocalStack({
  dataDir: DATA_DIR,
  apiPort: PORT,
  s3Port: S3_PORT,
  dynamoPort: DYNAMODB_PORT,
  log: (line) => console.log(line),
}).catch((err: unknown) => {
  console.error(`trace-ingest: could not start the local stack: ${explain(err)}`);
  process.exit(1);
});

/** The variable that moves each server to another port. */
function explain(err: unknown): string {
  const variable: Record<LocalService, string> = { api: 'PORT', s3: 'S3_PORT', dynamodb: 'DYNAMODB_PORT' };
  if (err instanceof PortTakenError)
    return `${err.message}. Set ${variable[err.service]} to another port (e.g. ${variable[err.service]}=${err.port + 1} npm start).`;
  if (err instanceof DataDirInUseError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

const i = stack.info;
console.log(
  [
    '',
    'trace-ingest local stack is up',
    `  API           ${i.apiUrl}/api/v1   (x-api-key: ${i.apiKey})`,
    `  API docs      ${i.apiUrl}/api/v1/openapi.json   (OpenAPI 3.1, no key needed)`,
    `  S3            ${i.s3Endpoint}   bucket ${i.bucket}   keys ${i.s3AccessKeyId}/${i.s3SecretAccessKey}`,
    `  drop folder   s3://${i.bucket}/${i.dropPrefix}`,
    `  OpenTelemetry OTEL_EXPORTER_OTLP_ENDPOINT=${i.apiUrl}/otel OTEL_EXPORTER_OTLP_HEADERS=x-api-key=${i.apiKey}`,
    `  organization  ${i.organizationId}   project ${i.projectId}`,
    `  written to    ${join(DATA_DIR, 'local-stack.json')}`,
    '',
    `  try: AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER aws --endpoint-url ${i.s3Endpoint} s3 cp examples/chat-traces.jsonl s3://${i.bucket}/${i.dropPrefix}`,
    '',
  ].join('\n'),
);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping the local stack...`);
  await stack.stop();
  console.log('stopped.');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
