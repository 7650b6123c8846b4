/** What a view gets, and how it moves to another. */
export interface ViewContext {
  main: HTMLElement;
  params: URLSearchParams;
  /** False once the user has moved on to another route: a late answer must not render. */
  current: () => boolean;
  setTitle: (title: string) => void;
}

/** Goes to a route (a hash like `#/traces?search=x`); the same one again renders it anew. */
export function go(hash: string): void {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

/** A route's hash with its parameters (empty ones left out). */
export function hashFor(path: string, params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return `#${path}${s ? `?${s}` : ''}`;
}
