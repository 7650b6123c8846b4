import type * as z from 'zod';

/** Readable zod issues, each naming where it is (`root` for the value itself): `page_size: must be at most 500`. */
export function describeIssues(error: z.ZodError, root = 'request'): string {
  return error.issues.map((i) => `${i.path.length ? i.path.map(String).join('.') : root}: ${i.message}`).join('; ');
}
