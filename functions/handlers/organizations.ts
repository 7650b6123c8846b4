import { HttpError, httpHandler, json, tenantOf } from '../shared/http.js';
import { tenantStore } from '../shared/services.js';

/**
 * GET /api/v1/organizations: the caller's organization with the key's
 * project, in the shape the Stratix client needs to construct itself.
 */
export const handler = httpHandler(async (event) => {
  const tenant = tenantOf(event);
  const store = tenantStore();
  const [org, project] = await Promise.all([
    store.getOrganization(tenant.organizationId),
    store.getProject(tenant.organizationId, tenant.projectId),
  ]);
  if (!org || !project) throw new HttpError(404, 'not_found', 'the organization of this API key no longer exists');
  return json(200, {
    data: { id: org.id, name: org.name, owner_id: null, projects: [{ id: project.id, name: project.name }] },
  });
});
