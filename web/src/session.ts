/**
 * Who is signed in, for this browser tab only: sessionStorage, never localStorage, a URL, a
 * cookie or a log. Closing the tab forgets the key.
 */
export interface Session {
  apiKey: string;
  organizationId: string;
  organizationName: string;
  projectId: string;
  projectName: string;
}

const KEY = 'trace-ingest.session';

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Partial<Session>;
    return typeof s.apiKey === 'string' && typeof s.organizationId === 'string' && typeof s.projectId === 'string' ? (s as Session) : null;
  } catch {
    return null;
  }
}

export function saveSession(s: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(s));
}

export function clearSession(): void {
  sessionStorage.removeItem(KEY);
}
