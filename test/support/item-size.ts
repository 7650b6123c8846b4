/**
 * DynamoDB's item-size rules, on items in DynamoDB JSON (the wire form: `{"S": "..."}`), as
 * the developer guide states them ("Item sizes and formats"; "Capacity unit consumption"):
 * an item is the sum of its attribute names (UTF-8 bytes) and values; a global secondary
 * index entry is its index keys, the table's keys and its projected attributes, plus 100 bytes.
 * A write unit covers 1 KB, a read unit 4 KB (half a unit when eventually consistent);
 * transactional requests cost twice.
 */
export type WireValue = Record<string, unknown>;
export type WireItem = Record<string, WireValue>;

export interface IndexShape {
  name: string;
  partitionKey: string;
  sortKey?: string | undefined;
  /** 'ALL', 'KEYS_ONLY', or the non-key attributes an INCLUDE projection holds. */
  projection: 'ALL' | 'KEYS_ONLY' | readonly string[];
}

export interface TableShape {
  partitionKey: string;
  sortKey?: string | undefined;
  indexes: readonly IndexShape[];
}

/** Bytes of one attribute value. */
export function valueSize(v: WireValue): number {
  if ('S' in v) return Buffer.byteLength(String(v.S));
  if ('N' in v) return numberSize(String(v.N));
  if ('B' in v) return Buffer.from(String(v.B), 'base64').length;
  if ('BOOL' in v || 'NULL' in v) return 1;
  if ('SS' in v) return (v.SS as string[]).reduce((n, s) => n + Buffer.byteLength(s), 0);
  if ('NS' in v) return (v.NS as string[]).reduce((n, s) => n + numberSize(s), 0);
  if ('BS' in v) return (v.BS as string[]).reduce((n, s) => n + Buffer.from(s, 'base64').length, 0);
  if ('L' in v) return 3 + (v.L as WireValue[]).reduce((n, e) => n + valueSize(e) + 1, 0);
  if ('M' in v) return 3 + Object.entries(v.M as WireItem).reduce((n, [k, e]) => n + Buffer.byteLength(k) + valueSize(e) + 1, 0);
  return 0;
}

/** "About one byte per two significant digits, plus one byte." */
function numberSize(n: string): number {
  const digits = n
    .replace(/^-/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

export function itemSize(item: WireItem): number {
  let n = 0;
  for (const [name, v] of Object.entries(item)) n += Buffer.byteLength(name) + valueSize(v);
  return n;
}

/** The attributes of `item` that `index` holds, or null when the item is not in the index (a key attribute is missing). */
export function indexEntry(table: TableShape, index: IndexShape, item: WireItem): WireItem | null {
  const pk = item[index.partitionKey];
  if (!pk || !('S' in pk || 'N' in pk || 'B' in pk)) return null;
  if (index.sortKey !== undefined && !item[index.sortKey]) return null;
  if (index.projection === 'ALL') return item;
  const keep = new Set([table.partitionKey, index.partitionKey]);
  if (table.sortKey) keep.add(table.sortKey);
  if (index.sortKey) keep.add(index.sortKey);
  if (index.projection !== 'KEYS_ONLY') for (const a of index.projection) keep.add(a);
  const entry: WireItem = {};
  for (const a of keep) if (item[a] !== undefined) entry[a] = item[a]!;
  return entry;
}

/** Bytes an index entry counts for: its attributes plus DynamoDB's 100 bytes of index overhead. */
export function indexEntrySize(entry: WireItem): number {
  return itemSize(entry) + 100;
}

export const writeUnits = (bytes: number): number => Math.max(1, Math.ceil(bytes / 1024));
export const readUnits = (bytes: number, consistent: boolean): number => Math.max(1, Math.ceil(bytes / 4096)) * (consistent ? 1 : 0.5);

/** The partition key value of an item or entry, as a string. */
export function keyValue(v: WireValue | undefined): string | null {
  if (!v) return null;
  if ('S' in v) return String(v.S);
  if ('N' in v) return String(v.N);
  if ('B' in v) return String(v.B);
  return null;
}

/** Equal as DynamoDB JSON (attribute order does not matter). */
export function sameValue(a: WireValue | undefined, b: WireValue | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
