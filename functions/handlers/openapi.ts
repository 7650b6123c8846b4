import { openApiDocument } from '../shared/openapi.js';
import { httpHandler, rawJson } from '../shared/http.js';

/** Made once per container: the route table does not change while it runs. */
let body: string | undefined;

/** GET /api/v1/openapi.json (no key): the OpenAPI 3.1 document of every route, from the route table. */
export const handler = httpHandler(async () => {
  body ??= JSON.stringify(openApiDocument());
  return rawJson(200, body, { 'cache-control': 'public, max-age=300' });
});
