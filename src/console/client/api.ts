/** Calls to the console's JSON API. A console started with a token answers 401 until the page sends it. */
const TOKEN_KEY = 'mimelog-console-token';

export class TokenNeeded extends Error {}

export class ApiError extends Error {}

export function setToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

async function call<T>(method: 'GET' | 'POST', path: string, params: Record<string, string | number | undefined | null> = {}): Promise<T> {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') query.set(k, String(v));
  const headers: Record<string, string> = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.authorization = `Bearer ${token}`;
  if (method === 'POST') headers['content-type'] = 'application/json';
  const q = query.toString();
  const res = await fetch(`/api/${path}${q ? `?${q}` : ''}`, { method, headers, body: method === 'POST' ? '{}' : undefined });
  const body = (await res.json().catch(() => ({ error: `HTTP ${res.status}` }))) as T & { error?: string; token_required?: boolean };
  if (res.status === 401 && body.token_required) throw new TokenNeeded(body.error);
  if (!res.ok) throw new ApiError(body.error ?? `HTTP ${res.status}`);
  return body;
}

export const get = <T>(path: string, params?: Record<string, string | number | undefined | null>) => call<T>('GET', path, params);
export const post = <T>(path: string) => call<T>('POST', path);
