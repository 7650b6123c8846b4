import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCAL_TABLE, parseCommand, resolveTarget, USAGE } from '../../cli/keys.js';
import { apiKeyId, apiKeyPrefix, isApiKeyId } from '../../functions/domain/tenancy.js';

const noTarget = { table: undefined, region: undefined, endpointUrl: undefined };

describe('parseCommand', () => {
  it.each([
    [
      ['create', '--organization', 'acme', '--project', 'web'],
      { command: 'create', organization: 'acme', project: 'web', target: noTarget },
    ],
    [['create', '--project=web', '--organization=  acme '], { command: 'create', organization: 'acme', project: 'web', target: noTarget }],
    [['list'], { command: 'list', organization: undefined, target: noTarget }],
    [['list', '--organization', 'acme'], { command: 'list', organization: 'acme', target: noTarget }],
    [['revoke', '0123456789abcdef'], { command: 'revoke', key: '0123456789abcdef', target: noTarget }],
    [
      ['revoke', 'tik_x', '--table', 'traces-prod', '--region', 'eu-west-1', '--endpoint-url', 'https://dynamodb.eu-west-1.amazonaws.com'],
      {
        command: 'revoke',
        key: 'tik_x',
        target: { table: 'traces-prod', region: 'eu-west-1', endpointUrl: 'https://dynamodb.eu-west-1.amazonaws.com' },
      },
    ],
    [['list', '--table', 'traces-prod'], { command: 'list', organization: undefined, target: { ...noTarget, table: 'traces-prod' } }],
  ])('%j', (argv, run) => {
    expect(parseCommand(argv)).toEqual({ kind: 'run', run });
  });

  it.each([
    [['--help']],
    [['-h']],
    [['help']],
    [['help', 'list']],
    [['create', '--help']],
    [['revoke', '-h']],
    [['list', '--bogus', '--help']],
  ])('%j asks for help', (argv) => {
    expect(parseCommand(argv).kind).toBe('help');
  });

  it('answers the command\'s own usage for "<command> --help"', () => {
    const parsed = parseCommand(['revoke', '--help']);
    expect(parsed.kind === 'help' && parsed.text).toMatch(/^Usage: npm run keys -- revoke/);
    expect(parseCommand(['--help'], 'trace-ingest keys')).toMatchObject({
      kind: 'help',
      text: expect.stringMatching(
        /^Usage: trace-ingest keys <command>[\s\S]*\n {2}create --organization[\s\S]*\n {2}list [\s\S]*\n {2}revoke /,
      ),
    });
    expect(parseCommand(['--help'])).toEqual({ kind: 'help', text: USAGE.replaceAll('PROGRAM', 'npm run keys --') });
  });

  it.each([
    [[], /command is required/],
    [['rotate'], /unknown command: rotate/],
    [['--organization', 'x'], /command must come first/],
    [['help', 'rotate'], /unknown command/],
    [['create', '--organization', 'acme'], /--project <name> is required/],
    [['create', '--project', 'web'], /--organization <name> is required/],
    [['create', '--organization', '', '--project', 'web'], /--organization must not be empty/],
    [['create', '--organization', '   ', '--project', 'web'], /--organization must not be empty/],
    [['create', '--organization', 'a\u0007b', '--project', 'web'], /control characters/],
    [['create', '--organization', 'x'.repeat(257), '--project', 'web'], /at most 256/],
    [['create', '--organization', 'a', '--organization', 'b', '--project', 'web'], /more than once/],
    [['create', '--organization', '--project', 'web'], /ambiguous/],
    [['create', '--organization', 'a', '--project', 'web', 'extra'], /Unexpected argument/],
    [['list', '--bogus'], /Unknown option '--bogus'/],
    [['list', '--organization'], /argument missing/],
    [['list', '--region', 'eu-west-1'], /go with --table/],
    [['list', '--endpoint-url', 'http://localhost:8000'], /go with --table/],
    [['list', '--table', 'no spaces'], /--table must be a DynamoDB table name/],
    [['list', '--table', 'traces', '--endpoint-url', 'ftp://x'], /--endpoint-url must be an http\(s\) URL/],
    [['list', '--table', 'traces', '--region', 'EU WEST'], /--region must be a region name/],
    [['revoke'], /keyId or an API key is required/],
    [['revoke', 'a', 'b'], /one key or keyId/],
  ])('%j is a usage error', (argv, message) => {
    const parsed = parseCommand(argv);
    expect(parsed.kind).toBe('usage-error');
    if (parsed.kind === 'usage-error') {
      expect(parsed.message).toMatch(message);
      expect(parsed.message).not.toContain('\n');
      expect(parsed.usage).toMatch(/^Usage: npm run keys/);
    }
  });
});

