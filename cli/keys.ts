/**
 * API key management: `npm run keys -- <create|list|revoke> [options]`.
 *
 * By default it works on the running local stack (DynamoDB Local); with
 * `--table` on a deployed table, with the default AWS credential chain.
 * Every answer is JSON lines on stdout; errors are plain text on stderr.
 * Exit status: 0 done, 1 failed, 2 usage error.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { DynamoTenantStore } from '../functions/adapters/dynamo/tenant-store.js';
import { createApiKey, listApiKeys, revokeApiKey, UnknownOrganizationError, type TenantStore } from '../functions/domain/tenancy.js';
import { findLocalStackFile } from '../sdk/config.js';
import { runIfEntryPoint } from './entry.js';
import { UsageError } from './usage.js';

export const LOCAL_TABLE = 'trace-ingest-local';
const DEFAULT_REGION = 'us-east-1';

const TARGET_HELP = `Target (every command):
  By default the running local stack (npm start): its DynamoDB Local and table,
  from its local-stack.json (\${DATA_DIR}/local-stack.json, or else the first
  .data/local-stack.json here or in a folder above); DYNAMODB_PORT picks
  another port of 127.0.0.1 (default 8000 when there is no such file).
  --table <name>          a deployed table instead, with the default AWS credential chain
  --region <region>       with --table: its region (default: the AWS SDK's, e.g. AWS_REGION)
  --endpoint-url <url>    with --table: its endpoint (default: the AWS SDK's)`;

export const USAGE = `Usage: PROGRAM <command> [options]

Manages API keys. A key is shown once, when it is created; the table keeps
only its SHA-256 hash. A key is named afterwards by its keyId (the first 16
hex characters of that hash) and shown by its prefix (its first 8 characters).

Commands:
  create --organization <name> --project <name>
                          make a key for that project (organization and project
                          are created if new); prints {"apiKey","organizationId","projectId"}
  list [--organization <name>]
                          one JSON line per key (revoked ones too), never the key
  revoke <keyId|apiKey>   the key stops authenticating; prints {"keyId","revokedAt"}

${TARGET_HELP}

  -h, --help              this help; "<command> --help" for one command

Exit status: 0 done, 1 failed (unknown key or organization, DynamoDB error), 2 usage error.`;

const COMMAND_USAGE = {
  create: `Usage: PROGRAM create --organization <name> --project <name> [target options]

Creates a new API key for the project <name> of the organization <name>,
creating either if it does not exist yet (by name: the same names reuse them).
Prints one JSON line: {"apiKey","organizationId","projectId"}. The key is shown
this once only.

${TARGET_HELP}`,
  list: `Usage: PROGRAM list [--organization <name>] [target options]

Prints one JSON line per key of that organization (or of every organization),
oldest first, revoked ones included:
{"keyId","prefix","organizationId","organizationName","projectId","projectName","createdAt","revokedAt"}
(revokedAt is null while the key is active). Never the key or its full hash.
Exits 1 if there is no organization of that name.

${TARGET_HELP}`,
  revoke: `Usage: PROGRAM revoke <keyId|apiKey> [target options]

Revokes a key, named by its keyId (16 hex characters, from "list") or by the
key itself: it no longer authenticates. Prints {"keyId","revokedAt"}; revoking
again answers the first revocation. Exits 1 if there is no such key.

${TARGET_HELP}`,
} as const;

export type CommandName = keyof typeof COMMAND_USAGE;

export interface TargetOptions {
  table?: string | undefined;
  region?: string | undefined;
  endpointUrl?: string | undefined;
}

export type Command =
  | { command: 'create'; organization: string; project: string; target: TargetOptions }
  | { command: 'list'; organization: string | undefined; target: TargetOptions }
  | { command: 'revoke'; key: string; target: TargetOptions };

/** What the command line asks for: help (exit 0), a usage error (exit 2) or a command to run. */
export type Parsed =
  | { kind: 'help'; text: string }
  | { kind: 'usage-error'; message: string; usage: string }
  | { kind: 'run'; run: Command };

const Name = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(256, 'must be at most 256 characters')
  .regex(/^\P{Cc}*$/u, 'must not contain control characters');
export const Target = z
  .object({
    table: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{3,255}$/, 'must be a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ . -)')
      .optional(),
    region: z
      .string()
      .regex(/^[a-z0-9-]{1,64}$/, 'must be a region name such as eu-west-1')
      .optional(),
    'endpoint-url': z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  })
  .refine((t) => t.table !== undefined || (t.region === undefined && t['endpoint-url'] === undefined), {
    message: '--region and --endpoint-url go with --table (the local stack needs neither)',
  });
const KeyArgument = z.string().trim().min(1, 'must not be empty').max(512, 'is too long to be a key');

