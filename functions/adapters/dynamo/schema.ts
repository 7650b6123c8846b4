/**
 * The single table's key schema and indexes. The CDK stack and the local
 * stack's bootstrap both create the table from this, so they agree.
 *
 * Item layout (see docs in README "Data model"):
 *   trace          pk T#<org>#<project>#<traceId>   sk T
 *                  gsi1pk P#<org>#<project>              gsi1sk <created_at>#<uploadId>#<position>
 *                  gsi2pk P#<org>#<project>#S#<source>   gsi2sk (as gsi1sk)
 *                  gsi3pk P#<org>#<project>              gsi3sk <filename>#<created_at>#<uploadId>#<position>
 *   evaluation     pk EV#<org>#<project>#<evaluationId>   sk EV
 *                  gsi1pk P#<org>#<project>#EVALS | gsi2pk …#EVALS#T#<traceId> | gsi3pk …#EVALS#J#<judgeId>
 *                  sort keys <created_at>#<evaluationId>
 *   project state  pk P#<org>#<project>  sk OBJ#<sha256(key)> | UPLOAD#<uploadId> | UPLOAD#<uploadId>#IDS#<n> | COUNTER
 *   tenancy        pk ORG#<org> sk ORG | PROJECT#<project> | PROJECTNAME#<name> | APIKEY#<sha256>;  pk ORGNAME#<name> sk ORGNAME;
 *                  pk KEY#<sha256> sk KEY;  pk KEYID#<keyId> sk KEYID;  pk ORGS sk ORG#<org>
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
  /** A project's traces by creation time: the default list order, time ranges, and the filters. */
  { name: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
  /** A project's traces of one source, by creation time: `source` (+ `time_range`) as key conditions. */
  { name: 'gsi2', partitionKey: 'gsi2pk', sortKey: 'gsi2sk' },
  /** A project's traces by filename, then creation time: `sort_by=filename`. */
  { name: 'gsi3', partitionKey: 'gsi3pk', sortKey: 'gsi3sk' },
];
