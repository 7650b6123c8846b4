/** The bucket's key layout, shared by the code and the infrastructure (grants, lifecycle, notifications). */
export const UPLOADS_PREFIX = 'uploads/';
export const DROP_PREFIX = 'drop/';
/** Documents too large for a DynamoDB item. */
export const PAYLOADS_PREFIX = 'payloads/';
/** Objects created under these prefixes are ingested. */
export const INGEST_PREFIXES = [UPLOADS_PREFIX, DROP_PREFIX] as const;
/** Export jobs' JSON Lines files (and the carry objects between their steps); expire JOB_KEEP_DAYS after they are written. */
export const EXPORTS_PREFIX = 'exports/';
/** The full-text index's segments (LanceDB), when it lives in the bucket (AWS). */
export const SEARCH_PREFIX = 'search/';
