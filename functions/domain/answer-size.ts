/** Bytes a JSON text takes once escaped inside a Lambda's response object (each `"` and `\` twice). */
export function escapedBytes(json: string): number {
  let extra = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 34 || c === 92) extra++;
  }
  return Buffer.byteLength(json) + extra;
}
