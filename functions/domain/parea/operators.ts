/** The experiment filter's operators (./filter.ts), on their own so the web viewer's bundle can list them without zod. */
export const FILTER_OPERATORS = [
  'equals',
  'not_equals',
  'like',
  'greater_than_or_equal',
  'less_than_or_equal',
  'greater_than',
  'less_than',
  'is_null',
  'exists',
  'in',
  'between',
] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];
