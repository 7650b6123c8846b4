/**
 * `trace-ingest <command>`: the command line of the trace-ingest API, built on
 * the SDK (sdk/). Configured like the SDK: TRACE_INGEST_URL and
 * TRACE_INGEST_API_KEY, else the local stack's local-stack.json (DATA_DIR's,
 * or the first .data/local-stack.json here or in a folder above).
 * Exit status: 0 done, 1 failed, 2 usage error.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createWriteStream } from 'node:fs';
import type { DropResult } from './drop.js';
import {
  TraceIngestClient,
  TraceIngestError,
  listQuery,
  parseFilterExpression,
  type JobProgress,
  type JobTarget,
  type TraceFilters,
  type TraceLogTree,
  type UploadProgress,
  type UploadStatus,
} from '../sdk/index.js';
import { isEntryPoint } from './entry.js';
import { UsageError } from './usage.js';

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  /** stdout is a terminal: colour and progress lines. */
  isTTY: boolean;
  /** Makes the client (tests inject one). */
  client?: () => TraceIngestClient;
  /** Asks a yes/no question (default: a line read from stdin). */
  confirm?: (question: string) => Promise<boolean>;
}

const CONFIG_HELP = `Configuration: TRACE_INGEST_URL and TRACE_INGEST_API_KEY, or else the local
stack's local-stack.json (written by npm start): \${DATA_DIR}/local-stack.json, or
the first .data/local-stack.json in this folder or one above it.`;

export const USAGE = `Usage: trace-ingest <command> [options]

Commands:
  upload <files...>       upload .json/.jsonl trace files; reports traces and bad lines
  drop <files...>         put files into the S3 drop folder, wait for their ingestion, report it
  list                    list traces (filters as flags; --json for the raw answer)
  get <id>                one trace, as pretty JSON
  delete <id...>          delete traces; or by filter: delete --source S --search T ... [--yes]
  export [filters]        every matching trace (or --experiment U's spans) as JSON Lines (-o file)
  sources                 the project's trace sources
  status <upload-id>      an upload's status, counts and bad lines
  tree <experiment>       an experiment's span trees (--filter 'FIELD OP VALUE', --key K)
  experiments             the project's Parea experiments with their stats (--name N, --json)
  keys create|list|revoke manage API keys (on the stack's DynamoDB table)

  -h, --help              this help; "trace-ingest <command> --help" for one command

${CONFIG_HELP}

Exit status: 0 done, 1 failed (an API error, a file that failed or had bad lines), 2 usage error.`;

