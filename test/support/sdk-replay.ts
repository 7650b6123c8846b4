import { readFileSync } from 'node:fs';
import { expect } from 'vitest';

/**
 * Requests an SDK sent to a local stack, recorded outside the repository (test/fixtures/<sdk>/,
 * each with a README saying how), and their replay byte for byte against a test stack.
 */
export interface Recorded {
  method: string;
  /** The API path (and query) the SDK called, or, for a request that is not to the API, */
  path?: string;
  /** its whole URL (a presigned S3 URL, say), learned from an earlier answer on replay. */
  url?: string;
  headers: Record<string, string>;
  body: string;
  /** What the recording's server answered (200 when not recorded). */
  status?: number;
  /** Set on a request the recording script sent, not the SDK (a judge's verdict, say). */
  by?: string;
}

export interface ReplayAnswer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

/** A fixture file: its first line a `{"recorded": {...}}` header, then one recorded request a line. */
export function sdkFixture<H>(dir: string, name: string): { header: H; requests: Recorded[] } {
  const lines = readFileSync(new URL(`../fixtures/${dir}/${name}`, import.meta.url), 'utf8')
    .split('\n')
    .filter(Boolean);
  return { header: JSON.parse(lines[0]!) as H, requests: lines.slice(1).map((l) => JSON.parse(l) as Recorded) };
}

export interface Target {
  apiUrl: string;
  apiKey: string;
}

/** Sends one request with these headers and the target's key (none to a whole `url`: it is presigned). */
export async function sendRaw(
  target: Target,
  method: string,
  pathOrUrl: string,
  body: string | undefined,
  headers: Record<string, string>,
): Promise<ReplayAnswer> {
  const absolute = /^https?:\/\//.test(pathOrUrl);
  const res = await fetch(absolute ? pathOrUrl : `${target.apiUrl}${pathOrUrl}`, {
    method,
    headers: absolute ? headers : { ...headers, 'x-api-key': target.apiKey },
    ...(body !== undefined && method !== 'GET' ? { body } : {}),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  const text = bytes.toString('utf8');
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

const substitute = (s: string, map: Map<string, string>) => {
  for (const [from, to] of map) s = s.split(from).join(to);
  return s;
};

/**
 * Replays recorded requests in order, each answered with the status it was recorded with.
 * `map` holds recorded → answered ids (and URLs), substituted in paths, URLs and bodies; `learn`
 * sees each answer and may add to it (the ids this server answered where the recording's answered
 * others), as the SDK would have read them.
 */
export async function replay(
  target: Target,
  requests: Recorded[],
  map: Map<string, string>,
  learn?: (request: Recorded, answer: ReplayAnswer, index: number) => void,
): Promise<ReplayAnswer[]> {
  const answers: ReplayAnswer[] = [];
  for (const [i, r] of requests.entries()) {
    // A whole URL learned from an answer is mapped whole (its ids would be substituted first otherwise).
    const where = r.url !== undefined && map.has(r.url) ? map.get(r.url)! : substitute(r.url ?? r.path!, map);
    // fetch decompresses on its own: the recorded Accept-Encoding is sent as recorded all the same.
    const res = await sendRaw(target, r.method, where, r.method === 'GET' ? undefined : substitute(r.body, map), r.headers);
    expect(res.status, `${r.method} ${r.path ?? r.url}: ${res.text}`).toBe(r.status ?? 200);
    answers.push(res);
    learn?.(r, res, i);
  }
  return answers;
}
