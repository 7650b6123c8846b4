/**
 * AWS prices the bench turns capacity into dollars with: DynamoDB on-demand, us-east-1, as AWS
 * listed them (https://aws.amazon.com/dynamodb/pricing/on-demand/) from its price cut of
 * 2024-11-01. Not re-checked by this machine (it has no web access): when AWS changes them,
 * change them here, in one place.
 */
export const PRICES_AS_OF = '2024-11-01 (us-east-1, on-demand)';
/** Dollars per million write request units (one unit writes up to 1 KB; a transactional write takes two). */
export const DOLLARS_PER_MILLION_WRITE_UNITS = 0.625;
/** Dollars per million read request units (one unit reads up to 4 KB strongly consistent, or 8 KB eventually consistent). */
export const DOLLARS_PER_MILLION_READ_UNITS = 0.125;
/** Dollars per GB-month of table and index storage (Standard table class). */
export const DOLLARS_PER_GB_MONTH = 0.25;
