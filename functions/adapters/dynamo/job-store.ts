import { TransactionCanceledException, ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ExportPart, Job, JobStore } from '../../domain/jobs.js';
import type { Tenant } from '../../domain/tenancy.js';
import { isExpired } from '../../domain/expiry.js';
import { keys } from './keys.js';
import { queryPages } from './query.js';

/**
 * Jobs in the single table: `JOB#<org>#<project>#<jobId>` / `JOB`, the job as JSON (`job`) with its
 * step as a number (the commit's condition) and its TTL; an export's parts beside it
 * (`PART#<n>`: the part's ETag), each recorded in the transaction that commits the step past it.
 */
export class DynamoJobStore implements JobStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  private item(job: Job): Record<string, unknown> {
    return {
      ...keys.job(job.organizationId, job.projectId, job.id),
      type: 'job',
      step: job.step,
      job: JSON.stringify(job),
      ...(job.expiresAt !== undefined ? { expires_at: job.expiresAt } : {}),
    };
  }

  async create(job: Job): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: this.item(job), ConditionExpression: 'attribute_not_exists(pk)' }));
  }

  async get(tenant: Tenant, jobId: string): Promise<Job | null> {
    if (jobId.length > 64) return null;
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: keys.job(tenant.organizationId, tenant.projectId, jobId), ConsistentRead: true }),
    );
    if (!out.Item || typeof out.Item.job !== 'string' || isExpired(out.Item.expires_at)) return null;
    return JSON.parse(out.Item.job) as Job;
  }

  async commit(next: Job, expectedStep: number, part?: ExportPart): Promise<boolean> {
    const put = {
      TableName: this.table,
      Item: this.item(next),
      ConditionExpression: '#step = :expected',
      ExpressionAttributeNames: { '#step': 'step' },
      ExpressionAttributeValues: { ':expected': expectedStep },
    };
    try {
      if (!part) {
        await this.doc.send(new PutCommand(put));
        return true;
      }
      const partItem = {
        ...keys.jobPart(next.organizationId, next.projectId, next.id, part.number),
        type: 'job-part',
        etag: part.etag,
        ...(next.expiresAt !== undefined ? { expires_at: next.expiresAt } : {}),
      };
      await this.doc.send(new TransactWriteCommand({ TransactItems: [{ Put: put }, { Put: { TableName: this.table, Item: partItem } }] }));
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      if (err instanceof TransactionCanceledException && err.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed') return false;
      throw err;
    }
  }

  async parts(job: Job): Promise<ExportPart[]> {
    const out: ExportPart[] = [];
    const pages = queryPages(this.doc, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :part)',
      ExpressionAttributeValues: { ':pk': keys.job(job.organizationId, job.projectId, job.id).pk, ':part': 'PART#' },
      ConsistentRead: true,
    });
    for await (const items of pages) for (const i of items) out.push({ number: Number(String(i.sk).slice(5)), etag: String(i.etag) });
    return out.sort((a, b) => a.number - b.number);
  }
}