const HELP = {
  upload: `Usage: trace-ingest upload <files...> [--json]

Uploads each file (streamed: presign, PUT, create) and prints, per file, the
traces created and each bad line as "line N: message". On a terminal a
progress line shows the bytes sent, then the server's ingest (records so far,
bad lines so far).

  --json                  print one JSON answer per file instead
Exits 1 when a file failed or had bad lines.`,
  drop: `Usage: trace-ingest drop <files...> [--bucket B] [--prefix P] [--timeout S] [--json]

Puts each file into the S3 drop folder (drop/<organizationId>/<projectId>/),
then waits for the pipeline to ingest it and prints the traces created and
each bad line as "line N: message" (on a terminal, with a progress line while
it waits). A file the pipeline would refuse (missing, not .json/.jsonl, over
50 MiB) is refused here, before anything is sent.

  --bucket <b>            a deployed bucket, reached with the AWS environment's credentials
                          and region (default: the local stack's, from local-stack.json)
  --prefix <p>            where under the drop folder (default: drop/<org>/<project>/)
  --timeout <s>           seconds to wait for each file (default 300); the ingest goes on after
  --json                  one JSON result per file
Exits 1 when a file failed, had bad lines, or was not ingested in time.`,
  list: `Usage: trace-ingest list [filters] [--json] [--all]

  --source <s>            exact source (upload, s3, ...)
  --judge-id <id>         traces evaluated by that judge
  --status <s>            pass, fail, pending or unevaluated
  --time-range <r>        <n><m|h|d>, e.g. 30m, 24h, 7d
  --search <text>         case-insensitive substring of filename, input and document
  --sort-by <f>           created_at (default) or filename
  --sort-order <o>        desc (default) or asc
  --page <n>              1-based page
  --page-size <n>         1 to 500 (default 100)
  --cursor <c>            the previous answer's next_cursor
  --all                   every match, following cursors
  --json                  the raw answer (with --all: one trace per line)`,
  get: `Usage: trace-ingest get <id>

Prints the trace as pretty JSON.`,
  delete: `Usage: trace-ingest delete <id...>
       trace-ingest delete [filters] [--yes]
       trace-ingest delete --experiment <uuid> [--yes]

With ids: deletes each trace (and its evaluations). Exits 1 if any could not be deleted.
With filters (the list's), --experiment or --all: shows how many match, asks to confirm
(unless --yes), then deletes them as a job (through the same path as a single delete:
evaluations, documents, counters), with progress.

  --source <s>  --judge-id <id>  --status <s>  --time-range <r>  --search <text>
  --experiment <uuid>     the experiment's spans instead of traces
  --all                   every trace of the project (no filter)
  --yes                   do not ask`,
  export: `Usage: trace-ingest export [filters] [-o file] [--direct]
       trace-ingest export --experiment <uuid> [-o file] [--direct]

Writes every matching trace (one JSON object with its data per line, oldest first) or
the experiment's spans as JSON Lines, to the file or to stdout. Runs an export job
(progress on stderr), then downloads its file; --direct pages the answer from the API
instead (no job, no S3 download). Either way the range is fixed when it starts:
traces that arrive meanwhile are not in it, none is written twice.

  --source <s>  --judge-id <id>  --status <s>  --time-range <r>  --search <text>
  --experiment <uuid>     the experiment's spans
  -o, --output <file>     where to write (default stdout)
  --direct                page through GET .../traces/export instead of a job`,
  sources: `Usage: trace-ingest sources [--json]

Prints the project's trace sources, one per line.`,
  status: `Usage: trace-ingest status <upload-id> [--json]

Prints an upload's status, counts (so far, while processing) and bad lines (the
upload id is printed by upload and drop). Exits 1, like upload, when the upload
failed, had no valid record or had bad lines.`,
  tree: `Usage: trace-ingest tree <experiment-uuid> [--filter 'FIELD OP VALUE'] [--key K] [--json]

Prints each root span of the experiment and its descendants as an indented
tree: name, status, latency and scores. A tree is shown when its root or any
span in it matches the filter.

  --filter <expr>         e.g. 'score:accuracy >= 0.5', 'status = error', 'trace_name like %llm%'
                          operators: = != >= <= > < or equals, not_equals, like, in, between,
                          is_null, exists, greater_than, ...
  --key <k>               the map key for a map field (e.g. --filter 'metadata = 0' --key run)
  --json                  the raw trees`,
  experiments: `Usage: trace-ingest experiments [--name N] [--run R] [--json]

Lists the project's Parea experiments, newest first: name, run, status, when it
was created, how many root trees (samples) it finished with, and the means its
stats pinned (each score, latency, tokens, cost) and its dataset-level scores.

  --name <n>              one experiment name (its runs)
  --run <r>               one run name
  --json                  the raw experiments`,
  keys: `Usage: trace-ingest keys <create|list|revoke> [options]

Manages API keys (as npm run keys does).`,
} as const;

type CommandName = keyof typeof HELP;

/** The list's filters and an experiment: what export and delete-by-filter take. */
const JOB_FILTERS = {
  source: { type: 'string' },
  'judge-id': { type: 'string' },
  status: { type: 'string' },
  'time-range': { type: 'string' },
  search: { type: 'string' },
  experiment: { type: 'string' },
} as const;

const OPTIONS = {
  upload: { json: { type: 'boolean' } },
  drop: { bucket: { type: 'string' }, prefix: { type: 'string' }, timeout: { type: 'string' }, json: { type: 'boolean' } },
  list: {
    source: { type: 'string' },
    'judge-id': { type: 'string' },
    status: { type: 'string' },
    'time-range': { type: 'string' },
    search: { type: 'string' },
    'sort-by': { type: 'string' },
    'sort-order': { type: 'string' },
    page: { type: 'string' },
    'page-size': { type: 'string' },
    cursor: { type: 'string' },
    all: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  get: {},
  delete: { ...JOB_FILTERS, all: { type: 'boolean' }, yes: { type: 'boolean', short: 'y' } },
  export: { ...JOB_FILTERS, output: { type: 'string', short: 'o' }, direct: { type: 'boolean' } },
  sources: { json: { type: 'boolean' } },
  status: { json: { type: 'boolean' } },
  tree: { filter: { type: 'string' }, key: { type: 'string' }, json: { type: 'boolean' } },
  experiments: { name: { type: 'string' }, run: { type: 'string' }, json: { type: 'boolean' } },
} as const satisfies Record<Exclude<CommandName, 'keys'>, ParseArgsConfig['options']>;

/** Positional arguments each command takes: [min, max]. */
const POSITIONALS: Record<Exclude<CommandName, 'keys'>, [number, number, string]> = {
  upload: [1, Infinity, 'at least one file'],
  drop: [1, Infinity, 'at least one file'],
  list: [0, 0, 'no arguments'],
  get: [1, 1, 'one trace id'],
  delete: [0, Infinity, 'trace ids, or filters'],
  export: [0, 0, 'no arguments (filters as flags)'],
  sources: [0, 0, 'no arguments'],
  status: [1, 1, 'one upload id'],
  tree: [1, 1, 'one experiment uuid'],
  experiments: [0, 0, 'no arguments'],
};

interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
}

