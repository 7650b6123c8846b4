/**
 * A JSON Lines answer with its line count and, when more follow, the next page's cursor (the direct
 * exports: functions/handlers/exportTraces.ts, exportSpans.ts). Apart from either handler, so the
 * spans' export does not load what the traces' search needs.
 */
export function ndjson(page: { body: string; lines: number; nextCursor: string | null }) {
  return {
    statusCode: 200,
    headers: {
      'content-type': 'application/x-ndjson; charset=utf-8',
      'x-export-lines': String(page.lines),
      'access-control-expose-headers': 'x-next-cursor, x-export-lines',
      ...(page.nextCursor ? { 'x-next-cursor': page.nextCursor } : {}),
    },
    body: page.body,
  };
}
