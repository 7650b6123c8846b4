/**
 * `npm run migrate [-- --table <name> [--region <r>] [--endpoint-url <url>]] [--segments <n>]`:
 * moves a table to the current layout in place (functions/adapters/dynamo/migration.ts): the
 * indexes it lacks are created first (one at a time, as DynamoDB requires), then every item in an
 * old layout is rewritten. Idempotent and resumable: run it again after a failure or Ctrl-C and it
 * goes on from its checkpoints. By default it works on the running local stack (which also
 * migrates its own table when it starts). Exit status: 0 done, 1 failed, 2 usage error.
 */
import { parseArgs } from 'node:util';
import * as z from 'zod';
import { newDocumentClient } from '../functions/adapters/clients.js';
import { migrateTable } from '../functions/adapters/dynamo/migration.js';
import { runIfEntryPoint } from './entry.js';
import { describeFailure, resolveTarget, Target, targetClient, type Io } from './keys.js';

export const USAGE = `Usage: npm run migrate -- [--table <name> [--region <region>] [--endpoint-url <url>]] [--segments <n>]

Moves the table to the current layout, in place, while it keeps serving:
creates the indexes it lacks (one at a time; each must finish building
before the next), then rewrites every item of an earlier layout. Safe to run
again: it skips what is done and resumes from its checkpoints.

  --table <name>          a deployed table, with the default AWS credential chain
                          (default: the running local stack's DynamoDB Local,
                          http://127.0.0.1:\${DYNAMODB_PORT:-8000})
  --region <region>       with --table: its region
  --endpoint-url <url>    with --table: its endpoint
  --segments <n>          parallel scan segments, 1 to 64 (default 4)
  -h, --help              this help

Exit status: 0 done, 1 failed, 2 usage error.`;

const Options = z.object({
  segments: z.coerce.number({ error: 'must be a whole number' }).int('must be a whole number').min(1).max(64).default(4),
});

const processIo: Io = {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
};

export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        table: { type: 'string' },
        region: { type: 'string' },
        'endpoint-url': { type: 'string' },
        segments: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (err) {
    io.stderr(`error: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const target = Target.safeParse({ table: values.table, region: values.region, 'endpoint-url': values['endpoint-url'] });
  const options = Options.safeParse({ segments: values.segments });
  if (!target.success || !options.success) {
    const issue = (target.success ? options.error! : target.error).issues[0]!;
    io.stderr(`error: ${issue.path.length ? `--${issue.path.join('.')}: ` : ''}${issue.message}\n\n${USAGE}`);
    return 2;
  }
  const resolved = resolveTarget(
    { table: target.data.table, region: target.data.region, endpointUrl: target.data['endpoint-url'] },
    io.env,
  );
  const client = targetClient(resolved);
  try {
    const report = await migrateTable(client, newDocumentClient(client), resolved.table, {
      segments: options.data.segments,
      log: (line) => io.stderr(line),
    });
    io.stdout(JSON.stringify({ table: resolved.table, ...report }));
    return 0;
  } catch (err) {
    io.stderr(`error: ${describeFailure(err, resolved)}`);
    return 1;
  } finally {
    client.destroy();
  }
}

runIfEntryPoint(import.meta.url, (argv) => main(argv));
