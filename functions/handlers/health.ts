import { httpHandler, json } from '../shared/http.js';

/** GET /health (no key): the API answers. It reads no store, so it costs nothing and cannot leak anything. */
export const handler = httpHandler(async () => json(200, { status: 'ok' }));
