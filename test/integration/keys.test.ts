import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../functions/adapters/dynamo/keys.js';
import { tenancyKeys } from '../../functions/adapters/dynamo/tenant-store.js';
import { getItem, startTestStack, type TestStack } from '../support/stack.js';
import { buildCli, type BuiltCli } from '../support/cli-build.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

let stack: TestStack;
let dynamoPort: string;
let built: BuiltCli | undefined;
beforeAll(async () => {
  [stack, built] = await Promise.all([startTestStack(), buildCli('keys')]);
  dynamoPort = new URL(process.env.AWS_ENDPOINT_URL_DYNAMODB!).port;
}, 60_000);
afterAll(async () => {
  await stack?.cleanup();
  built?.remove();
});

/**
 * `npm run keys -- <args>` against the test stack, as a child process: cli/keys.ts as built once for this
 * file (test/support/cli-build.ts), not transpiled by tsx in each process.
 */
function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [built!.script, ...args], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: stack.dataDir, DYNAMODB_PORT: dynamoPort },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The JSON lines of a successful run. */
async function cliJson(...args: string[]): Promise<Array<Record<string, unknown>>> {
  const r = await cli(...args);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout.endsWith('\n')).toBe(true);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

type Created = { apiKey: string; organizationId: string; projectId: string };

async function create(organization: string, project: string): Promise<Created> {
  const lines = await cliJson('create', '--organization', organization, '--project', project);
  expect(lines).toHaveLength(1);
  expect(Object.keys(lines[0]!)).toEqual(['apiKey', 'organizationId', 'projectId']);
  return lines[0] as Created;
}

function organizationsWith(apiKey: string) {
  return fetch(`${stack.info.apiUrl}/api/v1/organizations`, { headers: { 'x-api-key': apiKey } });
}