describe('resolveTarget', () => {
  const root = mkdtempSync(join(tmpdir(), 'keys-target-'));
  const stackFile = (dir: string, info: Record<string, unknown>) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'local-stack.json'), JSON.stringify(info));
  };
  const nowhere = mkdtempSync(join(tmpdir(), 'keys-nowhere-'));
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(nowhere, { recursive: true, force: true });
  });

  it("follows DATA_DIR like the other commands: that stack's DynamoDB Local, table and region", () => {
    stackFile(join(root, 'other'), { region: 'eu-central-1', dynamodbEndpoint: 'http://127.0.0.1:32123', table: 'trace-ingest-local' });
    expect(resolveTarget({}, { DATA_DIR: join(root, 'other') }, nowhere)).toEqual({
      kind: 'local',
      table: LOCAL_TABLE,
      endpoint: 'http://127.0.0.1:32123',
      region: 'eu-central-1',
    });
    expect(resolveTarget({}, { DATA_DIR: 'other' }, root)).toMatchObject({ endpoint: 'http://127.0.0.1:32123' }); // relative to where it runs
    // DYNAMODB_PORT, when set, names the port.
    expect(resolveTarget({}, { DATA_DIR: join(root, 'other'), DYNAMODB_PORT: '8123' }, nowhere)).toMatchObject({
      endpoint: 'http://127.0.0.1:8123',
      region: 'eu-central-1',
    });
  });

  it('without DATA_DIR finds .data/local-stack.json in the working directory or a folder above it', () => {
    stackFile(join(root, '.data'), { region: 'us-west-2', dynamodbEndpoint: 'http://127.0.0.1:32124' });
    mkdirSync(join(root, 'a', 'b'), { recursive: true });
    expect(resolveTarget({}, {}, join(root, 'a', 'b'))).toMatchObject({
      kind: 'local',
      endpoint: 'http://127.0.0.1:32124',
      region: 'us-west-2',
    });
  });

  it('defaults to port 8000 and us-east-1 when there is no local-stack.json', () => {
    expect(resolveTarget({}, {}, nowhere)).toEqual({
      kind: 'local',
      table: LOCAL_TABLE,
      endpoint: 'http://127.0.0.1:8000',
      region: 'us-east-1',
    });
    stackFile(join(nowhere, 'broken'), {});
    writeFileSync(join(nowhere, 'broken', 'local-stack.json'), 'not json');
    expect(resolveTarget({}, { DATA_DIR: join(nowhere, 'broken') }, nowhere)).toMatchObject({
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:8000',
    });
  });

  it('refuses a DYNAMODB_PORT that is not a port', () => {
    expect(() => resolveTarget({}, { DYNAMODB_PORT: 'abc' }, nowhere)).toThrow(/DYNAMODB_PORT/);
    expect(() => resolveTarget({}, { DYNAMODB_PORT: '70000' }, nowhere)).toThrow(/DYNAMODB_PORT/);
  });

  it('with --table targets that table with the default credential chain, reading no local state', () => {
    expect(resolveTarget({ table: 'traces-prod' }, { DYNAMODB_PORT: 'abc' }, nowhere)).toEqual({
      kind: 'aws',
      table: 'traces-prod',
      region: undefined,
      endpoint: undefined,
    });
    expect(resolveTarget({ table: 't1x', region: 'eu-west-1', endpointUrl: 'http://localhost:9000' }, {}, nowhere)).toEqual({
      kind: 'aws',
      table: 't1x',
      region: 'eu-west-1',
      endpoint: 'http://localhost:9000',
    });
  });
});

describe('key handles', () => {
  it('keyId is the first 16 hex characters of the hash, prefix the first 8 characters of the key', () => {
    const hash = 'ab'.repeat(32);
    expect(apiKeyId(hash)).toBe('abababababababab');
    expect(apiKeyPrefix('tik_AbCdEfGh')).toBe('tik_AbCd');
    expect(isApiKeyId('0123456789abcdef')).toBe(true);
    expect(isApiKeyId('0123456789ABCDEF')).toBe(true);
    expect(isApiKeyId('tik_0123456789ab')).toBe(false);
    expect(isApiKeyId('0123456789abcde')).toBe(false);
  });
});
