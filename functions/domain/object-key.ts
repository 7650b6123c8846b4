import { DROP_PREFIX, UPLOADS_PREFIX } from './layout.js';
import type { DefaultSource } from './trace.js';

/**
 * Where an object key says a trace file belongs.
 *   uploads/<organizationId>/<projectId>/<filename>            (presigned uploads)
 *   drop/<organizationId>/<projectId>/[<any path>/]<filename>  (the drop folder)
 */
export type ObjectLocation =
  | { kind: 'trace-file'; organizationId: string; projectId: string; filename: string; defaultSource: DefaultSource }
  | { kind: 'ignored'; reason: string };

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function locateObject(key: string): ObjectLocation {
  const parts = key.split('/');
  const [top, organizationId = '', projectId = ''] = parts;
  if (`${top}/` !== UPLOADS_PREFIX && `${top}/` !== DROP_PREFIX)
    return { kind: 'ignored', reason: `key ${JSON.stringify(key)} is outside uploads/ and drop/` };
  const filename = parts[parts.length - 1] ?? '';
  const minParts = 4;
  if (parts.length < minParts || filename === '') {
    return {
      kind: 'ignored',
      reason: `key ${JSON.stringify(key)} is not ${top}/<organizationId>/<projectId>/${top === 'drop' ? '[path/]' : ''}<file>`,
    };
  }
  if (`${top}/` === UPLOADS_PREFIX && parts.length !== minParts) {
    return { kind: 'ignored', reason: `key ${JSON.stringify(key)} is not uploads/<organizationId>/<projectId>/<file>` };
  }
  if (!ID.test(organizationId) || !ID.test(projectId)) {
    return { kind: 'ignored', reason: `key ${JSON.stringify(key)} does not name a valid organization and project` };
  }
  return { kind: 'trace-file', organizationId, projectId, filename, defaultSource: `${top}/` === UPLOADS_PREFIX ? 'upload' : 's3' };
}

/** S3 notifications carry keys URL-encoded, spaces as '+'. */
export function decodeEventKey(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    throw new Error(`object key ${JSON.stringify(key)} is not valid URL encoding`);
  }
}

/** Encodes a key the way S3 does in its notifications (the local stack's bridge uses this). */
export function encodeEventKey(key: string): string {
  return key
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/%20/g, '+'))
    .join('/');
}
