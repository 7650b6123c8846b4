import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ExpiredTraceFinder } from '../../domain/retention.js';
import type { Tenant } from '../../domain/tenancy.js';
import { keys } from './keys.js';
import { queryPages } from './query.js';

const PAGE_SIZE = 100;

/**
 * A project's traces created before a time: a Query on the list index (gsi1,
 * sort key `<created_at>#<uploadId>#<position>`), oldest first, keys only.
 * `gsi1sk < <cutoff>` holds exactly for a creation time before the cutoff.
 */
export class DynamoExpiredTraceFinder implements ExpiredTraceFinder {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async *tracesCreatedBefore(tenant: Tenant, cutoff: string): AsyncGenerator<string[]> {
    const tracePrefix = keys.trace(tenant.organizationId, tenant.projectId, '').pk;
    for await (const items of queryPages(this.doc, {
      TableName: this.table,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :p AND gsi1sk < :cutoff',
      ExpressionAttributeValues: { ':p': keys.projectPartition(tenant.organizationId, tenant.projectId), ':cutoff': cutoff },
      ProjectionExpression: 'pk',
      ScanIndexForward: true,
      Limit: PAGE_SIZE,
    })) {
      const ids = items
        .map((i) => i.pk)
        .filter((pk): pk is string => typeof pk === 'string' && pk.startsWith(tracePrefix))
        .map((pk) => pk.slice(tracePrefix.length));
      if (ids.length > 0) yield ids;
    }
  }
}
