// The MIST HTTP API as the page uses it: JSON in and out, the bearer token on
// every request to `/api/v1/`, and the server's `{error: {code, message}}`
// turned into an `ApiError`.
//
// The token lives in `sessionStorage` (one tab, gone when it closes). It is
// sent only to the server that served this page (`isApiUrl`), never to
// storage URLs: segments and playlists need none, and S3 refuses presigned
// requests that also carry an Authorization header.

const TOKEN_KEY = 'mist.token';
const USER_KEY = 'mist.user';

export class ApiError extends Error {
  constructor(status, code, message, resetsAt, existingTrackId) {
    super(message);
    this.status = status;
    this.code = code;
    this.resetsAt = resetsAt ? new Date(resetsAt) : null;
    /** With `duplicate`: the caller's track made from the same bytes. */
    this.existingTrackId = existingTrackId ?? null;
  }
}

/** Builds an ApiError from a response the server refused. */
export async function errorFrom(response) {
  let detail = null;
  try {
    detail = (await response.json()).error;
  } catch {
    // Not the server's JSON (a proxy's page, a network error): keep the status.
  }
  return new ApiError(
    response.status,
    detail?.code ?? 'http_' + response.status,
    detail?.message ?? `the server answered ${response.status} ${response.statusText}`,
    detail?.resets_at,
    detail?.existing_track_id,
  );
}

/**
 * Whether `url` is one of the API's own routes on this page's server (or on
 * `publicOrigin`, the origin the server writes into key URIs). Only these get
 * the bearer token.
 */
export function isApiUrl(url, publicOrigin) {
  let parsed;
  try {
    parsed = new URL(url, location.href);
  } catch {
    return false;
  }
  const ours = parsed.origin === location.origin || (publicOrigin && parsed.origin === publicOrigin);
  return Boolean(ours) && parsed.pathname.startsWith('/api/v1/');
}

export class Api {
  constructor() {
    this.token = sessionStorage.getItem(TOKEN_KEY);
    const user = sessionStorage.getItem(USER_KEY);
    this.user = user ? JSON.parse(user) : null;
    /** Called when the server says the token is missing, invalid or expired. */
    this.onUnauthorized = () => {};
  }

  get loggedIn() {
    return Boolean(this.token);
  }

  remember(auth) {
    this.token = auth.token;
    this.user = auth.user;
    sessionStorage.setItem(TOKEN_KEY, auth.token);
    sessionStorage.setItem(USER_KEY, JSON.stringify(auth.user));
  }

  forget() {
    this.token = null;
    this.user = null;
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
  }

  authHeader() {
    return this.token ? { Authorization: 'Bearer ' + this.token } : {};
  }

  /** `method path` with an optional JSON body; resolves to the parsed answer (or null for 204). */
  async request(method, path, body, { keepalive = false } = {}) {
    const headers = { Accept: 'application/json', ...this.authHeader() };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      keepalive,
    });
    if (!response.ok) {
      const error = await errorFrom(response);
      if (response.status === 401 && this.token) this.onUnauthorized(error);
      throw error;
    }
    return response.status === 204 ? null : response.json();
  }

  get(path) {
    return this.request('GET', path);
  }

  post(path, body = {}) {
    return this.request('POST', path, body);
  }

  async login(email, password) {
    this.remember(await this.request('POST', '/api/v1/auth/login', { email, password }));
  }

  /** `invite`: the code of an invite-only server; empty when there is none. */
  async register(email, username, password, invite) {
    const body = { email, username, password };
    if (invite) body.invite = invite;
    this.remember(await this.request('POST', '/api/v1/auth/register', body));
  }

  searchTracks({ q, genre, cursor }) {
    const params = new URLSearchParams();
    if (q) params.set('q', q);
    if (genre) params.set('genre', genre);
    if (cursor) params.set('cursor', cursor);
    params.set('limit', '30');
    return this.get('/api/v1/tracks?' + params);
  }

  /**
   * Sends `file` to the ticket's URL with progress: XMLHttpRequest, because
   * fetch reports no upload progress. The bearer token goes only to the
   * server's own upload route, never to a presigned bucket URL.
   */
  putUpload(ticket, file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(ticket.method || 'PUT', ticket.url);
      for (const [name, value] of Object.entries(ticket.headers || {})) {
        // The browser sets Content-Length itself and refuses to be told.
        if (name.toLowerCase() !== 'content-length') xhr.setRequestHeader(name, value);
      }
      if (isApiUrl(ticket.url) && this.token) xhr.setRequestHeader('Authorization', 'Bearer ' + this.token);
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve();
        } else {
          errorFrom(new Response(xhr.responseText, { status: xhr.status, statusText: xhr.statusText })).then(reject);
        }
      };
      xhr.onerror = () => reject(new ApiError(0, 'network', 'the upload failed: network error'));
      xhr.send(file);
    });
  }
}
