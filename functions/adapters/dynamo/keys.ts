import { objectKeyHash } from '../../domain/ids.js';

export const HOUR_COUNTER_PREFIX = 'COUNTER#H#';

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
  /** The traces created in one UTC hour (`YYYY-MM-DDTHH`): time-range totals sum these. */
  hourCounter: (org: string, project: string, createdAt: string) => ({ pk: `P#${org}#${project}`, sk: `${HOUR_COUNTER_PREFIX}${createdAt.slice(0, 13)}` }),
  organization: (org: string) => ({ pk: `ORG#${org}`, sk: 'ORG' }),
  project: (org: string, project: string) => ({ pk: `ORG#${org}`, sk: `PROJECT#${project}` }),
  organizationName: (name: string) => ({ pk: `ORGNAME#${name}`, sk: 'ORGNAME' }),
  apiKey: (hash: string) => ({ pk: `KEY#${hash}`, sk: 'KEY' }),
};

/** The list index's sort key: newest-first paging, ties in file order. */
export function createdSortKey(createdAt: string, uploadId: string, position: number): string {
  return `${createdAt}#${uploadId}#${String(position).padStart(10, '0')}`;
}

/** The per-source list index's partition. */
export function sourcePartition(org: string, project: string, source: string): string {
  return `P#${org}#${project}#S#${source}`;
}

/** How much of a filename the filename index sorts by (sort keys are capped at 1,024 bytes). */
const FILENAME_SORT_BYTES = 512;

/** The filename index's sort key: by filename (its first 512 bytes), then as the created index. */
export function filenameSortKey(filename: string, createdAt: string, uploadId: string, position: number): string {
  return `${utf8Prefix(filename, FILENAME_SORT_BYTES)}#${createdSortKey(createdAt, uploadId, position)}`;
}

/** The longest prefix of `s` of at most `maxBytes` UTF-8 bytes that does not split a character. */
export function utf8Prefix(s: string, maxBytes: number): string {
  if (s.length * 3 <= maxBytes || Buffer.byteLength(s) <= maxBytes) return s;
  let bytes = 0;
  let i = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > maxBytes) break;
    bytes += n;
    i += ch.length;
  }
  return s.slice(0, i);
}
