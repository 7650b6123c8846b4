/** The OpenAPI document is valid OpenAPI 3.1 and covers the route table, made from the schemas the handlers validate with. */
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { ListQuerySchema } from '../../functions/domain/list-query.js';
import { routes } from '../../functions/routes.js';
import { openApiDocument } from '../../functions/shared/openapi.js';

type Json = any;
const doc = openApiDocument() as Json;

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document (a real validator, its JSON Schema for 3.1)', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 2)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('has every route of the route table, and nothing else, each keyed as it is protected', () => {
    const documented = Object.entries(doc.paths as Record<string, Record<string, Json>>).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(routes.map((r) => `${r.method} ${r.path}`).sort());
    for (const r of routes) {
      const op = doc.paths[r.path][r.method.toLowerCase()];
      expect(op.operationId).toBe(r.operationId ?? r.handler);
      expect(op.security).toEqual(r.auth === 'none' ? [] : [{ apiKey: [] }, { bearer: [] }]);
      for (const name of [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])) {
        expect(op.parameters, `${r.path} ${name}`).toContainEqual(expect.objectContaining({ name, in: 'path', required: true }));
      }
      for (const a of r.answers) expect(op.responses[String(a.status)], `${r.method} ${r.path} ${a.status}`).toBeDefined();
    }
    // One handler may serve several routes (the catalogue's notImplemented); each operation keeps its own id.
    const ids = routes.map((r) => doc.paths[r.path][r.method.toLowerCase()].operationId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(doc.paths['/health'].get.security).toEqual([]);
    expect(doc.paths['/api/v1/openapi.json'].get.security).toEqual([]);
  });

  it('takes parameters and bodies from the zod schemas the handlers validate with', () => {
    const list = doc.paths['/api/v1/organizations/{organizationId}/projects/{projectId}/traces'].get;
    const queryNames = list.parameters.filter((p: Json) => p.in === 'query').map((p: Json) => p.name);
    expect(queryNames.sort()).toEqual(Object.keys(ListQuerySchema.shape).sort());
    expect(list.parameters.find((p: Json) => p.name === 'page_size').schema).toMatchObject({
      type: 'integer',
      minimum: 1,
      maximum: 500,
      default: 100,
    });
    expect(list.parameters.find((p: Json) => p.name === 'status').schema.enum).toEqual(['pass', 'fail', 'pending', 'unevaluated']);

    const presign = doc.paths['/api/v1/organizations/{organizationId}/projects/{projectId}/traces/upload'].post;
    const body = presign.requestBody.content['application/json'].schema;
    expect(body.required.sort()).toEqual(['filename', 'size', 'type']);
    expect(presign.responses['200'].content['application/json'].schema.properties).toHaveProperty('url');
    expect(presign.responses['403'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/GatewayDeny' });

    const evaluations = doc.paths['/api/v1/organizations/{organizationId}/projects/{projectId}/trace-evaluations'];
    expect(evaluations.post.requestBody.content['application/json'].schema.required.sort()).toEqual(['judge_id', 'trace_id']);
    expect(
      evaluations.get.parameters
        .filter((p: Json) => p.in === 'query')
        .map((p: Json) => p.name)
        .sort(),
    ).toEqual(['cursor', 'judge_id', 'outcome', 'page', 'page_size', 'search', 'sort_by', 'sort_order', 'time_range', 'trace_id']);
    expect(evaluations.get.parameters.find((p: Json) => p.name === 'outcome').schema.enum).toEqual(['pass', 'fail', 'pending']);
    // The evaluations' time_range is the traces list's own parameter.
    expect(evaluations.get.parameters.find((p: Json) => p.name === 'time_range')).toEqual(
      list.parameters.find((p: Json) => p.name === 'time_range'),
    );
    expect(doc.paths['/api/parea/v1/trace_log'].post.requestBody.content['application/json'].schema.required).toEqual(['trace_id']);
  });

  it("documents issue 15's routes: Parea experiments, feedback, get_trace_logs, LangChain runs, evaluation results, the catalogue", () => {
    const P = '/api/v1/organizations/{organizationId}/projects/{projectId}';
    const body = (op: Json) => op.requestBody.content['application/json'].schema;
    const answer = (op: Json, status: string) => op.responses[status].content['application/json'].schema;
    const created = doc.paths['/api/parea/v1/experiment'].post;
    expect(body(created).required.sort()).toEqual(['name', 'run_name']);
    expect(answer(created, '200').required).toEqual(expect.arrayContaining(['uuid', 'status', 'pinned_stats']));
    expect(answer(doc.paths['/api/parea/v1/experiment/{experimentUuid}/finished'].post, '200').required.sort()).toEqual([
      'dataset_level_stats',
      'parent_trace_stats',
    ]);
    expect(answer(doc.paths['/api/parea/v1/experiment/{experimentUuid}/stats'].get, '200').required.sort()).toEqual([
      'dataset_level_stats',
      'parent_trace_stats',
    ]);
    const listed = doc.paths['/api/parea/v1/experiments'].post;
    expect(answer(listed, '200').type).toBe('array');
    expect(
      listed.parameters
        .filter((p: Json) => p.in === 'query')
        .map((p: Json) => p.name)
        .sort(),
    ).toEqual(['cursor', 'limit']);
    expect(body(doc.paths['/api/parea/v1/feedback'].post).required).toEqual(['score']);
    const logs = doc.paths['/api/parea/v1/get_trace_logs'].post;
    expect(Object.keys(body(logs).properties)).toEqual(
      expect.arrayContaining(['project_name', 'filter_field', 'page', 'page_size', 'time_range', 'status', 'sort_by', 'sort_order']),
    );
    expect(answer(logs, '200').required.sort()).toEqual(['page', 'page_size', 'results', 'total', 'total_exact', 'total_pages']);
    expect(body(doc.paths['/api/parea/v1/trace_log/langchain'].post).required).toEqual(['id']);
    const results = doc.paths[`${P}/trace-evaluations/{evaluationId}/results`];
    expect(answer(results.get, '200').required).toEqual(
      expect.arrayContaining(['score', 'passed', 'reasoning', 'created_at', 'model', 'latency_ms', 'prompt_tokens']),
    );
    expect(body(results.post).required).toEqual(['passed']);
    expect(results.post.responses['201']).toBeDefined();
    // The catalogue: documented as not served (no success answer), each its own operation.
    const judges = doc.paths[`${P}/judges`];
    expect(judges.get.summary).toMatch(/not_implemented/);
    expect(Object.keys(judges.get.responses).filter((s) => s.startsWith('2'))).toEqual([]);
    expect([judges.get.operationId, judges.post.operationId]).toEqual(['listJudges', 'createJudge']);
  });
});