function style(on: boolean): Style {
  const wrap = (code: number, close: number) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[${close}m` : s);
  return { bold: wrap(1, 22), dim: wrap(2, 22), red: wrap(31, 39), green: wrap(32, 39), yellow: wrap(33, 39) };
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  isTTY: process.stdout.isTTY === true,
};

/** Runs the command line; answers the exit status. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const out = (line = '') => io.stdout(`${line}\n`);
  const err = (line: string) => io.stderr(`${line}\n`);
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    if (name === 'help' && rest[0] === 'keys') return main(['keys', '--help'], io);
    if (name === 'help' && rest[0] !== undefined && Object.hasOwn(HELP, rest[0])) {
      out(HELP[rest[0] as CommandName]);
      return 0;
    }
    (name === undefined ? err : out)(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (!Object.hasOwn(HELP, name)) {
    err(`error: unknown command ${JSON.stringify(name)}\n\n${USAGE}`);
    return 2;
  }
  const command = name as CommandName;
  if (command === 'keys') {
    // Loaded only here: it brings the DynamoDB client. Its own usage (its commands) for --help, no command, a bad one.
    const { main: keysMain } = await import('./keys.js');
    return keysMain(rest, { stdout: out, stderr: err, env: io.env }, 'trace-ingest keys');
  }
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    if (rest.includes('--help') || rest.includes('-h')) {
      out(HELP[command]);
      return 0;
    }
    const parsed = parseArgs({ args: [...rest], options: OPTIONS[command], allowPositionals: true, strict: true });
    values = parsed.values as Record<string, string | boolean | undefined>;
    positionals = parsed.positionals;
    const [min, max, what] = POSITIONALS[command];
    if (positionals.length < min || positionals.length > max) throw new UsageError(`${command} takes ${what}`);
  } catch (e) {
    const message =
      e instanceof UsageError ? e.message : e instanceof Error ? e.message.replace(/\. To specify a positional.*$/s, '') : String(e);
    err(`error: ${message}\n\n${HELP[command]}`);
    return 2;
  }
  const s = style(io.isTTY && !io.env.NO_COLOR);
  let client: TraceIngestClient;
  try {
    client = io.client ? io.client() : new TraceIngestClient({ env: io.env });
  } catch (e) {
    err(`error: ${describe(e)}`);
    return 1;
  }
  try {
    switch (command) {
      case 'upload':
        return await upload(client, positionals, values.json === true, io, s);
      case 'drop':
        return await drop(client, positionals, values, io, s);
      case 'list':
        return await list(client, values, io, s);
      case 'get':
        out(JSON.stringify(await client.traces.get(positionals[0]!), null, 2));
        return 0;
      case 'export':
        return await exportCommand(client, values, io, s);
      case 'delete': {
        if (positionals.length === 0) return await deleteByFilter(client, values, io, s);
        if (targetOf(values, false) !== null) throw new UsageError('give trace ids or filters, not both');
        let failed = 0;
        for (const id of positionals) {
          try {
            await client.traces.delete(id);
            out(`deleted ${id}`);
          } catch (e) {
            if (!(e instanceof TraceIngestError) || e.status === 0) throw e;
            failed++;
            err(`${s.red('error')}: ${id}: ${describe(e)}`);
          }
        }
        return failed > 0 ? 1 : 0;
      }
      case 'sources': {
        const sources = await client.traces.sources();
        if (values.json) out(JSON.stringify({ sources }, null, 2));
        else for (const src of sources) out(src);
        return 0;
      }
      case 'status':
        return await status(client, positionals[0]!, values.json === true, io, s);
      case 'tree':
        return await tree(client, positionals[0]!, values, io, s);
      case 'experiments':
        return await experiments(client, values, io, s);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`error: ${e.message}\n\n${HELP[command]}`);
      return 2;
    }
    err(`${s.red('error')}: ${describe(e)}`);
    return 1;
  }
}

/** An error in plain words, with a hint when there is an obvious one. */
function describe(e: unknown): string {
  if (e instanceof TraceIngestError) {
    if (e.code === 'network_error') return `${e.message} (is the API running? npm start, or set TRACE_INGEST_URL)`;
    if (e.code === 'api_key_revoked') return `${e.message}, and set TRACE_INGEST_API_KEY to it`;
    if (e.status === 403)
      return "the API key was refused (403 Forbidden): it is no key of this API; set TRACE_INGEST_API_KEY (the local stack's key is in .data/local-stack.json)";
    if (e.status === 401) return `the API key was refused (${e.message}); set TRACE_INGEST_API_KEY`;
    if (e.code === 'invalid_request' && e.status === 0) return e.message;
    return e.status > 0 ? `${e.message} (${e.status} ${e.code})` : e.message;
  }
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `no such file: ${(e as NodeJS.ErrnoException).path ?? e.message}`;
    if (code === 'EISDIR') return `is a directory: ${(e as NodeJS.ErrnoException).path ?? e.message}`;
    if (code === 'EACCES') return `permission denied: ${(e as NodeJS.ErrnoException).path ?? e.message}`;
    return e.message;
  }
  return String(e);
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function bar(done: number, total: number, width = 24): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

async function upload(client: TraceIngestClient, files: string[], json: boolean, io: CliIo, s: Style): Promise<number> {
  let failed = 0;
  for (const file of files) {
    const progress = (p: UploadProgress) => {
      if (!io.isTTY || json || p.phase === 'done') return;
      const what =
        p.phase !== 'ingest'
          ? `${bar(p.bytesSent, p.totalBytes)} ${bytes(p.bytesSent)} / ${bytes(p.totalBytes)}`
          : p.records === undefined
            ? `${bytes(p.totalBytes)} sent, creating traces…`
            : `${bytes(p.totalBytes)} sent, ingesting: ${ingested(p.records, p.errorCount ?? 0)}…`;
      io.stdout(`\r\x1b[2K${file}  ${what}`);
    };
    try {
      const r = await client.traces.upload(file, { onProgress: progress });
      if (io.isTTY && !json) io.stdout('\r\x1b[2K');
      const bad = r.errorCount > 0 || r.status !== 'completed';
      if (bad) failed++;
      if (json) {
        io.stdout(`${JSON.stringify({ file, ...r })}\n`);
        continue;
      }
      const head =
        r.status === 'completed'
          ? `${s.bold(file)}: ${created(r.traceIds.length, r.newTraces, s)}${r.errorCount > 0 ? `, ${s.yellow(plural(r.errorCount, 'bad line'))}` : ''}`
          : `${s.bold(file)}: ${s.red('failed')}${r.message ? `: ${r.message}` : ''}`;
      io.stdout(`${head}${r.uploadId ? s.dim(` (upload ${r.uploadId})`) : ''}\n`);
      for (const e of r.errors) io.stdout(`  line ${e.line}: ${e.message}\n`);
      if (r.errorCount > r.errors.length) io.stdout(`  … and ${r.errorCount - r.errors.length} more\n`);
    } catch (e) {
      if (io.isTTY && !json) io.stdout('\r\x1b[2K');
      if (e instanceof TraceIngestError && (e.code === 'network_error' || e.status === 401 || e.status === 403)) throw e;
      failed++;
      if (json) io.stdout(`${JSON.stringify({ file, status: 'failed', message: describe(e) })}\n`);
      else io.stderr(`${s.bold(file)}: ${s.red('failed')}: ${describe(e)}\n`);
    }
  }
  return failed > 0 ? 1 : 0;
}

async function drop(
  client: TraceIngestClient,
  files: string[],
  v: Record<string, string | boolean | undefined>,
  io: CliIo,
  s: Style,
): Promise<number> {
  const timeout = int(v.timeout, 'timeout') ?? 300;
  const tty = io.isTTY && !v.json;
  let failed = 0;
  const onResult = (r: DropResult) => {
    if (tty) io.stdout('\r\x1b[2K');
    // A file with no valid record fails, as with upload.
    const noValid = r.status === 'completed' && r.traces === 0;
    if (r.status !== 'completed' || noValid || r.errorCount > 0) failed++;
    if (v.json) {
      io.stdout(`${JSON.stringify(r)}\n`);
      return;
    }
    if (r.status === 'refused') {
      io.stderr(`${s.bold(r.file)}: ${s.red('refused')}: ${r.reason} (nothing was sent)\n`);
      return;
    }
    const head =
      r.status === 'completed' && !noValid
        ? `${s.bold(r.file)}: ${created(r.traces, r.newTraces, s)}${r.errorCount > 0 ? `, ${s.yellow(plural(r.errorCount, 'bad line'))}` : ''}`
        : noValid
          ? `${s.bold(r.file)}: ${s.red('failed')}: no valid record (${plural(r.errorCount, 'bad line')})`
          : `${s.bold(r.file)}: ${s.red(r.status)}${r.reason ? `: ${r.reason}` : ''}`;
    io.stdout(`${head}${s.dim(` (s3 key ${r.key}, upload ${r.uploadId})`)}\n`);
    for (const e of r.errors) io.stdout(`  line ${e.line}: ${e.message}\n`);
  };
  const onProgress = (file: string, u: UploadStatus | null) => {
    if (!tty) return;
    const what =
      u === null || u.status === 'pending'
        ? 'in the drop folder, waiting for the worker…'
        : `ingesting: ${ingested(u.records ?? 0, u.error_count ?? 0)}…`;
    io.stdout(`\r\x1b[2K${file}  ${what}`);
  };
  // Loaded only here: it brings the S3 client.
  const { dropFiles } = await import('./drop.js');
  await dropFiles(
    client,
    files,
    { bucket: str(v.bucket), prefix: str(v.prefix), timeoutMs: timeout * 1000, env: io.env },
    onResult,
    onProgress,
  );
  return failed > 0 ? 1 : 0;
}

function plural(n: number, what: string): string {
  return `${n.toLocaleString('en-US')} ${what}${n === 1 ? '' : 's'}`;
}

/** Records read so far, and bad lines so far. */
function ingested(records: number, bad: number): string {
  return `${plural(records, 'record')}, ${plural(bad, 'bad line')}`;
}

/** "N traces created", or how many of them are new when an identical upload had stored the others. */
function created(traces: number, fresh: number | null, s: Style): string {
  if (fresh === null || fresh === traces) return s.green(`${plural(traces, 'trace')} created`);
  return `${s.green(`${plural(fresh, 'new trace')}`)} (of ${plural(traces, 'trace')}: the others were stored before, from identical content)`;
}

function int(value: string | boolean | undefined, flag: string): number | undefined {
  if (value === undefined || typeof value === 'boolean') return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${flag} must be a whole number`);
  return Number(value);
}

function str(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function oneOf<T extends string>(value: string | boolean | undefined, flag: string, allowed: readonly T[]): T | undefined {
  const v = str(value);
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}`);
  return v as T;
}

function truncate(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function table(rows: string[][], header: string[], s: Style): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [s.bold(line(header)), ...rows.map(line)].join('\n');
}

async function list(client: TraceIngestClient, v: Record<string, string | boolean | undefined>, io: CliIo, s: Style): Promise<number> {
  const filters: TraceFilters = {};
  const set = <K extends keyof TraceFilters>(k: K, value: TraceFilters[K] | undefined) => {
    if (value !== undefined) filters[k] = value;
  };
  set('source', str(v.source));
  set('judgeId', str(v['judge-id']));
  set('status', oneOf(v.status, 'status', ['pass', 'fail', 'pending', 'unevaluated'] as const));
  set('timeRange', str(v['time-range']));
  set('search', str(v.search));
  set('sortBy', oneOf(v['sort-by'], 'sort-by', ['created_at', 'filename'] as const));
  set('sortOrder', oneOf(v['sort-order'], 'sort-order', ['asc', 'desc'] as const));
  set('page', int(v.page, 'page'));
  set('pageSize', int(v['page-size'], 'page-size'));
  set('cursor', str(v.cursor));
  try {
    listQuery(filters); // the server's own rules: a bad flag is a usage error, not a failed call
  } catch (e) {
    throw new UsageError(
      describe(e)
        .replace(/^list traces: /, '')
        .replace(/^(\w+)/, (f) => `--${f.replace(/_/g, '-')}`),
    );
  }
  const row = (t: {
    id: string;
    created_at: string;
    source: string;
    filename: string;
    evaluations_count: number;
    input: string | null;
  }) => [
    t.id,
    t.created_at.replace(/\.\d+Z$/, 'Z'),
    t.source,
    truncate(t.filename, 32),
    String(t.evaluations_count),
    truncate(t.input ?? '', 60),
  ];
  const header = ['ID', 'CREATED', 'SOURCE', 'FILENAME', 'EVALS', 'INPUT'];
  if (v.all) {
    const { page: _page, cursor: _cursor, ...rest } = filters;
    const rows: string[][] = [];
    for await (const t of client.traces.iterate(rest)) {
      if (v.json) io.stdout(`${JSON.stringify(t)}\n`);
      else rows.push(row(t));
    }
    if (!v.json)
      io.stdout(
        `${rows.length === 0 ? 'no traces' : table(rows, header, s)}\n${s.dim(`${rows.length} trace${rows.length === 1 ? '' : 's'}`)}\n`,
      );
    return 0;
  }
  const page = await client.traces.list(filters);
  if (v.json) {
    io.stdout(`${JSON.stringify(page, null, 2)}\n`);
    return 0;
  }
  io.stdout(`${page.traces.length === 0 ? 'no traces' : table(page.traces.map(row), header, s)}\n`);
  const total = `${page.total_count_exact ? '' : 'at least '}${page.total_count}`;
  const footer = `${page.count} of ${total} trace${page.total_count === 1 ? '' : 's'}${page.next_cursor ? `; next page: --cursor ${page.next_cursor}` : ''}`;
  io.stdout(`${s.dim(footer)}\n`);
  return 0;
}

async function status(client: TraceIngestClient, uploadId: string, json: boolean, io: CliIo, s: Style): Promise<number> {
  const u = await client.uploads.get(uploadId);
  // As upload answers it: a file with no valid record failed, and bad lines make the exit status 1 too.
  const noValid = u.status === 'completed' && (u.traces ?? 0) === 0;
  const code = u.status === 'failed' || noValid || (u.error_count ?? 0) > 0 ? 1 : 0;
  if (json) {
    io.stdout(`${JSON.stringify(u, null, 2)}\n`);
    return code;
  }
  const processing = u.status === 'processing' || u.status === 'pending';
  const shown = noValid ? 'failed (no valid record)' : u.status;
  const colour = u.status === 'completed' && !noValid ? s.green : u.status === 'failed' || noValid ? s.red : s.yellow;
  const soFar = processing ? ' so far' : '';
  const lines = [
    `upload    ${u.upload_id}`,
    `status    ${colour(shown)}`,
    ...(u.filename ? [`file      ${u.filename}${u.size != null ? ` (${bytes(u.size)})` : ''}`] : []),
    ...(u.source ? [`source    ${u.source}`] : []),
    ...(u.records != null ? [`records   ${u.records}${soFar}`] : []),
    ...(u.traces != null
      ? [`traces    ${u.traces}${soFar}${u.new_traces != null && u.new_traces !== u.traces && !processing ? ` (${u.new_traces} new)` : ''}`]
      : []),
    ...(u.error_count != null ? [`bad lines ${u.error_count}${soFar}`] : []),
    ...(u.reason ? [`reason    ${u.reason}`] : []),
    ...(u.last_error ? [`last error ${u.last_error}`] : []),
    ...(u.created_at ? [`created   ${u.created_at}`] : []),
    ...(u.completed_at ? [`completed ${u.completed_at}${u.duration_ms != null ? ` (${u.duration_ms} ms)` : ''}`] : []),
  ];
  io.stdout(`${lines.join('\n')}\n`);
  for (const e of u.errors ?? []) io.stdout(`  line ${e.line}: ${e.message}\n`);
  return code;
}

function latency(node: TraceLogTree): string {
  if (typeof node.latency === 'number') return node.latency < 1 ? `${Math.round(node.latency * 1000)}ms` : `${node.latency.toFixed(2)}s`;
  return '-';
}

/** The trees as indented lines; iterative, so a very deep chain prints too. */
export function renderForest(trees: readonly TraceLogTree[], s: Style = style(false)): string[] {
  const lines: string[] = [];
  const stack: Array<{ node: TraceLogTree; prefix: string; last: boolean; root: boolean }> = [];
  for (let i = trees.length - 1; i >= 0; i--) stack.push({ node: trees[i]!, prefix: '', last: true, root: true });
  while (stack.length > 0) {
    const { node, prefix, last, root } = stack.pop()!;
    const name = node.trace_name ?? node.trace_id;
    const st = node.status ?? '-';
    const statusText = st === 'success' ? s.green(st) : st === 'error' || st === 'failure' ? s.red(st) : st;
    const scores = (node.scores ?? []).map((sc) => `${sc.name}=${sc.score ?? 'null'}`).join(' ');
    const flags = node.tree_flags?.orphan ? s.yellow(' (orphan)') : node.tree_flags?.cycle_broken ? s.yellow(' (cycle broken)') : '';
    const branch = root ? '' : last ? '└─ ' : '├─ ';
    lines.push(
      `${prefix}${branch}${s.bold(name)}  ${statusText}  ${latency(node)}${scores ? `  ${scores}` : ''}${root ? s.dim(`  ${node.trace_id}`) : ''}${flags}`,
    );
    const childPrefix = root ? '' : `${prefix}${last ? '   ' : '│  '}`;
    const kids = node.children_logs;
    for (let i = kids.length - 1; i >= 0; i--)
      stack.push({ node: kids[i]!, prefix: childPrefix, last: i === kids.length - 1, root: false });
  }
  return lines;
}

async function tree(
  client: TraceIngestClient,
  experiment: string,
  v: Record<string, string | boolean | undefined>,
  io: CliIo,
  s: Style,
): Promise<number> {
  const key = str(v.key);
  const expression = str(v.filter);
  if (key !== undefined && expression === undefined) throw new UsageError('--key goes with --filter');
  let filter = null;
  if (expression !== undefined) {
    try {
      filter = parseFilterExpression(expression, key);
    } catch (e) {
      throw new UsageError(describe(e));
    }
  }
  const trees: TraceLogTree[] = [];
  let fieldSeen: boolean | null = null;
  let cursor: string | undefined;
  do {
    const page = await client.experiments.traceLogsPage(experiment, filter, cursor !== undefined ? { cursor } : {});
    trees.push(...page.trees);
    if (page.fieldSeen !== null) fieldSeen = (fieldSeen ?? false) || page.fieldSeen;
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  if (v.json) {
    io.stdout(`${JSON.stringify(trees, null, 2)}\n`);
    return 0;
  }
  if (trees.length === 0 && filter && fieldSeen === false) {
    // Not "nothing matched": no span has that field at all (the API tells the two apart).
    const field = filter.filter_field ?? '';
    const hint = /^(score|annotation):/.test(field)
      ? ''
      : `; a score is filtered as score:NAME, e.g. --filter ${JSON.stringify(expression!.replace(field, `score:${field}`))}`;
    io.stderr(
      `${s.red('error')}: no span of experiment ${experiment} has ${key !== undefined ? `the key ${JSON.stringify(key)} in ` : ''}the field ${JSON.stringify(field)}${hint}\n`,
    );
    return 1;
  }
  if (trees.length === 0) {
    io.stdout(`no trees${filter ? ' match' : ''} in experiment ${experiment}\n`);
    return 0;
  }
  io.stdout(`${renderForest(trees, s).join('\n')}\n`);
  return 0;
}

/** The job target the flags name: an experiment, or the list's filters (null when none is given). */
function targetOf(v: Record<string, string | boolean | undefined>, allowAll: boolean): JobTarget | null {
  const experiment = str(v.experiment);
  const filters = {
    source: str(v.source),
    judgeId: str(v['judge-id']),
    status: oneOf(v.status, 'status', ['pass', 'fail', 'pending', 'unevaluated'] as const),
    timeRange: str(v['time-range']),
    search: str(v.search),
  };
  const any = Object.values(filters).some((x) => x !== undefined);
  if (experiment !== undefined) {
    if (any || v.all) throw new UsageError('--experiment takes no trace filters');
    return { experimentUuid: experiment };
  }
  if (v.all) {
    if (!allowAll) throw new UsageError('--all is for delete');
    if (any) throw new UsageError('--all takes no filters');
    return { all: true };
  }
  return any ? filters : null;
}

function progressLine(io: CliIo, what: string, p: JobProgress): void {
  if (!io.isTTY) return;
  const total = p.total === null ? '?' : `${p.totalExact ? '' : '≥'}${p.total}`;
  io.stderr(`\r\x1b[2K${p.total ? `${bar(p.done, Math.max(p.total, p.done))} ` : ''}${p.done} / ${total} ${what} (${p.status})`);
}

async function exportCommand(
  client: TraceIngestClient,
  v: Record<string, string | boolean | undefined>,
  io: CliIo,
  s: Style,
): Promise<number> {
  const target = targetOf(v, false) ?? {};
  const output = str(v.output);
  const what = 'experimentUuid' in target && target.experimentUuid !== undefined ? 'spans' : 'traces';
  if (v.direct) {
    const lines =
      'experimentUuid' in target && target.experimentUuid !== undefined
        ? client.experiments.exportLines(target.experimentUuid)
        : client.traces.exportLines(target);
    const file = output ? createWriteStream(output) : null;
    let n = 0;
    for await (const line of lines) {
      if (file) {
        if (!file.write(`${line}\n`)) await new Promise<void>((r) => file.once('drain', () => r()));
      } else io.stdout(`${line}\n`);
      n++;
      if (io.isTTY && n % 100 === 0) io.stderr(`\r\x1b[2K${n} ${what}`);
    }
    if (file) await new Promise<void>((resolve, reject) => file.end((e?: Error | null) => (e ? reject(e) : resolve())));
    if (io.isTTY) io.stderr('\r\x1b[2K');
    io.stderr(`${s.green(`${n} ${what} exported`)}${output ? ` to ${output}` : ''}\n`);
    return 0;
  }
  const started = await client.exports.start(target);
  const job = await client.exports.wait(started.id, { onProgress: (p) => progressLine(io, what, p) });
  if (io.isTTY) io.stderr('\r\x1b[2K');
  if (output) await client.exports.download(job, output);
  else io.stdout((await client.exports.download(job))!.toString('utf8'));
  io.stderr(
    `${s.green(`${job.exported ?? 0} ${what} exported`)} (${bytes(job.bytes ?? 0)})${output ? ` to ${output}` : ''}${s.dim(` (export ${job.id})`)}\n`,
  );
  return 0;
}

async function deleteByFilter(
  client: TraceIngestClient,
  v: Record<string, string | boolean | undefined>,
  io: CliIo,
  s: Style,
): Promise<number> {
  const target = targetOf(v, true);
  if (target === null) throw new UsageError('delete takes trace ids, or filters (--source, --search, ...), --experiment or --all');
  const what = 'experimentUuid' in target && target.experimentUuid !== undefined ? 'spans' : 'traces';
  const count = await client.deletions.count(target);
  io.stdout(`${count.exact ? '' : 'at least '}${count.matching} ${what} match\n`);
  if (count.matching === 0 && count.exact) return 0;
  if (!v.yes) {
    const ask = io.confirm ?? askOnStdin;
    if (!(await ask(`delete ${count.exact ? '' : 'at least '}${count.matching} ${what}? [y/N] `))) {
      io.stdout('nothing deleted\n');
      return 1;
    }
  }
  const started = await client.deletions.start(target);
  const job = await client.deletions.wait(started.id, { onProgress: (p) => progressLine(io, what, p) });
  if (io.isTTY) io.stderr('\r\x1b[2K');
  io.stdout(`${s.green(`deleted ${job.deleted ?? 0} ${what}`)}${s.dim(` (deletion ${job.id})`)}\n`);
  return 0;
}

/** A yes/no answer read from stdin (a terminal, or a pipe: `echo y | trace-ingest delete ...`). */
async function askOnStdin(question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } catch {
    return false;
  } finally {
    rl.close();
  }
}

/** The project's experiments, one block each: its name and run, status, samples, then its pinned means. */
async function experiments(
  client: TraceIngestClient,
  v: Record<string, string | boolean | undefined>,
  io: CliIo,
  s: Style,
): Promise<number> {
  const list = await client.experiments.list({
    ...(str(v.name) !== undefined ? { name: str(v.name) } : {}),
    ...(str(v.run) !== undefined ? { runName: str(v.run) } : {}),
  });
  if (v.json) {
    io.stdout(`${JSON.stringify(list, null, 2)}\n`);
    return 0;
  }
  if (list.length === 0) {
    io.stdout('no experiments\n');
    return 0;
  }
  const lines: string[] = [];
  for (const e of list) {
    const status = e.status === 'completed' ? s.green(e.status) : e.status === 'failed' ? s.red(e.status) : s.yellow(e.status);
    lines.push(
      `${s.bold(e.name)} ${s.dim('run')} ${e.run_name}  ${status}  ${s.dim(e.created_at)}  ${e.num_samples === null ? s.dim('not finished') : `${e.num_samples} sample${e.num_samples === 1 ? '' : 's'}`}  ${s.dim(e.uuid)}`,
    );
    for (const p of e.pinned_stats) {
      const digits = p.var1 === 'cost' ? 5 : 2;
      lines.push(`  ${p.operation === 'custom' ? p.var1 : `${p.operation} ${p.var1}`}: ${p.value.toFixed(digits)}`);
    }
  }
  io.stdout(`${lines.join('\n')}\n`);
  return 0;
}

/** Runs with the process's arguments and sets its exit code (the bin shim calls this). */
export async function run(): Promise<void> {
  // Node 20 runs the CLI fine (Lambda runs Node 22): keep the AWS SDK's notice about it off every drop and keys.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  }
}

if (isEntryPoint(import.meta.url)) await run();
