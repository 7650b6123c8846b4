/** 50 MiB: the largest trace file accepted, by the API and by the worker. */
export const MAX_FILE_BYTES = 50 * 1024 * 1024;

/** How many bad records an upload keeps in its report. */
export const MAX_REPORTED_ERRORS = 100;

/** DynamoDB BatchWriteItem takes at most 25 puts per call. */
export const BATCH_WRITE_SIZE = 25;

/** An upload's good trace ids are kept in chunks of this many (for the create API's answer and the filename order). */
export const ID_CHUNK_SIZE = 5000;
