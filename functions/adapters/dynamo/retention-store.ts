import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ExpiredTraceFinder } from '../../domain/retention.js';
import type { Tenant } from '../../domain/tenancy.js';
import { keys } from './keys.js';
import { mergeShards, projectTraceOrder } from './sharded-query.js';

const PAGE_SIZE = 100;

/**
 * A project's traces created before a time: the list index (gsi4, its shards merged, sort key
 * the order key `<created_at>#…`), oldest first, keys only. `ok < <cutoff>` holds exactly for a
 * creation time before the cutoff.
 */
export class DynamoExpiredTraceFinder implements ExpiredTraceFinder {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async *tracesCreatedBefore(tenant: Tenant, cutoff: string): AsyncGenerator<string[]> {
    const tracePrefix = keys.trace(tenant.organizationId, tenant.projectId, '').pk;
    let ids: string[] = [];
    for await (const item of mergeShards(this.doc, {
      ...projectTraceOrder(this.table, tenant.organizationId, tenant.projectId),
      upper: { value: cutoff, inclusive: false },
      forward: true,
      projection: ['pk'],
      expect: PAGE_SIZE,
    })) {
      if (typeof item.pk === 'string' && item.pk.startsWith(tracePrefix)) ids.push(item.pk.slice(tracePrefix.length));
      if (ids.length === PAGE_SIZE) {
        yield ids;
        ids = [];
      }
    }
    if (ids.length > 0) yield ids;
  }
}
