/**
 * The domain's one way to refuse: a {@link DomainError} with the kind of refusal. The use cases throw
 * it (or a subclass naming their capability); the HTTP edge maps each kind to its status and code in
 * one table (functions/shared/http.ts), so no handler catches them. Absence is not a refusal: a read
 * of something that is not there answers null (or a `not-found` outcome) and the handler says 404.
 */
export type DomainErrorKind =
  /** The body is not what the route takes (400 `invalid_body`). */
  | 'invalid_body'
  /** A query parameter is out of range (400 `invalid_query`). */
  | 'invalid_query'
  /** A Parea filter that cannot be applied (400 `invalid_filter`). */
  | 'invalid_filter'
  /** A cursor this API did not issue, or issued for another query (400 `invalid_cursor`). */
  | 'invalid_cursor'
  /** An experiment run name the project already has (400 `run_name_taken`). */
  | 'run_name_taken'
  /** What the request names does not exist in the caller's project (404 `not_found`). */
  | 'not_found'
  /** The thing is no longer in a state that takes this request (409 `conflict`). */
  | 'conflict'
  /** What was sent is too large to keep (413 `payload_too_large`). */
  | 'payload_too_large'
  /** What was asked for is more than one answer carries (413 `too_large`). */
  | 'answer_too_large'
  /** An item is larger than an export page holds (413 `export_too_large`). */
  | 'export_too_large'
  /** A body in a type or encoding the route does not read (415 `unsupported_media_type`). */
  | 'unsupported_media_type'
  /** Contention that outlasted the retries: try again in a moment (429 `too_many_requests`). */
  | 'busy';

export class DomainError<K extends DomainErrorKind = DomainErrorKind> extends Error {
  constructor(
    readonly kind: K,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A refusal of the domain's (of any capability's subclass), with its kind. */
export function isDomainError(err: unknown): err is DomainError {
  return err instanceof DomainError;
}
