/**
 * The one route table. The CDK HTTP API and the local server are both built
 * from it, so they cannot drift apart. Paths use API Gateway's `{param}`
 * syntax; `handler` names the entry file `functions/handlers/<handler>.ts`,
 * which exports `handler` (an API Gateway HTTP API payload v2 handler).
 * This file is plain data: the CDK app imports it without loading handlers.
 */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** `apiKey`: the request must pass the API-key authorizer (functions/handlers/authorizer.ts). */
export type RouteAuth = 'apiKey' | 'none';

export interface RouteDef {
  readonly method: HttpMethod;
  readonly path: string;
  readonly handler: string;
  readonly auth: RouteAuth;
}

export const routes: readonly RouteDef[] = [
  { method: 'GET', path: '/api/v1/organizations', handler: 'organizations', auth: 'apiKey' },
];

/** Lambda entry files that are not HTTP routes. */
export const workerHandlers = {
  /** SQS consumer of the bucket's object-created notifications. */
  ingest: 'ingest',
  /** API Gateway HTTP API Lambda REQUEST authorizer (simple responses). */
  authorizer: 'authorizer',
} as const;

/** Where the S3 object-created notifications come from. */
export { INGEST_PREFIXES } from './domain/layout.js';
