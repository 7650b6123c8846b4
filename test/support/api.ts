import type { LocalStack } from '../../local/stack.js';

export interface ApiAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** The answer parsed, when it is `application/json`. */
  body: any;
}

/** One call to the stack's API with its key (or `key`), `body` sent as JSON if given. */
export async function callApi(
  stack: Pick<LocalStack, 'info'>,
  method: string,
  path: string,
  body?: unknown,
  key = stack.info.apiKey,
): Promise<ApiAnswer> {
  const res = await fetch(`${stack.info.apiUrl}${path}`, {
    method,
    headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  const json = text !== '' && /^application\/json\b/.test(res.headers.get('content-type') ?? '');
  return { status: res.status, headers: res.headers, text, body: json ? JSON.parse(text) : undefined };
}