const TARGET_OPTIONS = {
  table: { type: 'string', multiple: true },
  region: { type: 'string', multiple: true },
  'endpoint-url': { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

const COMMAND_OPTIONS = {
  create: { ...TARGET_OPTIONS, organization: { type: 'string', multiple: true }, project: { type: 'string', multiple: true } },
  list: { ...TARGET_OPTIONS, organization: { type: 'string', multiple: true } },
  revoke: TARGET_OPTIONS,
} as const;

function isCommand(name: string | undefined): name is CommandName {
  return name !== undefined && Object.hasOwn(COMMAND_USAGE, name);
}

function wantsHelp(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** One value per option: a repeated option is an error rather than last-one-wins. */
function single(values: Record<string, unknown>, name: string): string | undefined {
  const v = values[name] as string[] | undefined;
  if (v && v.length > 1) throw new UsageError(`--${name} is given more than once`);
  return v?.[0];
}

function validate<T>(schema: z.ZodType<T>, value: unknown, label: (path: PropertyKey[]) => string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new UsageError(`${label(issue.path)} ${issue.message}`.trim());
}

/** Parses the arguments after `npm run keys --` (or `trace-ingest keys`: `program` names it in the usage). Pure: no I/O. */
export function parseCommand(argv: readonly string[], program = 'npm run keys --'): Parsed {
  const parsed = parse(argv);
  const named = (text: string) => text.replaceAll('PROGRAM', program);
  if (parsed.kind === 'help') return { kind: 'help', text: named(parsed.text) };
  if (parsed.kind === 'usage-error') return { ...parsed, usage: named(parsed.usage) };
  return parsed;
}

function parse(argv: readonly string[]): Parsed {
  const [name, ...rest] = argv;
  if (name === undefined) return { kind: 'usage-error', message: 'a command is required', usage: USAGE };
  if (name === '--help' || name === '-h') return { kind: 'help', text: USAGE };
  if (name === 'help') {
    const topic = rest[0];
    if (rest.length > 1 || (topic !== undefined && !isCommand(topic)))
      return { kind: 'usage-error', message: `unknown command: ${topic ?? ''}`, usage: USAGE };
    return { kind: 'help', text: topic ? COMMAND_USAGE[topic] : USAGE };
  }
  if (!isCommand(name)) {
    const message = name.startsWith('-') ? `a command must come first (got ${name})` : `unknown command: ${name}`;
    return { kind: 'usage-error', message, usage: USAGE };
  }
  const usage = COMMAND_USAGE[name];
  if (wantsHelp(rest)) return { kind: 'help', text: usage };
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      options: COMMAND_OPTIONS[name],
      strict: true,
      allowPositionals: name === 'revoke',
    });
    const v = values as Record<string, unknown>;
    const targetValues = { table: single(v, 'table'), region: single(v, 'region'), 'endpoint-url': single(v, 'endpoint-url') };
    const t = validate(Target, targetValues, (path) => (path.length ? `--${String(path[0])}` : ''));
    const target: TargetOptions = { table: t.table, region: t.region, endpointUrl: t['endpoint-url'] };
    switch (name) {
      case 'create': {
        const organization = single(v, 'organization');
        const project = single(v, 'project');
        if (organization === undefined) throw new UsageError('--organization <name> is required');
        if (project === undefined) throw new UsageError('--project <name> is required');
        return {
          kind: 'run',
          run: {
            command: 'create',
            organization: validate(Name, organization, () => '--organization'),
            project: validate(Name, project, () => '--project'),
            target,
          },
        };
      }
      case 'list': {
        const organization = single(v, 'organization');
        return {
          kind: 'run',
          run: {
            command: 'list',
            organization: organization === undefined ? undefined : validate(Name, organization, () => '--organization'),
            target,
          },
        };
      }
      case 'revoke': {
        if (positionals.length !== 1)
          throw new UsageError(positionals.length ? 'revoke takes one key or keyId' : 'a keyId or an API key is required');
        return { kind: 'run', run: { command: 'revoke', key: validate(KeyArgument, positionals[0], () => 'the key'), target } };
      }
    }
  } catch (err) {
    if (err instanceof UsageError) return { kind: 'usage-error', message: err.message, usage };
    // node:util parseArgs: unknown option, missing or ambiguous value, unexpected argument.
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) {
      return { kind: 'usage-error', message: (err as Error).message.split('\n')[0]!, usage };
    }
    throw err;
  }
}

/** Where the command works: DynamoDB Local of the running local stack, or a deployed table. */
export type ResolvedTarget =
  | { kind: 'local'; table: string; endpoint: string; region: string }
  | { kind: 'aws'; table: string; region: string | undefined; endpoint: string | undefined };

const LocalEnv = z.object({
  DYNAMODB_PORT: z.coerce.number({ error: 'must be a port number' }).int().min(1).max(65535).optional(),
});
const LocalStackFile = z.object({
  region: z.string().min(1),
  dynamodbEndpoint: z.string().min(1).optional(),
  table: z.string().min(1).optional(),
});

/**
 * The target from the options and the environment: a deployed table, or the local stack the other
 * commands use (its local-stack.json, found as they find it: DATA_DIR, else upward from `cwd`), with
 * its DynamoDB Local endpoint, table and region. DYNAMODB_PORT, when set, names the port instead.
 */
