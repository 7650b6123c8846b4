/**
 * The API's OpenAPI 3.1 document, made from the route table (functions/routes.ts) and the zod
 * schemas each route names: the ones its handler validates with and its answer follows. Nothing
 * here is written twice: a route, parameter or field appears in the document because it is in the
 * table or a schema.
 */
import * as z from 'zod';
import { routes, type RouteDef } from '../routes.js';
import { ErrorAnswer, GatewayDenyAnswer } from '../domain/wire.js';

type Json = Record<string, unknown>;

/** JSON Schema 2020-12 (OpenAPI 3.1's dialect) of what a schema accepts (`input`) or answers (`output`). */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json;
  delete out.$schema; // the document's dialect already says it
  return out;
}

function json(schema: z.ZodType, io: 'input' | 'output'): Json {
  return { 'application/json': { schema: jsonSchema(schema, io) } };
}

function pathParameters(path: string): Json[] {
  return [...path.matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
}

function queryParameters(query: z.ZodType | undefined): Json[] {
  if (!query) return [];
  const schema = jsonSchema(query, 'input');
  const properties = (schema.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, s]) => ({ name, in: 'query', required: required.has(name), schema: s }));
}

function operation(r: RouteDef): Json {
  const responses: Json = {};
  for (const a of r.answers)
    responses[String(a.status)] = { description: a.description, ...(a.schema ? { content: json(a.schema, 'output') } : {}) };
  const error = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };
  if (r.auth === 'apiKey') {
    responses['401'] = { description: 'the key was revoked (`api_key_revoked`)', content: error };
    responses['403'] = {
      description: "no key, or not a key of this API: API Gateway's own answer",
      content: { 'application/json': { schema: { $ref: '#/components/schemas/GatewayDeny' } } },
    };
  }
  if (r.auth === 'apiKeyInRoute')
    responses['401'] = {
      description: 'no key, not a key of this API (`unauthorized`), or a revoked one (`api_key_revoked`)',
      content: error,
    };
  responses['4XX'] = { description: 'a bad request: what is wrong and what is allowed', content: error };
  responses['5XX'] = { description: 'the server failed; nothing about it is told', content: error };
  const parameters = [...pathParameters(r.path), ...queryParameters(r.query)];
  return {
    operationId: r.operationId ?? r.handler,
    summary: r.summary,
    tags: [r.path.startsWith('/api/parea/') ? 'Experiment trace logs (Parea)' : r.auth === 'none' ? 'Service' : 'Traces'],
    ...(parameters.length ? { parameters } : {}),
    ...(r.body ? { requestBody: { required: true, content: json(r.body, 'input') } } : {}),
    responses,
    security: r.auth === 'none' ? [] : [{ apiKey: [] }, { bearer: [] }],
  };
}

/** The document, for every route of the table. */
export function openApiDocument(): Json {
  const paths: Record<string, Json> = {};
  for (const r of routes) (paths[r.path] ??= {})[r.method.toLowerCase()] = operation(r);
  return {
    openapi: '3.1.0',
    info: {
      title: 'trace-ingest',
      version: '1',
      description:
        'Ingestion and HTTP API for LLM and agent execution traces: upload JSON/JSONL trace files (presign, PUT, create), ' +
        'read, list, delete and evaluate traces, and Parea-compatible experiment trace logs.',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas: { Error: jsonSchema(ErrorAnswer, 'output'), GatewayDeny: jsonSchema(GatewayDenyAnswer, 'output') },
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
        bearer: { type: 'http', scheme: 'bearer', description: 'the same API key, as Authorization: Bearer <key>' },
      },
    },
  };
}
