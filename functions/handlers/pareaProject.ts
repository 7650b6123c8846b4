import { newId } from '../domain/ids.js';
import { httpHandler, json, parseJsonBody, tenantOf } from '../shared/http.js';
import { PareaProjectBody } from '../shared/requests.js';
import { tenantStore } from '../shared/services.js';

/**
 * POST /api/parea/v1/project `{name}`: gets or creates a project of that name in the key's
 * organization. `was_created` is true only for the call that made it (race-safe: the create is
 * conditional on the name). Logs still land in the key's own project.
 */
export const handler = httpHandler(async (event) => {
  const tenant = tenantOf(event);
  const { name } = parseJsonBody(PareaProjectBody, event);
  const id = newId();
  const project = await tenantStore().ensureProject(tenant.organizationId, name, id);
  return json(200, { name: project.name, uuid: project.id, created_at: project.createdAt, was_created: project.id === id });
});