// Each run is a fresh Node process (tsx, the AWS SDK): about a second each, more on a busy machine.
describe('npm run keys', { timeout: 60_000 }, () => {
  let first: Created;
  let second: Created;
  let other: Created;

  it('create prints one JSON line with a new key that authenticates for that organization and project', async () => {
    first = await create('acme', 'web');
    expect(first.apiKey).toMatch(/^tik_[A-Za-z0-9_-]{43,}$/);
    const res = await organizationsWith(first.apiKey);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { id: string; name: string; projects: Array<{ id: string; name: string }> } };
    expect(body.data.id).toBe(first.organizationId);
    expect(body.data.name).toBe('acme');
    expect(body.data.projects[0]!.id).toBe(first.projectId);
    expect(body.data.projects[0]!.name).toBe('web');
  });

  it('keeps only the hash: no item of the key holds the key itself', async () => {
    const hash = sha256(first.apiKey);
    const items = await Promise.all([
      getItem(stack, keys.apiKey(hash)),
      getItem(stack, tenancyKeys.apiKeyListing(first.organizationId, hash)),
      getItem(stack, tenancyKeys.apiKeyId(hash.slice(0, 16))),
    ]);
    for (const item of items) {
      expect(item).toBeDefined();
      expect(Object.values(item!)).not.toContain(first.apiKey);
      expect(JSON.stringify(item)).not.toContain(first.apiKey.slice(4));
    }
    expect(items[0]).toMatchObject({
      organization_id: first.organizationId,
      project_id: first.projectId,
      prefix: first.apiKey.slice(0, 8),
    });
  });

  it('create with the same names reuses the organization and project with a new key; another organization gets new ids', async () => {
    [second, other] = await Promise.all([create('acme', 'web'), create('globex', 'web')]);
    expect(second.organizationId).toBe(first.organizationId);
    expect(second.projectId).toBe(first.projectId);
    expect(second.apiKey).not.toBe(first.apiKey);
    expect(other.organizationId).not.toBe(first.organizationId);
    expect(other.projectId).not.toBe(first.projectId);
    expect((await organizationsWith(second.apiKey)).status).toBe(200);
  });

  it("list shows an organization's keys, oldest first, without the key or its hash; without --organization every organization's", async () => {
    const [r, all] = await Promise.all([cli('list', '--organization', 'acme'), cliJson('list')]);
    expect(r.code).toBe(0);
    for (const k of [first, second]) {
      expect(r.stdout).not.toContain(k.apiKey);
      expect(r.stdout).not.toContain(sha256(k.apiKey));
    }
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines.map((l) => l.keyId)).toEqual([first, second].map((k) => sha256(k.apiKey).slice(0, 16)));
    for (const l of lines) {
      expect(Object.keys(l)).toEqual([
        'keyId',
        'prefix',
        'organizationId',
        'organizationName',
        'projectId',
        'projectName',
        'createdAt',
        'revokedAt',
      ]);
      expect(l).toMatchObject({
        organizationId: first.organizationId,
        organizationName: 'acme',
        projectId: first.projectId,
        projectName: 'web',
        revokedAt: null,
      });
      expect(Date.parse(String(l.createdAt))).not.toBeNaN();
    }
    expect(lines.map((l) => l.prefix)).toEqual([first.apiKey.slice(0, 8), second.apiKey.slice(0, 8)]);

    const ids = all.map((l) => l.keyId);
    for (const k of [first, second, other, stack.info]) expect(ids).toContain(sha256(k.apiKey).slice(0, 16));
    expect(all.find((l) => l.keyId === sha256(other.apiKey).slice(0, 16))).toMatchObject({
      organizationName: 'globex',
      projectName: 'web',
    });
  });

  it('revoke by keyId stops that key at once while the others still work; revoking by the key again answers the same revocation', async () => {
    const keyId = sha256(first.apiKey).slice(0, 16);
    const [revoked] = await cliJson('revoke', keyId);
    expect(Object.keys(revoked!)).toEqual(['keyId', 'revokedAt']);
    expect(revoked!.keyId).toBe(keyId);
    expect(Date.parse(String(revoked!.revokedAt))).not.toBeNaN();

    const refused = await organizationsWith(first.apiKey);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string; message: string } }).error).toEqual({
      code: 'api_key_revoked',
      message: `this API key was revoked at ${String(revoked!.revokedAt)}; create a new one (npm run keys -- create)`,
    });
    expect((await organizationsWith(second.apiKey)).status).toBe(200);
    expect((await organizationsWith(other.apiKey)).status).toBe(200);

    const [again, listed] = await Promise.all([cliJson('revoke', first.apiKey), cliJson('list', '--organization', 'acme')]);
    expect(again).toEqual([revoked]);
    const byId = new Map(listed.map((l) => [l.keyId, l.revokedAt]));
    expect(byId.get(keyId)).toBe(revoked!.revokedAt);
    expect(byId.get(sha256(second.apiKey).slice(0, 16))).toBeNull();
  });

  it('handles what was stored before key listing: revokes an old key by the key itself, and lists an old organization once it gets a key', async () => {
    // The items createApiKey wrote before listing existed: no ORGS entry, no listing or key-id item, no key_id or prefix.
    const org = 'legacy-org-id';
    const oldKey = `tik_${'L'.repeat(43)}`;
    const put = (item: Record<string, unknown>) => stack.dynamo.send(new PutItemCommand({ TableName: stack.table, Item: marshall(item) }));
    await Promise.all([
      put({ ...keys.organizationName('legacy'), id: org }),
      put({ ...keys.organization(org), type: 'organization', id: org, name: 'legacy', created_at: '2024-01-01T00:00:00.000Z' }),
      put({
        ...keys.project(org, 'p1'),
        type: 'project',
        id: 'p1',
        organization_id: org,
        name: 'old',
        created_at: '2024-01-01T00:00:00.000Z',
      }),
      put({
        ...keys.apiKey(sha256(oldKey)),
        type: 'api-key',
        organization_id: org,
        project_id: 'p1',
        created_at: '2024-01-01T00:00:00.000Z',
      }),
    ]);
    expect((await organizationsWith(oldKey)).status).toBe(200);

    const [revoked, created] = await Promise.all([cliJson('revoke', oldKey), create('legacy', 'new')]);
    expect(revoked).toEqual([{ keyId: sha256(oldKey).slice(0, 16), revokedAt: expect.any(String) }]);
    expect((await organizationsWith(oldKey)).status).toBe(401);
    expect(created.organizationId).toBe(org);

    const listed = (await cliJson('list')).filter((l) => l.organizationId === org);
    expect(listed).toEqual([
      expect.objectContaining({ keyId: sha256(created.apiKey).slice(0, 16), organizationName: 'legacy', projectName: 'new' }),
    ]);
  });

  it('exits 1 with a plain message for an unknown key or organization', async () => {
    const [unknownId, unknownKey, unknownOrg] = await Promise.all([
      cli('revoke', '0123456789abcdef'),
      cli('revoke', 'tik_not-a-key-anyone-has'),
      cli('list', '--organization', 'no-such-organization'),
    ]);
    for (const r of [unknownId, unknownKey, unknownOrg]) {
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(unknownId.stderr).toContain('0123456789abcdef');
    expect(unknownKey.stderr).not.toContain('tik_not-a-key-anyone-has');
    expect(unknownOrg.stderr).toContain('no-such-organization');
  });

  it('--help exits 0 with the usage on stdout; an unknown flag exits 2 with the usage on stderr', async () => {
    const [help, badFlag] = await Promise.all([cli('--help'), cli('list', '--bogus')]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: npm run keys');
    expect(help.stderr).toBe('');
    expect(badFlag.code).toBe(2);
    expect(badFlag.stdout).toBe('');
    expect(badFlag.stderr).toContain("Unknown option '--bogus'");
    expect(badFlag.stderr).toContain('Usage: npm run keys');
  });
});
