/**
 * The single table's key schema and indexes. The CDK stack and the local
 * stack's bootstrap both create the table from this, so they agree.
 *
 * Item layout (see docs in README "Data model"):
 *   trace          pk T#<org>#<project>#<traceId>   sk T
 *                  gsi1pk P#<org>#<project>  gsi1sk <created_at>#<traceId>
 *   project state  pk P#<org>#<project>  sk OBJ#<sha256(key)> | UPLOAD#<uploadId> | UPLOAD#<uploadId>#IDS#<n> | COUNTER
 *   tenancy        pk ORG#<org> sk ORG | PROJECT#<project>;  pk ORGNAME#<name> sk ORGNAME;  pk KEY#<sha256> sk KEY
 */
export const TABLE_PARTITION_KEY = 'pk';
export const TABLE_SORT_KEY = 'sk';
export const TTL_ATTRIBUTE = 'expires_at';

export interface IndexDef {
  readonly name: string;
  readonly partitionKey: string;
  readonly sortKey: string;
}

/** Every index has projection ALL (list pages are answered from the index alone). */
export const INDEXES: readonly IndexDef[] = [
  { name: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
];
