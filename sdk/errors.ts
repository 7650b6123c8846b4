/** Every failure of the SDK: an HTTP error answer, a network failure, a malformed answer or bad input. */
export class TraceIngestError extends Error {
  override name = 'TraceIngestError';
  /** The HTTP status; 0 when no answer came (network) or the call was refused before sending. */
  readonly status: number;
  /** The server's `error.code`, or one of `network_error`, `invalid_response`, `invalid_request`, `not_configured`, `http_<status>`. */
  readonly code: string;
  /** The parsed answer body, when there was one. */
  readonly body: unknown;

  constructor(status: number, code: string, message: string, body?: unknown, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** `{"error": {"code", "message"}}` → a TraceIngestError (falls back to the status line when the body is not that shape). */
export function errorFromAnswer(status: number, statusText: string, text: string): TraceIngestError {
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  const err = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const code = typeof err?.code === 'string' ? err.code : `http_${status}`;
  const message =
    typeof err?.message === 'string'
      ? err.message
      : `${status} ${statusText}`.trim() + (typeof body === 'string' && body ? `: ${body.slice(0, 200)}` : '');
  return new TraceIngestError(status, code, message, body);
}
