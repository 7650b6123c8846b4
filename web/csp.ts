/**
 * The viewer's content security policy, the same locally (local/api-server.ts) and on CloudFront
 * (lib/constructs/viewer.ts): its own scripts and styles only, no inline code, no frames, and
 * requests only to its own origin and `connect` (the API and the presigned S3 uploads).
 */
export function viewerCsp(connect: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self'${connect ? ` ${connect}` : ''}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