export function resolveTarget(options: TargetOptions, env: Record<string, string | undefined>, cwd = process.cwd()): ResolvedTarget {
  if (options.table !== undefined) return { kind: 'aws', table: options.table, region: options.region, endpoint: options.endpointUrl };
  const e = validate(LocalEnv, { DYNAMODB_PORT: env.DYNAMODB_PORT || undefined }, (path) => String(path[0] ?? ''));
  let info: z.infer<typeof LocalStackFile> | null = null;
  const file = findLocalStackFile(env, cwd);
  try {
    const parsed = file === null ? null : LocalStackFile.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (parsed?.success) info = parsed.data;
  } catch {
    // unreadable: the defaults below
  }
  const endpoint =
    e.DYNAMODB_PORT !== undefined ? `http://127.0.0.1:${e.DYNAMODB_PORT}` : (info?.dynamodbEndpoint ?? 'http://127.0.0.1:8000');
  return { kind: 'local', table: info?.table ?? LOCAL_TABLE, endpoint, region: info?.region ?? DEFAULT_REGION };
}

/** A DynamoDB client for the target: DynamoDB Local's, or the default AWS credential chain's. */
export function targetClient(target: ResolvedTarget): DynamoDBClient {
  return target.kind === 'local'
    ? new DynamoDBClient({
        region: target.region,
        endpoint: target.endpoint,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        maxAttempts: 2,
      })
    : new DynamoDBClient({
        ...(target.region ? { region: target.region } : {}),
        ...(target.endpoint ? { endpoint: target.endpoint } : {}),
      });
}

function openStore(target: ResolvedTarget): { store: TenantStore; close(): void } {
  const client = targetClient(target);
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false } });
  return { store: new DynamoTenantStore(doc, target.table), close: () => client.destroy() };
}

/** A plain, one-line explanation of a failure. */
export function describeFailure(err: unknown, target: ResolvedTarget): string {
  if (err instanceof UnknownOrganizationError) return err.message;
  const e = err as { name?: string; message?: string; code?: string; errors?: Array<{ code?: string }> };
  const refused = e.code === 'ECONNREFUSED' || e.errors?.some((x) => x.code === 'ECONNREFUSED');
  if (refused) {
    return target.kind === 'local'
      ? `cannot reach DynamoDB Local at ${target.endpoint}: is the local stack running (npm start)? Set DYNAMODB_PORT if it listens on another port.`
      : `cannot reach DynamoDB${target.endpoint ? ` at ${target.endpoint}` : ''}: ${e.message ?? e.code}`;
  }
  if (e.name === 'ResourceNotFoundException') {
    return target.kind === 'local'
      ? `table ${target.table} does not exist at ${target.endpoint}: start the local stack once (npm start)`
      : `table ${target.table} not found${target.region ? ` in ${target.region}` : ''}: ${e.message ?? ''}`.trim();
  }
  return `${e.name ?? 'Error'}: ${e.message ?? String(err)}`;
}

export interface Io {
  stdout(line: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
}

const processIo: Io = {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
};

/** Runs the command line; answers the exit status. `program` is how the usage names it. */
export async function main(argv: readonly string[], io: Io = processIo, program?: string): Promise<number> {
  const parsed = parseCommand(argv, program);
  if (parsed.kind === 'help') {
    io.stdout(parsed.text);
    return 0;
  }
  if (parsed.kind === 'usage-error') {
    io.stderr(`error: ${parsed.message}\n\n${parsed.usage}`);
    return 2;
  }
  const { run } = parsed;
  let target: ResolvedTarget;
  try {
    target = resolveTarget(run.target, io.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr(`error: ${err.message}`);
    return 2;
  }
  const { store, close } = openStore(target);
  try {
    switch (run.command) {
      case 'create': {
        const created = await createApiKey(store, { organization: run.organization, project: run.project });
        io.stdout(JSON.stringify({ apiKey: created.apiKey, organizationId: created.organizationId, projectId: created.projectId }));
        return 0;
      }
      case 'list': {
        for (const k of await listApiKeys(store, { organization: run.organization })) {
          io.stdout(
            JSON.stringify({
              keyId: k.keyId,
              prefix: k.prefix,
              organizationId: k.organizationId,
              organizationName: k.organizationName,
              projectId: k.projectId,
              projectName: k.projectName,
              createdAt: k.createdAt,
              revokedAt: k.revokedAt,
            }),
          );
        }
        return 0;
      }
      case 'revoke': {
        const revoked = await revokeApiKey(store, run.key);
        if (!revoked) {
          // Never echo what may be a key.
          io.stderr(/^[0-9a-f]{16}$/i.test(run.key) ? `no API key with keyId ${run.key}` : 'no such API key');
          return 1;
        }
        io.stdout(JSON.stringify({ keyId: revoked.keyId, revokedAt: revoked.revokedAt }));
        return 0;
      }
    }
  } catch (err) {
    io.stderr(`error: ${describeFailure(err, target)}`);
    return 1;
  } finally {
    close();
  }
}

runIfEntryPoint(import.meta.url, (argv) => main(argv));
