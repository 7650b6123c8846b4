import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Organization, Project, Tenant, TenantStore } from '../../domain/tenancy.js';
import { keys } from './keys.js';

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
            { Put: { TableName: this.table, Item: { ...keys.organizationName(name), id }, ConditionExpression: 'attribute_not_exists(pk)' } },
            { Put: { TableName: this.table, Item: { ...keys.organization(id), type: 'organization', id, name, created_at: createdAt } } },
          ],
        }),
      );
      return { id, name, createdAt };
    } catch (err) {
      if (!(err instanceof TransactionCanceledException)) throw err;
      const byName = await this.doc.send(new GetCommand({ TableName: this.table, Key: keys.organizationName(name), ConsistentRead: true }));
      const existing = byName.Item ? await this.getOrganization(String(byName.Item.id)) : null;
      if (!existing) throw err;
      return existing;
    }
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
                Item: { ...keys.project(organizationId, id), type: 'project', id, organization_id: organizationId, name, created_at: createdAt },
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

  async storeApiKey(hash: string, tenant: Tenant, createdAt: string): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          ...keys.apiKey(hash),
          type: 'api-key',
          organization_id: tenant.organizationId,
          project_id: tenant.projectId,
          created_at: createdAt,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async resolveApiKey(hash: string): Promise<Tenant | null> {
    const i = await this.get(keys.apiKey(hash));
    if (!i || i.revoked_at) return null;
    return { organizationId: String(i.organization_id), projectId: String(i.project_id) };
  }
}
