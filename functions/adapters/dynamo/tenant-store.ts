import { queryPages } from './query.js';
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, TransactWriteCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import {
  apiKeyId,
  type ApiKeyRecord,
  type ApiKeyState,
  type NewApiKey,
  type Organization,
  type Project,
  type Tenant,
  type TenantStore,
} from '../../domain/tenancy.js';
import { keys } from './keys.js';

/**
 * The items API key management adds next to `keys.apiKey` (the lookup item the authorizer reads):
 *   ORGS             ORG#<org>          one per organization: list every organization with a Query
 *   ORG#<org>        APIKEY#<sha256>    one per key, under its organization: list an organization's keys with a Query
 *   KEYID#<keyId>    KEYID              one per key: find a key's hash from its public key id
 */
const ORGANIZATIONS_PK = 'ORGS';
export const tenancyKeys = {
  organizationEntry: (org: string) => ({ pk: ORGANIZATIONS_PK, sk: `ORG#${org}` }),
  apiKeyListing: (org: string, hash: string) => ({ pk: `ORG#${org}`, sk: `APIKEY#${hash}` }),
  apiKeyId: (keyId: string) => ({ pk: `KEYID#${keyId}`, sk: 'KEYID' }),
};

export class DynamoTenantStore implements TenantStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  private async get(key: { pk: string; sk: string }): Promise<Record<string, unknown> | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: key }));
    return out.Item;
  }

  async projectExists(organizationId: string, projectId: string): Promise<boolean> {
    return (await this.getProject(organizationId, projectId)) !== null;
  }

  async getOrganization(id: string): Promise<Organization | null> {
    const i = await this.get(keys.organization(id));
    return i ? { id: String(i.id), name: String(i.name), createdAt: String(i.created_at) } : null;
  }

  async getProject(organizationId: string, projectId: string): Promise<Project | null> {
    const i = await this.get(keys.project(organizationId, projectId));
    return i ? { id: String(i.id), organizationId, name: String(i.name), createdAt: String(i.created_at) } : null;
  }

  async ensureOrganization(name: string, id: string): Promise<Organization> {
    const createdAt = new Date().toISOString();
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: { TableName: this.table, Item: { ...keys.organizationName(name), id }, ConditionExpression: 'attribute_not_exists(pk)' },
            },
            { Put: { TableName: this.table, Item: { ...keys.organization(id), type: 'organization', id, name, created_at: createdAt } } },
            { Put: { TableName: this.table, Item: this.organizationEntry({ id, name, createdAt }) } },
          ],
        }),
      );
      return { id, name, createdAt };
    } catch (err) {
      if (!(err instanceof TransactionCanceledException)) throw err;
      const existing = await this.findOrganizationByName(name);
      if (!existing) throw err;
      // An organization made before the ORGS entries existed gets its entry now.
      await this.doc
        .send(
          new PutCommand({
            TableName: this.table,
            Item: this.organizationEntry(existing),
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        )
        .catch((e: unknown) => {
          if (!(e instanceof ConditionalCheckFailedException)) throw e;
        });
      return existing;
    }
  }

  private organizationEntry(org: Organization): Record<string, unknown> {
    return { ...tenancyKeys.organizationEntry(org.id), type: 'organization-entry', id: org.id, name: org.name, created_at: org.createdAt };
  }

  async findOrganizationByName(name: string): Promise<Organization | null> {
    const byName = await this.doc.send(new GetCommand({ TableName: this.table, Key: keys.organizationName(name), ConsistentRead: true }));
    return byName.Item ? this.getOrganization(String(byName.Item.id)) : null;
  }

  async listOrganizations(): Promise<Organization[]> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :org)',
      ExpressionAttributeValues: { ':pk': ORGANIZATIONS_PK, ':org': 'ORG#' },
    });
    return items.map((i) => ({ id: String(i.id), name: String(i.name), createdAt: String(i.created_at) }));
  }

  private async queryAll(input: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey'>): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for await (const items of queryPages(this.doc, { TableName: this.table, ConsistentRead: true, ...input })) out.push(...items);
    return out;
  }

  async ensureProject(organizationId: string, name: string, id: string): Promise<Project> {
    const createdAt = new Date().toISOString();
    const nameKey = { pk: `ORG#${organizationId}`, sk: `PROJECTNAME#${name}` };
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: this.table, Item: { ...nameKey, id }, ConditionExpression: 'attribute_not_exists(pk)' } },
            {
              Put: {
                TableName: this.table,
                Item: {
                  ...keys.project(organizationId, id),
                  type: 'project',
                  id,
                  organization_id: organizationId,
                  name,
                  created_at: createdAt,
                },
              },
            },
            { Put: { TableName: this.table, Item: { ...keys.counter(organizationId, id), type: 'counter', traces: 0, by_source: {} } } },
          ],
        }),
      );
      return { id, organizationId, name, createdAt };
    } catch (err) {
      if (!(err instanceof TransactionCanceledException)) throw err;
      const byName = await this.doc.send(new GetCommand({ TableName: this.table, Key: nameKey, ConsistentRead: true }));
      const existing = byName.Item ? await this.getProject(organizationId, String(byName.Item.id)) : null;
      if (!existing) throw err;
      return existing;
    }
  }

  async storeApiKey(key: NewApiKey): Promise<void> {
    const keyId = apiKeyId(key.hash);
    const attributes = {
      type: 'api-key',
      key_id: keyId,
      prefix: key.prefix,
      organization_id: key.organizationId,
      project_id: key.projectId,
      created_at: key.createdAt,
    };
    await this.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: this.table,
              Item: { ...keys.apiKey(key.hash), ...attributes },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          {
            Put: {
              TableName: this.table,
              Item: { ...tenancyKeys.apiKeyListing(key.organizationId, key.hash), ...attributes, type: 'api-key-listing' },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          {
            Put: {
              TableName: this.table,
              Item: { ...tenancyKeys.apiKeyId(keyId), type: 'api-key-id', hash: key.hash, organization_id: key.organizationId },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
        ],
      }),
    );
  }

  async resolveApiKey(hash: string): Promise<Tenant | null> {
    const state = await this.lookupApiKey(hash);
    return state?.status === 'active' ? state.tenant : null;
  }

  async lookupApiKey(hash: string): Promise<ApiKeyState | null> {
    const i = await this.get(keys.apiKey(hash));
    if (!i) return null;
    if (i.revoked_at) return { status: 'revoked', revokedAt: String(i.revoked_at) };
    return { status: 'active', tenant: { organizationId: String(i.organization_id), projectId: String(i.project_id) } };
  }

  async listApiKeys(organizationId: string): Promise<ApiKeyRecord[]> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :key)',
      ExpressionAttributeValues: { ':pk': `ORG#${organizationId}`, ':key': 'APIKEY#' },
    });
    return items.map((i) => toApiKeyRecord(i, String(i.sk).slice('APIKEY#'.length)));
  }

  async findApiKeyHash(keyId: string): Promise<string | null> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: tenancyKeys.apiKeyId(keyId), ConsistentRead: true }));
    return out.Item ? String(out.Item.hash) : null;
  }

  async revokeApiKey(hash: string, revokedAt: string): Promise<ApiKeyRecord | null> {
    const read = async () =>
      (await this.doc.send(new GetCommand({ TableName: this.table, Key: keys.apiKey(hash), ConsistentRead: true }))).Item;
    const item = await read();
    if (!item) return null;
    if (item.revoked_at) return toApiKeyRecord(item, hash);
    const organizationId = String(item.organization_id);
    const update = (key: { pk: string; sk: string }, condition: string) => ({
      Update: {
        TableName: this.table,
        Key: key,
        UpdateExpression: 'SET revoked_at = :t',
        ConditionExpression: condition,
        ExpressionAttributeValues: { ':t': revokedAt },
      },
    });
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            update(keys.apiKey(hash), 'attribute_exists(pk) AND attribute_not_exists(revoked_at)'),
            // A key stored before listing items existed has only its lookup item (and no key_id).
            ...(item.key_id ? [update(tenancyKeys.apiKeyListing(organizationId, hash), 'attribute_exists(pk)')] : []),
          ],
        }),
      );
    } catch (err) {
      if (!(err instanceof TransactionCanceledException)) throw err;
      // Revoked meanwhile by someone else: answer their revocation.
      const now = await read();
      if (now?.revoked_at) return toApiKeyRecord(now, hash);
      throw err;
    }
    return toApiKeyRecord({ ...item, revoked_at: revokedAt }, hash);
  }

  /** The organization's projects: a Query on its partition (`PROJECT#<id>` items; not `PROJECTNAME#`). */
  async listProjects(organizationId: string): Promise<Project[]> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :project)',
      ExpressionAttributeValues: { ':pk': `ORG#${organizationId}`, ':project': 'PROJECT#' },
    });
    return items.map((i) => ({ id: String(i.id), organizationId, name: String(i.name), createdAt: String(i.created_at) }));
  }
}

function toApiKeyRecord(i: Record<string, unknown>, hash: string): ApiKeyRecord {
  return {
    keyId: apiKeyId(hash),
    prefix: typeof i.prefix === 'string' ? i.prefix : '',
    organizationId: String(i.organization_id),
    projectId: String(i.project_id),
    createdAt: String(i.created_at),
    revokedAt: typeof i.revoked_at === 'string' ? i.revoked_at : null,
  };
}
