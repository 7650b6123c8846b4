/**
 * The single table's key schema and indexes. The CDK stack, the local stack's bootstrap and the
 * migration all create the table (or its missing indexes) from this, so they agree.
 *
 * Item layout (the README's "Data model" table says the same):
 *   trace          pk T#<org>#<project>#<traceId>   sk T
 *                  gsi4pk TC#<org>#<project>#<shard>            ok <order key>   (every trace)
 *                  gsi5pk TS#<org>#<project>#<shard>#<source>   ok <order key>   (by source)
 *                  doc_z (the document, deflated, up to 512 bytes: copied into gsi4) | doc_zb (bigger: in no index)
 *                  | payload_key (+ search_z); filename, source, upload_id, ...
 *   trace member   pk TM#<org>#<project>#<traceId>  sk ST | J#<judgeId>          (once evaluated)
 *                  gsi2pk TE#…#<status>#<shard> | TJ#…#<shard>#<judge>;  gsi3pk TES#… | TJS#… (with the source)
 *   evaluation     pk EV#<org>#<project>#<evaluationId>   sk EV
 *                  gsi1pk P#<org>#<project>#EVALS | gsi2pk …#EVALS#T#<traceId> | gsi3pk …#EVALS#J#<judgeId>
 *   span           pk SPAN#<org>#<project>#<trace_id>   sk S
 *                  gsi4pk SX#<org>#<project>#<shard>#<experiment>   ok <root>#<trace_id>   (with an experiment)
 *                  gsi5pk SR#<org>#<project>#<shard>#<root>          ok (as gsi4)
 *   log root       pk LR#<org>#<project>#<root_trace_id>   sk R   (a tree's root span: get_trace_logs)
 *                  gsi1pk LRA#<org>#<project>#<shard> | gsi2pk LRS#…#<shard>#<status>   sk <start instant>#<root>
 *   root counters  pk LRN#<org>#<project>#<shard>   sk ALL | H#<hour>   (n, s:<status>; ADD only)
 *   experiment     pk XP#<org>#<project>#<uuid>   sk XP   (gsi1pk XL#<org>#<project> | gsi2pk XN#…#<name>, sk <created_at>#<uuid>)
 *                  pk XP#…#<uuid> sk STATS#<n> (its pinned per-tree stats, in chunks); pk XR#…#<name>#<run_name> sk XR (run name taken)
 *   eval counters  pk EVN#<org>#<project>#<shard>   sk N   (evaluations by outcome and judge; ADD only)
 *   project state  pk P#<org>#<project>  sk OBJ#<sha256(key)> | UPLOAD#<uploadId> | UFN#<uploadId> (gsi1: UF#…, by filename)
 *                  | COUNTER | COUNTER#H#<hour> | COUNTER#EV#<shard>
 *   upload ids     pk U#<org>#<project>#<uploadId>#<n>   sk IDS
 *   job            pk JOB#<org>#<project>#<jobId>   sk JOB | PART#<n> (an export's parts)   (no index)
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
  /** ALL, or the non-key attributes it holds (INCLUDE). */
  readonly projection: 'ALL' | readonly string[];
}

/** What a trace list page is answered from, straight from gsi4: the trace's view (and a span's doc, for experiment reads). */
export const LIST_VIEW_ATTRIBUTES = [
  'filename',
  'source',
  'upload_id',
  'integration_id',
  'input',
  'doc_z',
  'search_z',
  'payload_key',
  'evaluations_count',
  'last_evaluations',
  'eval_status',
  'doc',
  'root_trace_id',
] as const;

export const INDEXES: readonly IndexDef[] = [
  /** Evaluations of a project, newest first; completed uploads by filename (small items: ALL). */
  { name: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk', projection: 'ALL' },
  /** Evaluations of a trace; traces by evaluation status and by judge (member items). */
  { name: 'gsi2', partitionKey: 'gsi2pk', sortKey: 'gsi2sk', projection: 'ALL' },
  /** Evaluations by judge; traces by status and by judge, of one source (member items). */
  { name: 'gsi3', partitionKey: 'gsi3pk', sortKey: 'gsi3sk', projection: 'ALL' },
  /** Every trace of a project by creation, sharded; an experiment's spans. Holds what a list page shows. */
  { name: 'gsi4', partitionKey: 'gsi4pk', sortKey: 'ok', projection: LIST_VIEW_ATTRIBUTES },
  /** A project's traces of one source, sharded (keys and status only: pages read the items); a tree's spans. */
  { name: 'gsi5', partitionKey: 'gsi5pk', sortKey: 'ok', projection: ['eval_status', 'doc'] },
];
