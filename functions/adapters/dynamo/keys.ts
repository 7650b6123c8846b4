import { objectKeyHash } from '../../domain/ids.js';

/** Key builders: every item of a tenant is keyed by its organization and project. */
export const keys = {
  trace: (org: string, project: string, id: string) => ({ pk: `T#${org}#${project}#${id}`, sk: 'T' }),
  projectPartition: (org: string, project: string) => `P#${org}#${project}`,
  object: (org: string, project: string, objectKey: string) => ({ pk: `P#${org}#${project}`, sk: `OBJ#${objectKeyHash(objectKey)}` }),
  upload: (org: string, project: string, uploadId: string) => ({ pk: `P#${org}#${project}`, sk: `UPLOAD#${uploadId}` }),
  uploadIds: (org: string, project: string, uploadId: string, index: number) => ({
    pk: `P#${org}#${project}`,
    sk: `UPLOAD#${uploadId}#IDS#${String(index).padStart(6, '0')}`,
  }),
  uploadCounted: (org: string, project: string, uploadId: string, group: number) => ({
    pk: `P#${org}#${project}`,
    sk: `UPLOAD#${uploadId}#COUNTED#${group}`,
  }),
  counter: (org: string, project: string) => ({ pk: `P#${org}#${project}`, sk: 'COUNTER' }),
  organization: (org: string) => ({ pk: `ORG#${org}`, sk: 'ORG' }),
  project: (org: string, project: string) => ({ pk: `ORG#${org}`, sk: `PROJECT#${project}` }),
  organizationName: (name: string) => ({ pk: `ORGNAME#${name}`, sk: 'ORGNAME' }),
  apiKey: (hash: string) => ({ pk: `KEY#${hash}`, sk: 'KEY' }),
};

/** The list index's sort key: newest-first paging, ties in file order. */
export function createdSortKey(createdAt: string, uploadId: string, position: number): string {
  return `${createdAt}#${uploadId}#${String(position).padStart(10, '0')}`;
}
